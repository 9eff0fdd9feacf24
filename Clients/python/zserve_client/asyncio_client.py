"""AsyncClient: the frontend's methods as coroutines over zmq.asyncio DEALER sockets (one per endpoint), shared by
many coroutines."""

import asyncio
import logging
import time

import zmq
import zmq.asyncio

from . import failover
from .curve import CurveKeys
from .dealers import Channel, Dealers, InFlight
from .errors import ZServeError
from .methods import ControlReadMethods, InferenceMethods
from .sockets import Tags, split_tagged_reply

_log = logging.getLogger(__name__)


class AsyncClient(InferenceMethods, ControlReadMethods):
    """An asyncio client of the frontend: `await client.predict(...)` from as many coroutines as you like at once.

    Methods are those of Client (predict, model_metadata, server_ready, model_ready, list_models, model_status), each
    returning a coroutine. All calls share the client's sockets: each request carries a tag frame the server echoes,
    and reader tasks hand every reply to the coroutine awaiting it, so replies may come in any order. Each call waits
    at most timeout_ms for its reply (ZServeTimeout, or ZServeError UNAUTHENTICATED when no server took the call and
    one refused the handshake; a late reply is then discarded).

    `endpoint` is one endpoint or a list of servers offering the same models: calls go round-robin to the ones
    connected, and the retry policy is Client's (failover.py): when a connection is lost while calls wait on it,
    they are sent again at once to a server still connected, up to `retries` times each within timeout_ms (all these
    methods only read); a reply that comes after all for a call already resent is dropped, so each call is answered
    once. Use a client from one event loop; `async with AsyncClient(...)` or `close()` ends it, failing calls still
    waiting with CANCELLED.
    """

    def __init__(self, endpoint: str | list[str], timeout_ms: int = 10_000,
                 context: zmq.asyncio.Context | None = None, curve: CurveKeys | None = None, retries: int = 2):
        self.endpoints = failover.endpoint_list(endpoint)
        self.endpoint = self.endpoints[0]
        self.timeout_ms = timeout_ms
        self.retries = max(0, retries)
        self._dealers = Dealers(context or zmq.asyncio.Context.instance(), self.endpoints, curve, self.retries)
        self._tags = Tags()
        # Each channel's reader tasks (replies, monitor events) and the socket they read.
        self._readers: dict[Channel, tuple[zmq.Socket, list[asyncio.Task]]] = {}
        # While calls wait to be sent: a timer that tries again (a full send queue); a completed handshake sends them
        # at once.
        self._retry_timer: asyncio.TimerHandle | None = None
        self._closed = False

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        """Stops the readers, closes the sockets and fails every call still waiting with ZServeError CANCELLED."""
        self._closed = True
        for _, tasks in self._readers.values():
            for task in tasks:
                task.cancel()
        self._readers.clear()
        if self._retry_timer is not None:
            self._retry_timer.cancel()
        self._fail_waiting("CANCELLED", "the client was closed")
        self._dealers.close()

    async def _invoke(self, make_call, *args):
        """Builds a call with make_call(*args), sends it and awaits its result; raises ZServeError."""
        call = make_call(*args)
        if self._closed:
            raise ZServeError("CANCELLED", "the client is closed", call.request_id)
        loop = asyncio.get_running_loop()
        entry = InFlight(self._tags.next(), call, time.monotonic() + self.timeout_ms / 1000, loop.create_future())
        # A timer rather than asyncio.wait_for, which would wrap every call in a task of its own.
        timer = loop.call_later(self.timeout_ms / 1000, self._expire, entry)
        try:
            self._dealers.submit(entry)  # may reopen a channel, so the readers are checked after it
            self._start_readers(loop)
            self._watch_unsent(loop)
            frames = await entry.owner
        finally:
            timer.cancel()
            self._dealers.forget(entry.tag)
        return call.result_of(frames)

    def _expire(self, entry: InFlight) -> None:
        """Fails a call whose reply did not come within timeout_ms (see Dealers.failure)."""
        if not entry.owner.done():
            entry.owner.set_exception(self._dealers.failure(entry, self.timeout_ms))

    def _start_readers(self, loop: asyncio.AbstractEventLoop) -> None:
        """Starts the reader tasks of each channel that has none for its current socket."""
        for channel in self._dealers.channels:
            started = self._readers.get(channel)
            if started is not None and started[0] is channel.socket:
                continue
            if started is not None:
                for task in started[1]:
                    task.cancel()
            self._readers[channel] = (channel.socket, [
                loop.create_task(self._read_replies(channel.socket)),
                loop.create_task(self._read_events(channel, channel.monitor)),
            ])

    async def _read_replies(self, socket: zmq.asyncio.Socket) -> None:
        """Hands each reply to the call awaiting its tag until the socket closes; drops replies nobody awaits (a call
        given up, or answered already by the other server of a resend)."""
        try:
            while True:
                tagged = split_tagged_reply(await socket.recv_multipart())
                if tagged is None:
                    _log.warning("zserve_client: dropped a reply from %s without a tag", ", ".join(self.endpoints))
                    continue
                entry = self._dealers.take_reply(tagged[0])
                if entry is not None and not entry.owner.done():
                    entry.owner.set_result(tagged[1])
                if self._dealers.unsent:
                    self._dealers.flush()
        except zmq.ZMQError as error:
            if not self._closed and not socket.closed:
                self._fail_waiting("UNAVAILABLE", f"a socket to {', '.join(self.endpoints)} failed: {error}")

    async def _read_events(self, channel: Channel, monitor: zmq.asyncio.Socket) -> None:
        """Takes the channel's connection events as they come: a lost connection resends its calls (failover.py)."""
        try:
            while True:
                event, address = failover.parse_event(await monitor.recv_multipart())
                self._dealers.connection_event(channel, event, address)
                self._watch_unsent(asyncio.get_running_loop())
        except zmq.ZMQError as error:
            if not self._closed:
                _log.warning("zserve_client: the connection monitor of %s failed: %s", channel.endpoint, error)

    def _watch_unsent(self, loop: asyncio.AbstractEventLoop) -> None:
        """Arms the retry timer while calls wait to be sent."""
        if self._dealers.unsent and self._retry_timer is None and not self._closed:
            self._retry_timer = loop.call_later(failover.SLICE_MS / 1000, self._retry_unsent, loop)

    def _retry_unsent(self, loop: asyncio.AbstractEventLoop) -> None:
        self._retry_timer = None
        self._dealers.flush()
        self._watch_unsent(loop)

    def _fail_waiting(self, code_name: str, message: str) -> None:
        """Fails every call still waiting for its reply with a ZServeError of its own."""
        for entry in list(self._dealers.in_flight.values()):
            if not entry.owner.done():
                entry.owner.set_exception(ZServeError(code_name, message, entry.call.request_id))
