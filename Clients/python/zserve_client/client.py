"""The blocking clients over one REQ socket: Client (the frontend) and AdminClient (the admin endpoint)."""

import hashlib
import math
import os
import time
from collections.abc import Iterator

import zmq

from . import calls, failover
from .curve import CurveKeys
from .methods import ControlReadMethods, InferenceMethods
from .sockets import SocketClient, open_socket

DEFAULT_CHUNK_SIZE = 4 << 20


class _RequestReplyClient(ControlReadMethods, SocketClient):
    """One REQ socket: one call at a time, each waiting at most timeout_ms for its reply.

    `endpoint` is one endpoint or a list of servers offering the same service; requests go round-robin to the
    connected ones. Retry policy (failover.py, as the C client's): when a connection that had completed its handshake
    is lost while a read-only call (Predict, ModelMetadata, ServerReady, ModelReady, ListModels, ModelStatus) waits,
    it is sent again at once to a server still connected, up to `retries` times within timeout_ms; ModelControl calls
    that change state are never resent. Once the resends are used up, a lost connection does not end the call: it
    waits for its reply until the timeout. After a failed call the socket is replaced (a REQ socket cannot send again
    before it has received), so the client stays usable; a late reply to the abandoned call is discarded. Not
    thread-safe: one thread per client.
    """

    def __init__(self, endpoint: str | list[str], timeout_ms: int, context: zmq.Context | None, curve: CurveKeys | None,
                 retries: int = 2):
        self.endpoints = failover.endpoint_list(endpoint)
        self.endpoint = self.endpoints[0]
        self.timeout_ms = timeout_ms
        self.retries = max(0, retries)
        self._context = context or zmq.Context.instance()
        self._curve = curve
        self._open()

    def _open(self) -> None:
        """Opens the REQ socket with a monitor of its connections (lost ones, and refused handshakes)."""
        self._socket = open_socket(self._context, zmq.REQ, self._curve)
        # Queue only to completed connections, so a request never waits on a server that is down.
        self._socket.setsockopt(zmq.IMMEDIATE, 1)
        self._monitor = failover.open_monitor(self._socket)
        self._connections = failover.ConnectionEvents(self._curve is not None)
        for endpoint in self.endpoints:
            self._socket.connect(endpoint)

    def close(self) -> None:
        """Closes the socket and its monitor."""
        failover.close_monitored(self._socket, self._monitor)

    def _reopen(self) -> None:
        self.close()
        self._open()

    def _connection_lost(self) -> bool:
        """Reads the monitor; True if a connection that had completed its handshake was lost meanwhile."""
        lost = False
        for event, address in failover.pending_events(self._monitor):
            lost |= self._connections.record(event, address)
        return lost

    def _await_reply(self, deadline: float, may_resend: bool) -> bool:
        """Waits for the reply until `deadline` (time.monotonic()): True when it is there; False at the deadline, or
        at once when a connection is lost and `may_resend` (otherwise the call may be on a server still connected)."""
        while True:
            remaining_ms = (deadline - time.monotonic()) * 1000
            if remaining_ms <= 0:
                return False
            if self._socket.poll(min(failover.SLICE_MS, max(1, int(remaining_ms)))):
                return True
            if self._connection_lost() and may_resend:
                return False

    def _invoke(self, make_call, *args):
        """Builds a call with make_call(*args), sends it and returns its result; raises ZServeError (ZServeTimeout
        after timeout_ms; UNAUTHENTICATED when no server took the call and one refused the handshake)."""
        call = make_call(*args)
        deadline = time.monotonic() + self.timeout_ms / 1000
        resends = 0
        while True:
            # A send waits for a completed connection (ZMQ_IMMEDIATE): bound it by what is left of the call's time.
            self._socket.setsockopt(zmq.SNDTIMEO, max(0, math.ceil((deadline - time.monotonic()) * 1000)))
            try:
                self._socket.send_multipart(call.frames())
            except zmq.Again:
                sent = False
            else:
                sent = True
                may_resend = failover.may_resend(call, resends, self.retries)
                if self._await_reply(deadline, may_resend):
                    return call.result_of(self._socket.recv_multipart())
                if may_resend and time.monotonic() < deadline:
                    resends += 1
                    self._reopen()
                    continue
            self._connection_lost()
            refusal = None if sent else self._connections.refusal
            self._reopen()
            raise failover.failure(call, self.endpoints, self.timeout_ms, resends, refusal)


