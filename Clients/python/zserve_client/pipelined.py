"""PipelinedClient: many Predict requests in flight over one DEALER socket, each reply matched by its tag."""

import collections
import time
from collections.abc import Iterable

import zmq

from . import calls
from .curve import CurveKeys
from .errors import ZServeError, ZServeTimeout
from .sockets import SocketClient, Tags, connect, split_tagged_reply, tagged_request

DEFAULT_MAX_IN_FLIGHT = 64


class PipelinedClient(SocketClient):
    """Keeps many Predict requests in flight over one DEALER socket; replies come in any order.

    Two ways to use it: `predict_many` sends a whole list with a bounded number in flight and returns the results in
    input order; `send_predict` / `receive` / `gather` let the caller drive. Each request carries a tag frame that the
    server echoes (see sockets.py), so every reply, refusals included, finds its request. A reply to a request this
    client gave up on (a predict_many that raised) is discarded when it arrives. Not thread-safe: one thread per client.
    """

    def __init__(self, endpoint: str, timeout_ms: int = 10_000, context: zmq.Context | None = None,
                 curve: CurveKeys | None = None):
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self._socket = connect(context or zmq.Context.instance(), zmq.DEALER, endpoint, curve)
        self._tags = Tags()
        # send_predict's requests awaiting receive(), by tag; replies to them that predict_many read meanwhile.
        self._sent: dict[bytes, calls.Call] = {}
        self._held: collections.deque = collections.deque()

    def predict_many(self, model: str, inputs: Iterable[dict], version: int | None = None, label: str = "",
                     timeout_us: int = 0, output_names=(), max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                     return_exceptions: bool = False) -> list:
        """Runs a model on each {input name: array} of `inputs`; returns [(version, outputs), ...] in input order.

        Up to max_in_flight requests are outstanding at once (a new one is sent as each reply arrives); `inputs` may
        be a generator, read as requests are sent. Per-item errors (a status that is not OK, an input the protocol
        cannot carry):
          - return_exceptions=False (default): no further items are sent, the requests already sent are waited for,
            then the ZServeError of the earliest failed item (in input order) is raised;
          - return_exceptions=True: every item is sent and the list holds that item's ZServeError in its place.
        Raises ZServeTimeout when no reply arrives for timeout_ms while requests are outstanding (they are given up),
        and ZServeError INTERNAL at once for a reply that breaks the protocol.
        """
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        pending = enumerate(inputs)
        in_flight: dict[bytes, tuple[int, calls.Call]] = {}
        results: dict[int, object] = {}
        failed = False
        while True:
            while not (failed and not return_exceptions) and len(in_flight) < max_in_flight:
                item = next(pending, None)
                if item is None:
                    break
                index, arrays = item
                try:
                    call = calls.predict(model, arrays, version, label, None, timeout_us, output_names)
                except ZServeError as error:
                    results[index], failed = error, True
                    continue
                in_flight[self._send(call)] = (index, call)
            if not in_flight:
                break
            tag, reply = self._read_reply(time.monotonic() + self.timeout_ms / 1000, self.timeout_ms)
            if tag in self._sent:
                self._held.append((tag, reply))
            elif tag in in_flight:
                index, call = in_flight.pop(tag)
                try:
                    results[index] = call.result_of(reply)
                except ZServeError as error:
                    results[index], failed = error, True
        ordered = [results[index] for index in sorted(results)]
        if failed and not return_exceptions:
            raise next(result for result in ordered if isinstance(result, ZServeError))
        return ordered

    def send_predict(self, model: str, inputs: dict, version: int | None = None, label: str = "",
                     request_id: str | None = None, timeout_us: int = 0, output_names=()) -> str:
        """Queues a Predict request without waiting for its reply; returns its request id (a new uuid if None).

        Raises ZServeError INVALID_ARGUMENT, sending nothing, for an input the protocol cannot carry.
        """
        call = calls.predict(model, inputs, version, label, request_id, timeout_us, output_names)
        self._sent[self._send(call)] = call
        return call.request_id

    def receive(self, timeout_ms: int | None = None) -> tuple[str, tuple[int, dict]]:
        """Returns (request id, (version, outputs)) of the next reply to a send_predict request.

        Raises ZServeError for an error reply (its request_id tells which request failed) and ZServeTimeout
        (DEADLINE_EXCEEDED, also a TimeoutError) when no reply arrives within timeout_ms (default: the client's timeout).
        """
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            tag, reply = self._held.popleft() if self._held else self._read_reply(deadline, timeout_ms)
            call = self._sent.pop(tag, None)
            if call is not None:
                return call.request_id, call.result_of(reply)

    def gather(self, request_ids) -> dict:
        """Receives replies until each of request_ids is answered.

        Returns {request id: (version, outputs) or ZServeError}, including any other reply received meanwhile.
        Raises ZServeTimeout like receive().
        """
        results = {}
        pending = set(request_ids)
        while pending:
            try:
                request_id, result = self.receive()
            except ZServeTimeout:
                raise
            except ZServeError as error:
                request_id, result = error.request_id, error
            results[request_id] = result
            pending.discard(request_id)
        return results

    def _send(self, call: calls.Call) -> bytes:
        """Sends a call with a new tag and returns the tag."""
        tag = self._tags.next()
        self._socket.send_multipart(tagged_request(tag, call))
        return tag

    def _read_reply(self, deadline: float, timeout_ms: int) -> tuple[bytes, list[bytes]]:
        """The next reply on the socket as (tag, [Status][response]); ZServeTimeout (naming timeout_ms) once the
        deadline passes."""
        remaining_ms = max(0, round((deadline - time.monotonic()) * 1000))
        if not self._socket.poll(remaining_ms):
            raise ZServeTimeout(f"no reply from {self.endpoint} within {timeout_ms} ms")
        frames = self._socket.recv_multipart()
        tagged = split_tagged_reply(frames)
        if tagged is None:
            raise ZServeError("INTERNAL", "malformed reply: it does not start with the request's tag and a delimiter")
        return tagged
