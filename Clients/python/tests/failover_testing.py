"""Shared pieces of the failover tests: a stand-in server a test steers request by request, and helpers for real
servers stopped and killed mid-call.

The stand-in decides when its connections may complete their handshake (a ZAP handler that waits for `open_gate()`,
or refuses), so a test knows which server a client's next call goes to: a client only sends to servers whose
handshake completed (ZMQ_IMMEDIATE).
"""

import contextlib
import errno
import queue
import threading
import time

import numpy as np
import zmq
import zmq.auth
import zmq.utils.monitor
import zmq.utils.z85

import zserve_testing
from client_testing import ServingThread
from zserve_client import from_tensor
from zserve_client.protos import inference_pb2, status_pb2

# A ZAP handler's endpoint in the stand-in's own context (ZeroMQ RFC 27).
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
# Upper bound on waiting for something a test is sure will happen (a request arriving, a handshake).
EVENT_WAIT_S = 10
# How long the server loop sleeps between looking at its commands.
TICK_MS = 20
# How long a socket closed with drop(flush=True) may take to send what it queued.
FLUSH_LINGER_MS = 2000


class ScriptedServer(ServingThread):
    """A ROUTER on an ephemeral loopback port that answers, holds or drops requests as the test says.

    - answering (the default; hold=True starts holding): every request gets an OK reply; a Predict's version is
      `version_base` + its first input value, so a test tells which server answered which request.
    - `hold()`: requests are kept unanswered; `release()` answers the held ones and answers again from then on.
    - `drop()`: closes the socket without answering, so every connection to it is lost; `restart()` binds a new
      socket to the same port (clients reconnect by themselves).
    - gated=True: no handshake completes until `open_gate()`; refuse=True: every handshake is refused (ZAP).
    - curve_keys (a directory of `zserve keygen` files): a CURVE server with server.key allowing `allowed` names.

    `received` lists (method name, request id) of every request in arrival order; `handshakes` counts completed ones.
    All methods are called from the test's thread; the socket lives in the server's own thread.
    """

    def __init__(self, version_base: int = 0, hold: bool = False, gated: bool = False, refuse: bool = False,
                 curve_keys=None, allowed=("client",)):
        self.version_base = version_base
        self.received: list[tuple[str, str]] = []
        self.handshakes = 0
        self._holding = hold
        self._held: list[list[bytes]] = []
        self._gate = threading.Event()
        if not gated:
            self._gate.set()
        self._refuse = refuse
        self._curve_keys = curve_keys
        self._allowed = {zmq.auth.load_certificate(str(curve_keys / f"{name}.pub"))[0] for name in allowed} \
            if curve_keys else set()
        self._changed = threading.Condition()
        self._commands: queue.Queue = queue.Queue()
        self._commands_issued = self._commands_done = 0
        self._failure: BaseException | None = None
        self._context = zmq.Context()
        self._zap = None
        if gated or refuse or curve_keys:
            self._zap = self._context.socket(zmq.REP)
            self._zap.bind(ZAP_ENDPOINT)
        self._socket, self._monitor = self._bind("tcp://127.0.0.1:0")
        self.endpoint = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._start()

    def _release(self) -> None:
        for socket in (self._socket, self._monitor, self._zap):
            if socket is not None and not socket.closed:
                socket.close(linger=0)
        self._context.term()

    def hold(self) -> None:
        """From now on, keeps requests unanswered."""
        self._command("hold")

    def release(self) -> None:
        """Answers the held requests, and answers again from now on."""
        self._command("release")

    def drop(self, flush: bool = False) -> None:
        """Closes the socket without answering: every connection to it is lost. With flush, the replies already
        sent (release()) go out first; without, they may be dropped with the socket."""
        self._command("drop-flushed" if flush else "drop")

    def restart(self) -> None:
        """Closes the socket and binds a new one to the same port."""
        self._command("restart")

    def open_gate(self) -> None:
        self._gate.set()

    def _command(self, command: str) -> None:
        """Hands a command to the server's thread and waits until it ran."""
        with self._changed:
            self._commands_issued += 1
            number = self._commands_issued
            self._commands.put((number, command))
        self.wait_for(lambda: self._commands_done >= number, f"{command} done")

    def methods(self) -> list[str]:
        with self._changed:
            return [method for method, _ in self.received]

    def request_ids(self) -> list[str]:
        with self._changed:
            return [request_id for method, request_id in self.received if method == "Predict"]

    def wait_for(self, condition, what: str, timeout_s: float = EVENT_WAIT_S) -> None:
        """Waits until condition() holds (checked whenever the server's state changes); fails the test after
        timeout_s, naming `what`."""
        with self._changed:
            done = self._changed.wait_for(lambda: self._failure is not None or condition(), timeout_s)
            assert self._failure is None, f"{self.endpoint}: the stand-in failed: {self._failure!r}"
            assert done, f"{self.endpoint}: no {what} within {timeout_s} s"

    def wait_for_requests(self, count: int) -> None:
        self.wait_for(lambda: len(self.received) >= count, f"{count} requests")

    def wait_for_handshakes(self, count: int) -> None:
        self.wait_for(lambda: self.handshakes >= count, f"{count} completed handshakes")

    def _bind(self, endpoint: str) -> tuple[zmq.Socket, zmq.Socket]:
        socket = self._context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        if self._curve_keys:
            socket.curve_publickey, socket.curve_secretkey = zmq.auth.load_certificate(
                str(self._curve_keys / "server.key"))
            socket.curve_server = True
        elif self._zap is not None:
            socket.zap_domain = b"stand-in"  # with the NULL mechanism, libzmq asks ZAP only when a domain is set
        monitor = socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        # libzmq closes a socket's listener in its I/O thread, after close() returned: the port may still be taken.
        deadline = time.monotonic() + EVENT_WAIT_S
        while True:
            try:
                socket.bind(endpoint)
                return socket, monitor
            except zmq.ZMQError as error:
                if error.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _serve(self) -> None:
        try:
            self._loop()
        except BaseException as error:
            with self._changed:
                self._failure = error
                self._changed.notify_all()
            raise

    def _loop(self) -> None:
        pending_zap = None
        while not self._stop.is_set():
            self._run_commands()
            poller = zmq.Poller()
            if self._socket is not None:
                poller.register(self._socket, zmq.POLLIN)
                poller.register(self._monitor, zmq.POLLIN)
            if self._zap is not None and pending_zap is None:
                poller.register(self._zap, zmq.POLLIN)
            ready = dict(poller.poll(TICK_MS))
            if self._socket is not None and ready.get(self._monitor):
                zmq.utils.monitor.recv_monitor_message(self._monitor)
                with self._changed:
                    self.handshakes += 1
                    self._changed.notify_all()
            if self._socket is not None and ready.get(self._socket):
                self._take(self._socket.recv_multipart())
            if self._zap is not None and ready.get(self._zap):
                pending_zap = self._zap.recv_multipart()
            if pending_zap is not None and self._gate.is_set():
                self._answer_zap(pending_zap)
                pending_zap = None

    def _run_commands(self) -> None:
        while True:
            try:
                number, command = self._commands.get_nowait()
            except queue.Empty:
                return
            if command == "hold":
                self._holding = True
            elif command == "release" and self._socket is not None:
                self._holding = False
                for frames in self._held:
                    self._socket.send_multipart(reply(frames, self.version_base))
                self._held = []
            elif command in ("drop", "drop-flushed", "restart"):
                if self._socket is not None:
                    self._socket.disable_monitor()
                    self._monitor.close(linger=0)
                    self._socket.close(linger=FLUSH_LINGER_MS if command == "drop-flushed" else 0)
                    with self._changed:
                        self._socket, self._held = None, []
                if command == "restart":
                    socket, monitor = self._bind(self.endpoint)
                    with self._changed:
                        self._socket, self._monitor = socket, monitor
            with self._changed:
                self._commands_done = number
                self._changed.notify_all()

    def _take(self, frames: list[bytes]) -> None:
        delimiter = frames.index(b"", 1)
        method = frames[delimiter + 1].decode().rsplit("/", 1)[-1]
        request_id = inference_pb2.PredictRequest.FromString(frames[delimiter + 2]).id if method == "Predict" else ""
        with self._changed:
            self.received.append((method, request_id))
            self._changed.notify_all()
        if self._holding:
            self._held.append(frames)
        else:
            self._socket.send_multipart(reply(frames, self.version_base))

    def _answer_zap(self, request: list[bytes]) -> None:
        """Answers a ZAP request [version, id, domain, address, identity, mechanism, credentials...]."""
        version, request_id, mechanism = request[0], request[1], request[5]
        allowed = not self._refuse and (mechanism != b"CURVE" or zmq.utils.z85.encode(request[6]) in self._allowed)
        status = [b"200", b"OK"] if allowed else [b"400", b"refused by the stand-in"]
        self._zap.send_multipart([version, request_id, *status, b"", b""])


