"""The RPCs as values: method path, request message, response type and what a caller gets back (docs/protocol.md).

Every client (blocking, pipelining, asyncio, admin) builds its calls here and reads replies with `Call.result_of`,
so they agree on messages, defaults and error reporting; they differ only in how frames travel.
"""

import dataclasses
import uuid
from collections.abc import Callable

from google.protobuf.message import DecodeError, Message

from .errors import ZServeError
from .protos import inference_pb2, model_control_pb2, status_pb2
from .tensors import from_tensor, to_tensor


def _method_paths() -> dict[str, str]:
    """Every RPC's gRPC path ("zserve.v1.Inference/Predict"), read from the services in Protos/ as compiled."""
    services = [inference_pb2.DESCRIPTOR.services_by_name["Inference"],
                model_control_pb2.DESCRIPTOR.services_by_name["ModelControl"]]
    return {method.name: f"{service.full_name}/{method.name}" for service in services for method in service.methods}


METHODS = _method_paths()


def _unchanged(response):
    return response


@dataclasses.dataclass(frozen=True)
class Call:
    """One RPC to send: its method path (a key of METHODS), request message, response type, and `result`, which
    turns the response message into what the client method returns."""

    method: str
    request: Message
    response_type: type
    result: Callable = _unchanged

    @property
    def request_id(self) -> str:
        """The Predict request's id; "" for the other methods, whose requests carry none."""
        return self.request.id if self.method == "Predict" else ""

    def frames(self) -> list[bytes]:
        """[method][request]: the frames after the empty delimiter."""
        return [METHODS[self.method].encode(), self.request.SerializeToString()]

    def result_of(self, reply: list[bytes]):
        """The caller's result from the reply frames [Status][response]; raises ZServeError unless the code is OK."""
        if len(reply) != 2:
            raise ZServeError("INTERNAL", f"malformed reply: {len(reply)} frames after the delimiter, expected 2")
        status = _decode(status_pb2.Status, reply[0])
        if status.code != status_pb2.OK:
            raise ZServeError(_code_name(status.code), status.message, status.request_id or self.request_id)
        return self.result(_decode(self.response_type, reply[1]))


def predict_request(model: str, inputs: dict, version: int | None = None, label: str = "",
                    request_id: str | None = None, timeout_us: int = 0,
                    output_names=()) -> inference_pb2.PredictRequest:
    """Builds a PredictRequest from {input name: array}; a request id is generated when none is given.

    Raises ZServeError INVALID_ARGUMENT for an array whose dtype zserve.v1.DataType cannot carry.
    """
    return inference_pb2.PredictRequest(
        id=uuid.uuid4().hex if request_id is None else request_id,
        model=model_spec(model, version, label),
        inputs=tensors(inputs, request_id or ""),
        output_names=output_names,
        timeout_us=timeout_us,
    )


def tensors(arrays: dict, request_id: str = "") -> list:
    """Encodes {name: array} as Tensors; raises ZServeError INVALID_ARGUMENT for a dtype DataType cannot carry."""
    try:
        return [to_tensor(name, array) for name, array in arrays.items()]
    except TypeError as error:
        raise ZServeError("INVALID_ARGUMENT", str(error), request_id) from error


def model_spec(name: str, version: int | None, label: str) -> inference_pb2.ModelSpec:
    """Selects a pinned version, else a label, else the model's default version."""
    return inference_pb2.ModelSpec(name=name, version=version, label=label)


def predict(model: str, inputs: dict, version: int | None = None, label: str = "", request_id: str | None = None,
            timeout_us: int = 0, output_names=()) -> Call:
    """Predict (see predict_request); the result is (the version that computed it, {output name: numpy array})."""
    request = predict_request(model, inputs, version, label, request_id, timeout_us, output_names)
    return Call("Predict", request, inference_pb2.PredictResponse, prediction)


def model_metadata(model: str, version: int | None, label: str) -> Call:
    """ModelMetadata; the result is the ModelMetadataResponse."""
    request = inference_pb2.ModelMetadataRequest(model=model_spec(model, version, label))
    return Call("ModelMetadata", request, inference_pb2.ModelMetadataResponse)


def server_ready() -> Call:
    """ServerReady; the result is a bool."""
    return Call("ServerReady", inference_pb2.ServerReadyRequest(), inference_pb2.ServerReadyResponse,
                lambda response: response.ready)


def model_ready(model: str, version: int | None, label: str) -> Call:
    """ModelReady; the result is a bool."""
    request = inference_pb2.ModelReadyRequest(model=model_spec(model, version, label))
    return Call("ModelReady", request, inference_pb2.ModelReadyResponse, lambda response: response.ready)


def list_models() -> Call:
    """ListModels; the result is the ListModelsResponse (models and the worker count)."""
    return Call("ListModels", model_control_pb2.ListModelsRequest(), model_control_pb2.ListModelsResponse)


def model_status(model: str) -> Call:
    """ModelStatus; the result is the model's ModelInfo."""
    return Call("ModelStatus", model_control_pb2.ModelStatusRequest(model=model),
                model_control_pb2.ModelStatusResponse, _model_info)


def push_model(**fields) -> Call:
    """PushModel with the given PushModelRequest fields; the result is the PushModelResponse."""
    return Call("PushModel", model_control_pb2.PushModelRequest(**fields), model_control_pb2.PushModelResponse)


def load_model(model: str, version: int) -> Call:
    """LoadModel; the result is the model's ModelInfo."""
    return Call("LoadModel", model_control_pb2.LoadModelRequest(model=model, version=version),
                model_control_pb2.LoadModelResponse, _model_info)


def unload_model(model: str, version: int) -> Call:
    """UnloadModel; the result is the model's ModelInfo."""
    return Call("UnloadModel", model_control_pb2.UnloadModelRequest(model=model, version=version),
                model_control_pb2.UnloadModelResponse, _model_info)


def set_label(model: str, label: str, version: int, weight: int) -> Call:
    """SetLabel; the result is the model's ModelInfo."""
    request = model_control_pb2.SetLabelRequest(model=model, label=label, version=version, weight=weight)
    return Call("SetLabel", request, model_control_pb2.SetLabelResponse, _model_info)


def rollback(model: str) -> Call:
    """Rollback; the result is the RollbackResponse (model, from_version, to_version)."""
    return Call("Rollback", model_control_pb2.RollbackRequest(model=model), model_control_pb2.RollbackResponse)


def scale_workers(workers: int) -> Call:
    """ScaleWorkers; the result is the ScaleWorkersResponse (previous and new worker count)."""
    return Call("ScaleWorkers", model_control_pb2.ScaleWorkersRequest(workers=workers),
                model_control_pb2.ScaleWorkersResponse)


def prediction(response: inference_pb2.PredictResponse) -> tuple[int, dict]:
    """Turns a PredictResponse into (version, {output name: array}); an inconsistent tensor is INTERNAL."""
    try:
        return response.version, {tensor.name: from_tensor(tensor) for tensor in response.outputs}
    except ValueError as error:
        raise ZServeError("INTERNAL", f"malformed reply: {error}", response.id) from error


def _model_info(response) -> model_control_pb2.ModelInfo:
    return response.model


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
