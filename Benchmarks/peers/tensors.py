"""zserve.v1 tensors <-> numpy arrays, shared by the Python peers (the way a user of onnxruntime would convert)."""

import numpy as np

from zserve.v1 import tensor_pb2

# zserve.v1.DataType numbers (ONNX's) -> numpy dtypes.
DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16,
          11: np.float64}
WIRE_TYPES = {np.dtype(dtype): number for number, dtype in DTYPES.items()}


def to_array(tensor) -> np.ndarray:
    """The array a wire tensor holds (a view of its bytes)."""
    return np.frombuffer(tensor.raw_data, dtype=DTYPES[tensor.dtype]).reshape(tuple(tensor.shape))


def to_tensor(name: str, array: np.ndarray):
    """A wire tensor holding `array`."""
    array = np.ascontiguousarray(array)
    return tensor_pb2.Tensor(name=name, dtype=WIRE_TYPES[array.dtype], shape=array.shape, raw_data=array.tobytes())


def session(model_path: str):
    """An onnxruntime CPU session with one intra-op thread (the server and the load generator share two cores, and
    every system here computes on one thread per worker)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
