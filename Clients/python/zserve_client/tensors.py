"""Conversion between numpy arrays and zserve.v1.Tensor.

Numeric and bool arrays travel as dtype + shape + raw little-endian row-major bytes; string arrays (numpy ``U``,
``S`` or ``object`` arrays of ``str``/``bytes``) as DATA_TYPE_STRING with one UTF-8 ``string_data`` entry per
element, and come back as ``object`` arrays of ``str``.
"""

import math

import numpy as np

from .protos import tensor_pb2

# numpy dtype codes without byte order ("f4", "i8", ...) to DataType numbers (ONNX's).
_DATA_TYPES = {
    "f4": tensor_pb2.DATA_TYPE_FLOAT32,
    "u1": tensor_pb2.DATA_TYPE_UINT8,
    "i1": tensor_pb2.DATA_TYPE_INT8,
    "u2": tensor_pb2.DATA_TYPE_UINT16,
    "i2": tensor_pb2.DATA_TYPE_INT16,
    "i4": tensor_pb2.DATA_TYPE_INT32,
    "u4": tensor_pb2.DATA_TYPE_UINT32,
    "u8": tensor_pb2.DATA_TYPE_UINT64,
    "i8": tensor_pb2.DATA_TYPE_INT64,
    "b1": tensor_pb2.DATA_TYPE_BOOL,
    "f2": tensor_pb2.DATA_TYPE_FLOAT16,
    "f8": tensor_pb2.DATA_TYPE_FLOAT64,
}
_NUMPY_DTYPES = {data_type: np.dtype("<" + code) for code, data_type in _DATA_TYPES.items()}


def _utf8(name: str, value) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"tensor {name!r}: a string tensor holds str or bytes, not {type(value).__name__}")


def to_tensor(name: str, array) -> tensor_pb2.Tensor:
    """Encodes an array as a Tensor; raises TypeError for a dtype the protocol has no DataType for."""
    array = np.asarray(array)
    if array.dtype.kind in ("U", "S", "O"):
        return tensor_pb2.Tensor(
            name=name,
            dtype=tensor_pb2.DATA_TYPE_STRING,
            shape=array.shape,
            string_data=[_utf8(name, value) for value in array.reshape(-1).tolist()],
        )
    data_type = _DATA_TYPES.get(array.dtype.str[1:])
    if data_type is None:
        raise TypeError(f"tensor {name!r}: dtype {array.dtype} is not supported by zserve.v1.DataType")
    little_endian = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return tensor_pb2.Tensor(name=name, dtype=data_type, shape=array.shape, raw_data=little_endian.tobytes())


def from_tensor(tensor: tensor_pb2.Tensor) -> np.ndarray:
    """Decodes a Tensor into a writable array in native byte order (strings: an object array of str); raises
    ValueError if it is inconsistent."""
    if tensor.dtype == tensor_pb2.DATA_TYPE_STRING:
        count = math.prod(tensor.shape)
        if len(tensor.string_data) != count or tensor.raw_data:
            raise ValueError(
                f"tensor {tensor.name!r}: {len(tensor.string_data)} strings, shape {list(tensor.shape)} needs {count}"
            )
        strings = np.empty(count, dtype=object)
        for index, value in enumerate(tensor.string_data):
            strings[index] = value.decode("utf-8")
        return strings.reshape(tuple(tensor.shape))
    dtype = _NUMPY_DTYPES.get(tensor.dtype)
    if dtype is None:
        raise ValueError(f"tensor {tensor.name!r}: unsupported dtype {tensor.dtype}")
    expected = math.prod(tensor.shape) * dtype.itemsize
    if len(tensor.raw_data) != expected:
        raise ValueError(
            f"tensor {tensor.name!r}: {len(tensor.raw_data)} bytes, shape {list(tensor.shape)} needs {expected}"
        )
    array = np.frombuffer(tensor.raw_data, dtype=dtype).reshape(tuple(tensor.shape))
    return array.astype(dtype.newbyteorder("="))