def reply(frames: list[bytes], version_base: int) -> list[bytes]:
    """An OK reply to a request's frames [routing...][empty][method][request]: a Predict's version is version_base +
    its first input value; other methods get an empty response message."""
    delimiter = frames.index(b"", 1)
    method = frames[delimiter + 1].decode().rsplit("/", 1)[-1]
    response, request_id = b"", ""
    if method == "Predict":
        request = inference_pb2.PredictRequest.FromString(frames[delimiter + 2])
        request_id = request.id
        version = version_base + int(from_tensor(request.inputs[0]).flat[0])
        response = inference_pb2.PredictResponse(id=request.id, model=request.model.name,
                                                 version=version).SerializeToString()
    status = status_pb2.Status(code=status_pb2.OK, request_id=request_id)
    return frames[:delimiter + 1] + [status.SerializeToString(), response]


def numbered(value: int) -> dict:
    """One Predict input whose first value is `value` (a stand-in answers with it as the version)."""
    return {"features": np.full((1, 8), value, dtype=np.float32)}


@contextlib.contextmanager
def stopped(server):
    """SIGSTOPs a real server (it keeps its connections but answers nothing, so calls sent to it wait) for the
    block, which is to SIGKILL it (server.kill()); killed on the way out if the block failed first (a stopped server
    would not exit on the SIGTERM of run_server, whose error would hide the block's)."""
    zserve_testing.suspend(server.process.pid, timeout_s=EVENT_WAIT_S)
    try:
        yield server
    finally:
        if not server.killed:
            server.kill()


def wait_until_quiet(progress, quiet_s: float) -> int:
    """Waits until progress() (a count of answered calls) stops changing for quiet_s; returns the count."""
    count = progress()
    deadline = time.monotonic() + EVENT_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = progress()
        if now == count:
            return count
        count = now
    return count


def connected_everywhere(client) -> bool:
    """Whether a PipelinedClient or AsyncClient has seen a completed handshake on every endpoint (its connection
    events are read while it waits for replies), so that each server gets its share of the next calls."""
    return all(channel.events.established for channel in client._dealers.channels)


def client_keys(keys, name: str):
    """CurveKeys for the client `name` of a curve_keys directory (conftest.py), with the server's public key."""
    from zserve_client import CurveKeys

    return CurveKeys.from_files(str(keys / "server.pub"), str(keys / f"{name}.key"))
