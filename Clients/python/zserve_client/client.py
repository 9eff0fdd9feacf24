"""Clients for the ZServe wire protocol (docs/protocol.md).

A request is the frames [empty][method][request message]; the reply is [empty][zserve.v1.Status][response message],
the response frame being empty unless the status code is OK.
"""

import hashlib
import os
import uuid
from collections.abc import Iterator

import zmq
from google.protobuf.message import DecodeError

from .protos import inference_pb2, model_control_pb2, status_pb2
from .tensors import from_tensor, to_tensor



def _method_paths() -> dict[str, str]:
    """Every RPC's gRPC path ("zserve.v1.Inference/Predict"), read from the services in Protos/ as compiled."""
    services = [inference_pb2.DESCRIPTOR.services_by_name["Inference"],
                model_control_pb2.DESCRIPTOR.services_by_name["ModelControl"]]
    return {method.name: f"{service.full_name}/{method.name}" for service in services for method in service.methods}


METHODS = _method_paths()
PREDICT = METHODS["Predict"]
MODEL_METADATA = METHODS["ModelMetadata"]
SERVER_READY = METHODS["ServerReady"]
MODEL_READY = METHODS["ModelReady"]
LIST_MODELS = METHODS["ListModels"]
MODEL_STATUS = METHODS["ModelStatus"]
PUSH_MODEL = METHODS["PushModel"]
LOAD_MODEL = METHODS["LoadModel"]
UNLOAD_MODEL = METHODS["UnloadModel"]
SET_LABEL = METHODS["SetLabel"]
ROLLBACK = METHODS["Rollback"]
SCALE_WORKERS = METHODS["ScaleWorkers"]
DEFAULT_CHUNK_SIZE = 4 << 20


class ZServeError(Exception):
    """A reply whose status is not OK; a reply that breaks the protocol is reported with code INTERNAL.

    `code_name` is the gRPC code name (e.g. "NOT_FOUND"); `request_id` is the id the server echoed, "" if none.
    """

    def __init__(self, code_name: str, message: str, request_id: str = ""):
        super().__init__(f"{code_name}: {message}")
        self.code_name = code_name
        self.message = message
        self.request_id = request_id


class ZServeTimeout(ZServeError, TimeoutError):
    """No reply within the client's timeout: code DEADLINE_EXCEEDED, as the Swift and C clients report it.

    Also a TimeoutError, so `except TimeoutError` keeps working.
    """

    def __init__(self, message: str):
        super().__init__("DEADLINE_EXCEEDED", message)


class _RequestReplyClient:
    """One REQ socket: one request at a time, each waiting at most timeout_ms for its reply.

    After a timeout the socket is replaced (a REQ socket cannot send again before it has received), so the client
    stays usable; a late reply to the abandoned request is discarded.
    """

    def __init__(self, endpoint: str, timeout_ms: int, context: zmq.Context | None):
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self._context = context or zmq.Context.instance()
        self._socket = _connect(self._context, zmq.REQ, endpoint)

    def close(self) -> None:
        """Closes the socket, dropping any unsent request."""
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def list_models(self) -> model_control_pb2.ListModelsResponse:
        """Returns every model (versions and their states, default version, labels) and the number of workers."""
        return self._call(LIST_MODELS, model_control_pb2.ListModelsRequest(), model_control_pb2.ListModelsResponse)

    def model_status(self, model: str) -> model_control_pb2.ModelInfo:
        """Returns one model's versions and their states, default version and labels."""
        request = model_control_pb2.ModelStatusRequest(model=model)
        return self._call(MODEL_STATUS, request, model_control_pb2.ModelStatusResponse).model

    def _call(self, method: str, request, response_type):
        """Sends one request and returns its response message."""
        self._socket.send_multipart([method.encode(), request.SerializeToString()])
        if not self._socket.poll(self.timeout_ms):
            self._socket.close()
            self._socket = _connect(self._context, zmq.REQ, self.endpoint)
            raise ZServeTimeout(f"no reply to {method} from {self.endpoint} within {self.timeout_ms} ms")
        return _parse_reply(self._socket.recv_multipart(), response_type)


