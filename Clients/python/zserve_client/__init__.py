"""Python client for ZServe: ONNX models served over ZeroMQ with protobuf messages (see docs/protocol.md).

Client (blocking), PipelinedClient (many requests in flight: predict_many), AsyncClient (asyncio) and AdminClient
(ModelControl). Each takes one endpoint or several servers, and resends read-only calls whose connection was lost
(failover.py). Every failure is a ZServeError carrying the gRPC status code name; ZServeTimeout is the
DEADLINE_EXCEEDED one.
"""

from .asyncio_client import AsyncClient
from .calls import METHODS, predict_request
from .client import AdminClient, Client
from .curve import CurveKeys
from .errors import ZServeError, ZServeTimeout
from .pipelined import PipelinedClient
from .tensors import from_tensor, to_tensor

__all__ = ["METHODS", "AdminClient", "AsyncClient", "Client", "CurveKeys", "PipelinedClient", "ZServeError", "ZServeTimeout",
           "from_tensor", "predict_request", "to_tensor"]
