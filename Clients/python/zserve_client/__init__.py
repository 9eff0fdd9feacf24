"""Python client for ZServe: ONNX models served over ZeroMQ with protobuf messages (see docs/protocol.md)."""

from .client import AdminClient, Client, PipelinedClient, ZServeError, predict_request
from .tensors import from_tensor, to_tensor

__all__ = ["AdminClient", "Client", "PipelinedClient", "ZServeError", "from_tensor", "predict_request", "to_tensor"]