class Client(_RequestReplyClient):
    """A blocking client of the frontend over one REQ socket (see _RequestReplyClient for timeouts)."""

    def __init__(self, endpoint: str, timeout_ms: int = 10_000, context: zmq.Context | None = None):
        super().__init__(endpoint, timeout_ms, context)

    def predict(self, model: str, inputs: dict, version: int | None = None, label: str = "",
                request_id: str | None = None, timeout_us: int = 0, output_names=()) -> tuple[int, dict]:
        """Runs a model on named numpy arrays; returns (the version that computed it, {output name: array})."""
        request = predict_request(model, inputs, version, label, request_id, timeout_us, output_names)
        return _prediction(self._call(PREDICT, request, inference_pb2.PredictResponse))

    def model_metadata(self, model: str, version: int | None = None,
                       label: str = "") -> inference_pb2.ModelMetadataResponse:
        """Returns the selected version's input and output specs (-1 marks a dimension of any size)."""
        request = inference_pb2.ModelMetadataRequest(model=_model_spec(model, version, label))
        return self._call(MODEL_METADATA, request, inference_pb2.ModelMetadataResponse)

    def server_ready(self) -> bool:
        """Whether the server is ready to serve."""
        return self._call(SERVER_READY, inference_pb2.ServerReadyRequest(), inference_pb2.ServerReadyResponse).ready

    def model_ready(self, model: str, version: int | None = None, label: str = "") -> bool:
        """Whether the selected model version is ready."""
        request = inference_pb2.ModelReadyRequest(model=_model_spec(model, version, label))
        return self._call(MODEL_READY, request, inference_pb2.ModelReadyResponse).ready


