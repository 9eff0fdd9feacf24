"""Python client for ZServe: ONNX models served over ZeroMQ with protobuf messages (see docs/protocol.md)."""

from .client import METHODS, AdminClient, Client, PipelinedClient, ZServeError, ZServeTimeout, predict_request
from .tensors import from_tensor, to_tensor

__all__ = ["METHODS", "AdminClient", "Client", "PipelinedClient", "ZServeError", "ZServeTimeout", "from_tensor", "predict_request", "to_tensor"]
