"""The generated protobuf modules for zserve.v1 (committed; Clients/python/generate.sh regenerates them)."""

from zserve.v1 import inference_pb2, model_control_pb2, status_pb2, tensor_pb2

__all__ = ["inference_pb2", "model_control_pb2", "status_pb2", "tensor_pb2"]