class AdminClient(_RequestReplyClient):
    """A blocking client of the ModelControl service on the admin endpoint (--admin), over one REQ socket.

    The default timeout is long because a commit verifies, validates and warms up the model before it replies.
    """

    def __init__(self, endpoint: str, timeout_ms: int = 120_000, context: zmq.Context | None = None):
        super().__init__(endpoint, timeout_ms, context)

    def push_model(self, model: str, data, version: int = 0, labels=(), metadata: dict | None = None,
                   warmup_inputs: dict | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[int, int]:
        """Uploads a model (bytes, or the path of an ONNX file) in chunks and publishes it.

        version 0 asks for one more than the highest version on disk; labels are pointed at the version once it is
        live; metadata is stored next to it; warmup_inputs ({input name: array}) replace the generated warm-up
        inputs. Returns (the version assigned, its VersionState).
        """
        digest, total_size = _sha256_and_size(data)
        opening = {
            "model": model, "version": version, "sha256": digest, "total_size": total_size, "labels": labels,
            "metadata": metadata or {},
            "warmup_inputs": [to_tensor(name, array) for name, array in (warmup_inputs or {}).items()],
        }
        upload_id, offset = "", 0
        for chunk, last in _marking_last(_chunks(data, chunk_size)):
            response = self.push_chunk(upload_id=upload_id, offset=offset, data=chunk, commit=last,
                                       **({} if upload_id else opening))
            upload_id, offset = response.upload_id, offset + len(chunk)
        return response.version, response.state

    def push_chunk(self, **fields) -> model_control_pb2.PushModelResponse:
        """Sends one PushModel call made of the given PushModelRequest fields, as they are.

        The low-level step of push_model, for callers that drive an upload themselves: the first call (no upload_id)
        carries model, version, sha256, total_size, ...; later calls carry upload_id, offset and data; the last sets
        commit.
        """
        request = model_control_pb2.PushModelRequest(**fields)
        return self._call(PUSH_MODEL, request, model_control_pb2.PushModelResponse)

    def load_model(self, model: str, version: int) -> model_control_pb2.ModelInfo:
        """Loads a version that is on disk; returns the model's status."""
        request = model_control_pb2.LoadModelRequest(model=model, version=version)
        return self._call(LOAD_MODEL, request, model_control_pb2.LoadModelResponse).model

    def unload_model(self, model: str, version: int) -> model_control_pb2.ModelInfo:
        """Stops serving a version (it stays on disk); returns the model's status."""
        request = model_control_pb2.UnloadModelRequest(model=model, version=version)
        return self._call(UNLOAD_MODEL, request, model_control_pb2.UnloadModelResponse).model

    def set_label(self, model: str, label: str, version: int, weight: int = 0) -> model_control_pb2.ModelInfo:
        """Points a label at a version (0 removes it) with a traffic weight (0-100); returns the model's status."""
        request = model_control_pb2.SetLabelRequest(model=model, label=label, version=version, weight=weight)
        return self._call(SET_LABEL, request, model_control_pb2.SetLabelResponse).model

    def rollback(self, model: str) -> model_control_pb2.RollbackResponse:
        """Makes the previous available version the default; the response has from_version and to_version."""
        request = model_control_pb2.RollbackRequest(model=model)
        return self._call(ROLLBACK, request, model_control_pb2.RollbackResponse)


class PipelinedClient:
    """Keeps many Predict requests in flight over one DEALER socket; replies come in any order, matched by id."""

    def __init__(self, endpoint: str, timeout_ms: int = 10_000, context: zmq.Context | None = None):
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self._socket = _connect(context or zmq.Context.instance(), zmq.DEALER, endpoint)

    def close(self) -> None:
        """Closes the socket, dropping unsent requests and unread replies."""
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def send_predict(self, model: str, inputs: dict, version: int | None = None, label: str = "",
                     request_id: str | None = None, timeout_us: int = 0, output_names=()) -> str:
        """Queues a Predict request without waiting for its reply; returns its request id (a new uuid if None)."""
        request = predict_request(model, inputs, version, label, request_id, timeout_us, output_names)
        self._socket.send_multipart([b"", PREDICT.encode(), request.SerializeToString()])
        return request.id

    def receive(self, timeout_ms: int | None = None) -> tuple[str, tuple[int, dict]]:
        """Returns (request id, (version, outputs)) of the next reply to arrive.

        Raises ZServeError for an error reply (its request_id tells which request failed) and ZServeTimeout
        (DEADLINE_EXCEEDED, also a TimeoutError) when no reply arrives within timeout_ms (default: the client's timeout).
        """
        timeout_ms = self.timeout_ms if timeout_ms is None else timeout_ms
        if not self._socket.poll(timeout_ms):
            raise ZServeTimeout(f"no reply from {self.endpoint} within {timeout_ms} ms")
        frames = self._socket.recv_multipart()
        if frames[0] != b"":
            raise ZServeError("INTERNAL", "malformed reply: the first frame is not the empty delimiter")
        response = _parse_reply(frames[1:], inference_pb2.PredictResponse)
        return response.id, _prediction(response)

    def gather(self, request_ids) -> dict:
        """Receives replies until each of request_ids is answered.

        Returns {request id: (version, outputs) or ZServeError}, including any other reply received meanwhile
        (an error for a request the server could not read is keyed ""). Raises ZServeTimeout like receive().
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


def predict_request(model: str, inputs: dict, version: int | None = None, label: str = "",
                    request_id: str | None = None, timeout_us: int = 0,
                    output_names=()) -> inference_pb2.PredictRequest:
    """Builds a PredictRequest from {input name: array}; a request id is generated when none is given."""
    return inference_pb2.PredictRequest(
        id=uuid.uuid4().hex if request_id is None else request_id,
        model=_model_spec(model, version, label),
        inputs=[to_tensor(name, array) for name, array in inputs.items()],
        output_names=output_names,
        timeout_us=timeout_us,
    )


def _model_spec(name: str, version: int | None, label: str) -> inference_pb2.ModelSpec:
    """Selects a pinned version, else a label, else the model's default version."""
    return inference_pb2.ModelSpec(name=name, version=version, label=label)


def _connect(context: zmq.Context, socket_type: int, endpoint: str) -> zmq.Socket:
    """Opens a socket that does not linger on close and connects it."""
    socket = context.socket(socket_type)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    return socket


def _parse_reply(frames: list, response_type):
    """Returns the response message of the reply frames [Status][response]; raises ZServeError unless OK."""
    if len(frames) != 2:
        raise ZServeError("INTERNAL", f"malformed reply: {len(frames)} frames after the delimiter, expected 2")
    status = _decode(status_pb2.Status, frames[0])
    if status.code != status_pb2.OK:
        raise ZServeError(_code_name(status.code), status.message, status.request_id)
    return _decode(response_type, frames[1])


def _decode(message_type, data: bytes):
    """Parses a message, reporting a payload that is not one as a ZServeError with code INTERNAL."""
    try:
        return message_type.FromString(data)
    except DecodeError as error:
        raise ZServeError(
            "INTERNAL", f"malformed reply: not a {message_type.DESCRIPTOR.full_name}: {error}"
        ) from error


def _code_name(code: int) -> str:
    """The name of a gRPC code, or "CODE_<number>" for a number zserve.v1.Code does not define."""
    return status_pb2.Code.Name(code) if code in status_pb2.Code.values() else f"CODE_{code}"


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


def _prediction(response: inference_pb2.PredictResponse) -> tuple[int, dict]:
    """Turns a PredictResponse into (version, {output name: array})."""
    return response.version, {tensor.name: from_tensor(tensor) for tensor in response.outputs}
