"""PipelinedClient: many Predict requests in flight over a DEALER socket per endpoint, each reply matched by its
tag."""

import collections
import heapq
import math
import time
from collections.abc import Iterable

import zmq

from . import calls, failover
from .curve import CurveKeys
from .dealers import Dealers, InFlight
from .errors import ZServeError, ZServeTimeout
from .sockets import SocketClient, Tags, split_tagged_reply

DEFAULT_MAX_IN_FLIGHT = 64
# The owner of send_predict's calls in Dealers (predict_many's calls are owned by their own call of it).
_SENT = object()


class PipelinedClient(SocketClient):
    """Keeps many Predict requests in flight over one DEALER socket per endpoint; replies come in any order.

    Two ways to use it: `predict_many` sends a whole list with a bounded number in flight and returns the results in
    input order; `send_predict` / `receive` / `gather` let the caller drive. Each request carries a tag frame that the
    server echoes (see sockets.py), so every reply, refusals included, finds its request. A reply to a request this
    client gave up on (a predict_many that raised) is discarded when it arrives.

    `endpoint` is one endpoint or a list of servers offering the same models: requests go round-robin to the ones
    connected, and the retry policy is Client's (failover.py): when a connection is lost while requests wait on it,
    they are sent again at once to a server still connected, up to `retries` times each within timeout_ms; a reply
    that comes after all for a request already resent is dropped, so each request is answered once. A request that
    gets no reply within timeout_ms of being sent fails with ZServeTimeout, or ZServeError UNAUTHENTICATED when no
    server took it and one refused the handshake (CURVE). Not thread-safe: one thread per client.
    """

    def __init__(self, endpoint: str | list[str], timeout_ms: int = 10_000, context: zmq.Context | None = None,
                 curve: CurveKeys | None = None, retries: int = 2):
        self.endpoints = failover.endpoint_list(endpoint)
        self.endpoint = self.endpoints[0]
        self.timeout_ms = timeout_ms
        self.retries = max(0, retries)
        self._dealers = Dealers(context or zmq.Context.instance(), self.endpoints, curve, self.retries)
        self._tags = Tags()
        # (deadline, tag) of every call submitted, earliest first; answered calls are dropped when they surface.
        self._deadlines: list[tuple[float, bytes]] = []
        # Replies read and not handed out yet, as (call, reply frames).
        self._ready: collections.deque = collections.deque()
        # Outcomes of send_predict's calls that predict_many came across: (call, reply frames or ZServeError).
        self._held: collections.deque = collections.deque()

    def close(self) -> None:
        """Closes the sockets, dropping unsent requests and unread replies."""
        self._dealers.close()

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
        Raises ZServeTimeout when a request gets no reply within timeout_ms of being sent (ZServeError
        UNAUTHENTICATED when no server took it and one refused the handshake); the requests still outstanding are
        then given up. Raises ZServeError INTERNAL at once for a reply that breaks the protocol.
        """
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        pending = enumerate(inputs)
        owner = object()
        in_flight: dict[bytes, int] = {}
        results: dict[int, object] = {}
        failed = False
        try:
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
                    in_flight[self._submit(call, owner).tag] = index
                if not in_flight:
                    break
                entry, outcome = self._next_outcome(None)
                if entry.owner is _SENT:
                    self._held.append((entry, outcome))
                    continue
                if entry.owner is not owner:
                    continue  # a reply to an earlier predict_many that raised
                index = in_flight.pop(entry.tag)
                if isinstance(outcome, ZServeError):
                    raise outcome
                try:
                    results[index] = entry.call.result_of(outcome)
                except ZServeError as error:
                    results[index], failed = error, True
        finally:
            for tag in in_flight:
                self._dealers.forget(tag)
        ordered = [results[index] for index in sorted(results)]
        if failed and not return_exceptions:
            raise next(result for result in ordered if isinstance(result, ZServeError))
        return ordered

    def send_predict(self, model: str, inputs: dict, version: int | None = None, label: str = "",
                     request_id: str | None = None, timeout_us: int = 0, output_names=()) -> str:
        """Queues a Predict request without waiting for its reply; returns its request id (a new uuid if None).

        Raises ZServeError INVALID_ARGUMENT, sending nothing, for an input the protocol cannot carry. While no server
        is connected yet, the request waits in the client and goes out as soon as one is (within timeout_ms).
        """
        call = calls.predict(model, inputs, version, label, request_id, timeout_us, output_names)
        self._submit(call, _SENT)
        return call.request_id

    def receive(self, timeout_ms: int | None = None) -> tuple[str, tuple[int, dict]]:
        """Returns (request id, (version, outputs)) of the next reply to a send_predict request.

        Raises ZServeError for an error reply (its request_id tells which request failed), the failure of a request
        that got no reply within the client's timeout_ms of being sent (ZServeTimeout naming its request_id, or
        UNAUTHENTICATED, see the class), and ZServeTimeout (DEADLINE_EXCEEDED, also a TimeoutError) when nothing
        arrives within timeout_ms (default: the client's timeout).
        """
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if self._held:
                entry, outcome = self._held.popleft()
            else:
                received = self._next_outcome(deadline)
                if received is None:
                    raise ZServeTimeout(f"no reply from {', '.join(self.endpoints)} within {timeout_ms} ms")
                entry, outcome = received
            if entry.owner is not _SENT:
                continue  # a reply to a predict_many that raised
            if isinstance(outcome, ZServeError):
                raise outcome
            return entry.call.request_id, entry.call.result_of(outcome)

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

    def _submit(self, call: calls.Call, owner: object) -> InFlight:
        """Sends a call with a new tag (or keeps it until a server is connected); returns its InFlight."""
        entry = InFlight(self._tags.next(), call, time.monotonic() + self.timeout_ms / 1000, owner)
        self._dealers.submit(entry)
        heapq.heappush(self._deadlines, (entry.deadline, entry.tag))
        return entry

    def _next_outcome(self, deadline: float | None) -> tuple[InFlight, object] | None:
        """The next (call, reply frames) read, or (call, its ZServeError) for a call whose timeout passed first; None
        once `deadline` (time.monotonic(); None: no limit) passes. Raises ZServeError INTERNAL for an untagged reply."""
        while True:
            if self._ready:
                return self._ready.popleft()
            now = time.monotonic()
            due = self._earliest_deadline()
            if due is not None and due <= now:
                _, tag = heapq.heappop(self._deadlines)
                entry = self._dealers.in_flight[tag]
                return entry, self._dealers.failure(entry, self.timeout_ms)
            if deadline is not None and now >= deadline:
                return None
            wake = min((moment for moment in (deadline, due) if moment is not None), default=None)
            self._poll(None if wake is None else max(1, math.ceil((wake - now) * 1000)))

    def _earliest_deadline(self) -> float | None:
        """The deadline of the call in flight that gives up first (dropping answered calls from the heap)."""
        while self._deadlines and self._deadlines[0][1] not in self._dealers.in_flight:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else None

    def _poll(self, timeout_ms: int | None) -> None:
        """Waits up to timeout_ms (None: no limit) for replies, connection events or, while calls wait to be sent, a
        channel that takes them; reads what came into `_ready` and resends or sends what the events call for."""
        channels = self._dealers.channels
        poller = zmq.Poller()
        sending = bool(self._dealers.unsent)
        for channel in channels:
            poller.register(channel.socket, zmq.POLLIN | (zmq.POLLOUT if sending and channel.connected else 0))
            poller.register(channel.monitor, zmq.POLLIN)
        ready = dict(poller.poll(timeout_ms))
        # Replies first, so a call answered in the meantime is not resent for a connection lost after its reply.
        for channel in channels:
            if ready.get(channel.socket, 0) & zmq.POLLIN:
                self._read_replies(channel.socket)
        for channel in channels:
            if ready.get(channel.monitor):
                for event, address in failover.pending_events(channel.monitor):
                    self._dealers.connection_event(channel, event, address)
        self._dealers.flush()

    def _read_replies(self, socket: zmq.Socket) -> None:
        """Reads every reply the socket holds into `_ready`, dropping those to calls no longer in flight."""
        while True:
            try:
                frames = socket.recv_multipart(zmq.DONTWAIT)
            except zmq.Again:
                return
            tagged = split_tagged_reply(frames)
            if tagged is None:
                raise ZServeError("INTERNAL",
                                  "malformed reply: it does not start with the request's tag and a delimiter")
            entry = self._dealers.take_reply(tagged[0])
            if entry is not None:
                self._ready.append((entry, tagged[1]))
