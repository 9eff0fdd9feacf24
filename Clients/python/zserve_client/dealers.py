"""One DEALER socket per endpoint and the calls in flight on them: the failover shared by PipelinedClient and
AsyncClient (failover.py has the policy).

With a socket per endpoint, the client knows which server each call went to, so a lost connection resends exactly
the calls that were on it, and it sends only to servers whose handshake the socket's monitor reported (see Channel). Every call keeps the tag it was first sent with, so whichever reply comes first (the one
to the resend or, after all, the original) is delivered and any later one is dropped. No I/O waits here: sends never
block (a call no server can take yet waits in `unsent`), and the clients read the sockets (blocking poll or asyncio)
and hand what they read to `take_reply` and `connection_event`. Not thread-safe: one thread or event loop per client.
"""

import asyncio
import collections
import dataclasses
import time

import zmq

from . import failover
from .calls import Call
from .curve import CurveKeys
from .errors import ZServeError
from .sockets import open_socket, tagged_request


class Channel:
    """One endpoint's DEALER socket with its monitor and what the monitor told.

    Calls go only to a channel whose monitor reported a completed handshake and no loss since (`connected`). The
    socket does not set ZMQ_IMMEDIATE, which would route the same way inside libzmq but drops the replies not yet
    read when a connection closes (a server that answers and exits would lose its last replies); without it they are
    still read, and a call queued while a connection was being made again goes out on the new one.
    """

    def __init__(self, context: zmq.Context, endpoint: str, curve: CurveKeys | None):
        self.endpoint = endpoint
        self.events = failover.ConnectionEvents(curve is not None)
        self._context, self._curve = context, curve
        self._open()

    def _open(self) -> None:
        self.socket = open_socket(self._context, zmq.DEALER, self._curve)
        self.monitor = failover.open_monitor(self.socket)
        self.socket.connect(self.endpoint)

    def reopen(self) -> None:
        """Replaces the socket and its monitor (a server that refused the handshake is only tried again by a new
        socket); replies still due on the old one are lost."""
        self.close()
        self.events.forget_connections()
        self._open()

    @property
    def connected(self) -> bool:
        """Whether the monitor reported a completed handshake and no loss since."""
        return bool(self.events.established)

    def close(self) -> None:
        failover.close_monitored(self.socket, self.monitor)


@dataclasses.dataclass(eq=False)
class InFlight:
    """One call the client waits on: its tag, the call, when it gives up (time.monotonic()), the channel it went out
    on (None while it waits to be sent), how often it was resent, and `owner`, the client's own (a future, ...)."""

    tag: bytes
    call: Call
    deadline: float
    owner: object = None
    channel: Channel | None = None
    resends: int = 0


class Dealers:
    """The channels to every endpoint and the calls in flight on them, by tag."""

    def __init__(self, context: zmq.Context, endpoints: list[str], curve: CurveKeys | None, retries: int):
        self.endpoints = endpoints
        self.retries = retries
        self.channels = [Channel(context, endpoint, curve) for endpoint in endpoints]
        self.in_flight: dict[bytes, InFlight] = {}
        # Calls no channel could take yet, oldest first (a resend goes first: it is older).
        self.unsent: collections.deque[InFlight] = collections.deque()
        self._next_channel = 0

    def close(self) -> None:
        """Closes every socket; the calls in flight are forgotten."""
        for channel in self.channels:
            channel.close()
        self.in_flight.clear()
        self.unsent.clear()

    def submit(self, entry: InFlight) -> None:
        """Sends a new call to the next channel that can take it, after any older call waiting in `unsent`, or keeps
        it there."""
        self.reopen_refused()
        self.in_flight[entry.tag] = entry
        self.flush()
        if self.unsent or not self._send(entry):
            self.unsent.append(entry)

    def flush(self) -> None:
        """Sends the calls waiting in `unsent` while a channel takes them."""
        while self.unsent:
            entry = self.unsent[0]
            if entry.tag in self.in_flight and not self._send(entry):
                return
            self.unsent.popleft()

    def take_reply(self, tag: bytes) -> InFlight | None:
        """The call a reply with `tag` answers, no longer in flight; None for a call already answered (the reply to
        the other send of a resent call), given up or unknown: drop that reply."""
        return self.in_flight.pop(tag, None)

    def forget(self, tag: bytes) -> None:
        """Gives up a call: a reply to it is dropped when it comes."""
        self.in_flight.pop(tag, None)

    def connection_event(self, channel: Channel, event: int, address: bytes) -> None:
        """Takes one event of a channel's monitor: a lost connection resends the read-only calls that were on it
        (within their resends and timeout) and leaves the others waiting; a completed handshake sends `unsent` calls."""
        if channel.events.record(event, address):
            self._resend_from(channel)
        elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.flush()

    def refusal(self) -> str | None:
        """Why a handshake failed, for the first endpoint whose latest handshake failed; None if none did."""
        return next((channel.events.refusal for channel in self.channels if channel.events.refusal), None)

    def failure(self, entry: InFlight, timeout_ms: int) -> ZServeError:
        """Gives up a call whose timeout passed and returns its error: UNAUTHENTICATED when it never got out (or its
        resend did not) and a handshake was refused, DEADLINE_EXCEEDED otherwise."""
        self.forget(entry.tag)
        refusal = self.refusal() if entry.channel is None else None
        return failover.failure(entry.call, self.endpoints, timeout_ms, entry.resends, refusal)

    def reopen_refused(self) -> list[Channel]:
        """Replaces the sockets whose server refused the handshake for good (libzmq does not try those again), so a
        new call tries again: the server may allow the key by now. Returns the channels reopened."""
        reopened = [channel for channel in self.channels
                    if channel.events.refused_for_good and not channel.events.established]
        for channel in reopened:
            channel.reopen()
        return reopened

    def _resend_from(self, channel: Channel) -> None:
        now = time.monotonic()
        waiting = []
        for entry in [entry for entry in self.in_flight.values() if entry.channel is channel]:
            if entry.deadline > now and failover.may_resend(entry.call, entry.resends, self.retries):
                entry.resends += 1
                entry.channel = None
                if not self._send(entry):
                    waiting.append(entry)
        self.unsent.extendleft(reversed(waiting))  # older than the calls waiting there already

    def _send(self, entry: InFlight) -> bool:
        """Sends a call, without waiting, to the first connected channel in round-robin order that takes it."""
        frames = tagged_request(entry.tag, entry.call)
        count = len(self.channels)
        for step in range(count):
            index = (self._next_channel + step) % count
            channel = self.channels[index]
            if channel.connected and _send_now(channel.socket, frames):
                entry.channel = channel
                self._next_channel = (index + 1) % count
                return True
        return False


def _send_now(socket: zmq.Socket, frames: list[bytes]) -> bool:
    """Sends without waiting; False when the socket cannot take it now (a full queue).

    An asyncio socket returns a future, already done here: zmq.asyncio sends at once when no send of the socket is
    waiting, and these clients never leave one waiting.
    """
    try:
        sent = socket.send_multipart(frames, flags=zmq.DONTWAIT)
        if isinstance(sent, asyncio.Future):
            sent.result()
    except zmq.Again:
        return False
    return True