class Client(InferenceMethods, _RequestReplyClient):
    """A blocking client of the frontend over one REQ socket (see _RequestReplyClient for timeouts)."""

    def __init__(self, endpoint: str | list[str], timeout_ms: int = 10_000, context: zmq.Context | None = None,
                 curve: CurveKeys | None = None, retries: int = 2):
        super().__init__(endpoint, timeout_ms, context, curve, retries)


class AdminClient(_RequestReplyClient):
    """A blocking client of the ModelControl service on the admin endpoint (--admin), over one REQ socket.

    Every ModelControl RPC has a method: list_models, model_status, push_model (push_chunk for one PushModel call),
    load_model, unload_model, set_label, rollback, scale_workers. The default timeout is long because a commit
    verifies, validates and warms up the model before it replies.
    """

    def __init__(self, endpoint: str | list[str], timeout_ms: int = 120_000, context: zmq.Context | None = None,
                 curve: CurveKeys | None = None, retries: int = 2):
        super().__init__(endpoint, timeout_ms, context, curve, retries)

    def push_model(self, model: str, data, version: int = 0, labels=(), metadata: dict | None = None,
                   warmup_inputs: dict | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[int, int]:
        """Uploads a model (bytes, or the path of an ONNX file) in chunks and publishes it.

        version 0 asks for one more than the highest version on disk; labels are pointed at the version once it is
        live; metadata is stored next to it; warmup_inputs ({input name: array}) replace the generated warm-up
        inputs. Returns (the version assigned, its VersionState) once the version is live.
        """
        digest, total_size = _sha256_and_size(data)
        opening = {
            "model": model, "version": version, "sha256": digest, "total_size": total_size, "labels": labels,
            "metadata": metadata or {},
            "warmup_inputs": calls.tensors(warmup_inputs or {}),
        }
        upload_id, offset = "", 0
        for chunk, last in _marking_last(_chunks(data, chunk_size)):
            response = self.push_chunk(upload_id=upload_id, offset=offset, data=chunk, commit=last,
                                       **({} if upload_id else opening))
            upload_id, offset = response.upload_id, offset + len(chunk)
        return response.version, response.state

    def push_chunk(self, **fields):
        """Sends one PushModel call made of the given PushModelRequest fields, as they are; returns the response.

        The low-level step of push_model, for callers that drive an upload themselves: the first call (no upload_id)
        carries model, version, sha256, total_size, ...; later calls carry upload_id, offset and data; the last sets
        commit.
        """
        return self._invoke(lambda: calls.push_model(**fields))

    def load_model(self, model: str, version: int):
        """Loads a version that is on disk; returns the model's ModelInfo."""
        return self._invoke(calls.load_model, model, version)

    def unload_model(self, model: str, version: int):
        """Stops serving a version (it stays on disk); returns the model's ModelInfo."""
        return self._invoke(calls.unload_model, model, version)

    def set_label(self, model: str, label: str, version: int, weight: int = 0):
        """Points a label at a version (0 removes it) with a traffic weight (0-100); returns the model's ModelInfo."""
        return self._invoke(calls.set_label, model, label, version, weight)

    def rollback(self, model: str):
        """Makes the previous available version the default; the response has from_version and to_version."""
        return self._invoke(calls.rollback, model)

    def scale_workers(self, workers: int):
        """Sets the number of local inference workers; the response has `previous` and `workers`.

        Added workers serve at once; removed workers finish the request they hold first.
        """
        return self._invoke(calls.scale_workers, workers)


def _sha256_and_size(data) -> tuple[bytes, int]:
    """The SHA-256 digest (32 raw bytes) and the size of bytes or of a file, which is read in pieces."""
    digest, size = hashlib.sha256(), 0
    for chunk in _chunks(data, DEFAULT_CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return digest.digest(), size


def _chunks(data, chunk_size: int) -> Iterator[bytes]:
    """The content of bytes or of a file (a path) in pieces of chunk_size bytes; one empty piece if it is empty."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        yield from (bytes(view[start:start + chunk_size]) for start in range(0, max(len(view), 1), chunk_size))
        return
    with open(os.fspath(data), "rb") as file:
        chunk = file.read(chunk_size)
        yield chunk
        while chunk := file.read(chunk_size):
            yield chunk


def _marking_last(items: Iterator) -> Iterator[tuple]:
    """Yields (item, whether it is the last one) for each item of a non-empty iterator."""
    previous = next(items)
    for item in items:
        yield previous, False
        previous = item
    yield previous, True
