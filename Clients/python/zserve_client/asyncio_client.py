"""AsyncClient: the frontend's methods as coroutines over one zmq.asyncio DEALER socket, shared by many coroutines."""

import asyncio
import logging

import zmq
import zmq.asyncio

from . import calls
from .curve import CurveKeys
from .errors import ZServeError, ZServeTimeout
from .methods import ControlReadMethods, InferenceMethods
from .sockets import Tags, connect, split_tagged_reply, tagged_request

_log = logging.getLogger(__name__)


class AsyncClient(InferenceMethods, ControlReadMethods):
    """An asyncio client of the frontend: `await client.predict(...)` from as many coroutines as you like at once.

    Methods are those of Client (predict, model_metadata, server_ready, model_ready, list_models, model_status), each
    returning a coroutine. All calls share one DEALER socket: each request carries a tag frame the server echoes,
    and one reader task hands every reply to the coroutine awaiting it, so replies may come in any order. Each call
    waits at most timeout_ms for its reply (ZServeTimeout; a late reply is then discarded). Use a client from one
    event loop; `async with AsyncClient(...)` or `close()` ends it, failing calls still waiting with CANCELLED.
    """

    def __init__(self, endpoint: str, timeout_ms: int = 10_000, context: zmq.asyncio.Context | None = None,
                 curve: CurveKeys | None = None):
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self._socket = connect(context or zmq.asyncio.Context.instance(), zmq.DEALER, endpoint, curve)
        self._tags = Tags()
        self._waiting: dict[bytes, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None
        self._closed = False

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        """Stops the reader, closes the socket and fails every call still waiting with ZServeError CANCELLED."""
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
        self._socket.close()
        self._fail_waiting("CANCELLED", "the client was closed")

    async def _invoke(self, make_call, *args):
        """Builds a call with make_call(*args), sends it and awaits its result; raises ZServeError."""
        call = make_call(*args)
        if self._closed:
            raise ZServeError("CANCELLED", "the client is closed", call.request_id)
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_replies())
        loop = asyncio.get_running_loop()
        tag = self._tags.next()
        reply = loop.create_future()
        self._waiting[tag] = reply
        # A timer rather than asyncio.wait_for, which would wrap every call in a task of its own.
        timer = loop.call_later(self.timeout_ms / 1000, self._expire, reply, call)
        try:
            await self._socket.send_multipart(tagged_request(tag, call))
            frames = await reply
        finally:
            timer.cancel()
            self._waiting.pop(tag, None)
        return call.result_of(frames)

    def _expire(self, reply: asyncio.Future, call: calls.Call) -> None:
        """Fails a call whose reply did not come within timeout_ms with ZServeTimeout."""
        if not reply.done():
            reply.set_exception(ZServeTimeout(f"no reply to {calls.METHODS[call.method]} from {self.endpoint} "
                                              f"within {self.timeout_ms} ms", call.request_id))

    async def _read_replies(self) -> None:
        """Hands each reply to the call awaiting its tag until the socket closes; drops replies nobody awaits."""
        try:
            while True:
                tagged = split_tagged_reply(await self._socket.recv_multipart())
                if tagged is None:
                    _log.warning("zserve_client: dropped a reply from %s without a tag", self.endpoint)
                    continue
                reply = self._waiting.get(tagged[0])
                if reply is not None and not reply.done():
                    reply.set_result(tagged[1])
        except zmq.ZMQError as error:
            self._fail_waiting("UNAVAILABLE", f"the socket to {self.endpoint} failed: {error}")

    def _fail_waiting(self, code_name: str, message: str) -> None:
        """Fails every call still waiting for its reply with a ZServeError of its own."""
        for reply in self._waiting.values():
            if not reply.done():
                reply.set_exception(ZServeError(code_name, message))
