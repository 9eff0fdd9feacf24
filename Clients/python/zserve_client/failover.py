"""The retry policy all three clients follow, and the connection monitor it is decided from.

Policy (as the C client's): a client connects to every endpoint given; a request goes only to a server whose
connection completed its handshake (ZMQ_IMMEDIATE on Client's REQ socket; the monitor's report for the DEALER sockets
of dealers.py). When a connection that had completed its handshake is lost while
a read-only call (READ_ONLY: Predict and the reads) waits for its reply, the call is sent again at once to a server
still connected, up to `retries` times within the call's timeout. ModelControl calls that change state are never
resent. Once a call's resends are used up, another lost connection does not end it: it waits for its reply until the
timeout. A refused handshake is no lost connection (it never completed), so it burns no resend; it names the failure
(UNAUTHENTICATED) of a call that could not be sent anywhere before its timeout.
"""

import zmq
import zmq.utils.monitor

from . import calls
from .calls import Call
from .errors import ZServeError, ZServeTimeout

# Calls that only read, so sending one again after a lost connection is safe (predictions are idempotent).
READ_ONLY = frozenset({"Predict", "ModelMetadata", "ServerReady", "ModelReady", "ListModels", "ModelStatus"})
# How long a blocking wait sleeps before it reads the monitor again.
SLICE_MS = 50

_HANDSHAKE_FAILURES = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                       | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
# A failed handshake and its lost connection, completed handshakes, and every lost connection.
MONITORED_EVENTS = _HANDSHAKE_FAILURES | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
# libzmq does not reconnect after these (a key the server refused, a security mechanism it does not speak).
_FINAL_FAILURES = zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL


def may_resend(call: Call, resends: int, retries: int) -> bool:
    """Whether a call whose connection was lost is sent again: read-only, and fewer than `retries` resends so far."""
    return call.method in READ_ONLY and resends < retries


def open_monitor(socket: zmq.Socket) -> zmq.Socket:
    """A PAIR socket receiving `socket`'s MONITORED_EVENTS (of the socket's own kind: asyncio for an asyncio socket).

    Call before connecting `socket`, so no event is missed; stop it with `close_monitored(socket, monitor)`.
    """
    return socket.get_monitor_socket(MONITORED_EVENTS)


def close_monitored(socket: zmq.Socket, monitor: zmq.Socket) -> None:
    """Stops monitoring `socket`, closes the monitor, then the socket."""
    if not socket.closed:
        socket.disable_monitor()
    monitor.close()
    socket.close()


def pending_events(monitor: zmq.Socket) -> list[tuple[int, bytes]]:
    """The (event, peer address) pairs a blocking monitor socket holds, read without waiting."""
    events = []
    while monitor.poll(0):
        message = zmq.utils.monitor.recv_monitor_message(monitor)
        events.append((message["event"], message["endpoint"]))
    return events


def parse_event(frames: list[bytes]) -> tuple[int, bytes]:
    """(event, peer address) from a monitor message's frames."""
    message = zmq.utils.monitor.parse_monitor_message(frames)
    return message["event"], message["endpoint"]


class ConnectionEvents:
    """What one socket's monitor has told: which connections completed their handshake, and why handshakes failed.

    `record` each event in order. Plain bookkeeping, no I/O; not thread-safe (one per socket, used where the socket
    is).
    """

    def __init__(self, curve: bool):
        self._curve = curve
        self.established: set[bytes] = set()
        # Peer address -> why its latest handshake failed; dropped when a handshake with it succeeds.
        self._refusals: dict[bytes, str] = {}
        # Peer addresses whose latest handshake failed in a way libzmq does not retry.
        self._final: set[bytes] = set()

    def record(self, event: int, address: bytes) -> bool:
        """Takes one event; True when it is the loss of a connection that had completed its handshake."""
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.established.add(address)
            self._refusals.pop(address, None)
            self._final.discard(address)
        elif event == zmq.EVENT_DISCONNECTED:
            if address in self.established:
                self.established.discard(address)
                return True
        elif event & _HANDSHAKE_FAILURES:
            self._refusals[address] = self._reason(event)
            if event & _FINAL_FAILURES:
                self._final.add(address)
        return False

    @property
    def refusal(self) -> str | None:
        """Why a handshake failed, for a peer whose latest handshake failed; None when none did."""
        return next(iter(self._refusals.values()), None)

    @property
    def refused_for_good(self) -> bool:
        """Whether a peer refused the handshake in a way libzmq will not retry: only a new socket tries again."""
        return bool(self._final)

    def forget_connections(self) -> None:
        """Starts over for a new socket: no connection is established; the refusal reasons are kept until a
        handshake succeeds."""
        self.established.clear()
        self._final.clear()

    def _reason(self, event: int) -> str:
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            return "the server refused this client's key; its .pub must be in the server's allowed keys"
        if not self._curve:
            return "the endpoint requires CURVE: pass curve=CurveKeys.from_files(...)"
        return "the CURVE handshake failed: is the server's public key right?"


def failure(call: Call, endpoints: list[str], timeout_ms: int, resends: int, refusal: str | None) -> ZServeError:
    """The error of a call that got no reply within its timeout: UNAUTHENTICATED with `refusal` (pass it only for a
    call that could not be sent: no server completed a handshake), otherwise ZServeTimeout (DEADLINE_EXCEEDED)
    saying how often the call was resent after a lost connection."""
    if refusal:
        return ZServeError("UNAUTHENTICATED", refusal, call.request_id)
    resent = f" (resent {resends} times after a lost connection)" if resends else ""
    return ZServeTimeout(f"no reply to {calls.METHODS[call.method]} from {', '.join(endpoints)} "
                         f"within {timeout_ms} ms{resent}", call.request_id)


def endpoint_list(endpoint: str | list[str]) -> list[str]:
    """One endpoint or several as a list; ValueError for none."""
    endpoints = [endpoint] if isinstance(endpoint, str) else list(endpoint)
    if not endpoints:
        raise ValueError("a client needs an endpoint")
    return endpoints
