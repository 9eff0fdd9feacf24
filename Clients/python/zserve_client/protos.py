"""The generated protobuf modules for zserve.v1 (made by Clients/python/generate.sh, not committed)."""

try:
    from zserve.v1 import inference_pb2, model_control_pb2, status_pb2, tensor_pb2
except ImportError as error:
    raise ImportError(
        "zserve_client needs the generated protobuf modules: run Clients/python/generate.sh"
    ) from error

__all__ = ["inference_pb2", "model_control_pb2", "status_pb2", "tensor_pb2"]
