"""int16, uint16, uint32 and uint64 tensors end to end: a real `zserve serve` with a model computing on each type,
the Python client and the JSON CLI sending and receiving them, dynamic batching stacking them, and a model whose
uint32 value reaches an operator that cannot take it refused at push with the node named, while the server keeps
serving. Expected values are numpy's, with the wrap-around and truncation ONNX specifies for integers.

Environment: ZSERVE_BIN (required).
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import zserve_testing
from zserve_client import AdminClient, Client, PipelinedClient, ZServeError
from zserve_client.protos import tensor_pb2
from zserve_testing import run_server

zserve_testing.skip_without_binary()

TIMEOUT_MS = 10_000
MODEL = "integers"
COLUMNS = 4
TYPES = {"a": np.int16, "b": np.uint16, "c": np.uint32, "d": np.uint64}
SHIFT = 3
MODULUS = 7
THRESHOLD = 1 << 40


def integer_model() -> onnx.ModelProto:
    """a int16, b uint16, c uint32, d uint64, each [N, 4]:
    sum = (a + a) * a (int16, wrapping), shifted = b << 3 (uint16), largest = max(c, uint32(b)),
    remainder = d mod 7, large = d > 2^40, as_int16 = int16(c) (keeps the low 16 bits)."""
    def value(name: str, elem: int) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, elem, ["N", COLUMNS])

    elem = {"a": TensorProto.INT16, "b": TensorProto.UINT16, "c": TensorProto.UINT32, "d": TensorProto.UINT64}
    nodes = [
        helper.make_node("Add", ["a", "a"], ["twice"]),
        helper.make_node("Mul", ["twice", "a"], ["sum"]),
        helper.make_node("BitShift", ["b", "shift"], ["shifted"], direction="LEFT"),
        helper.make_node("Cast", ["b"], ["b32"], to=TensorProto.UINT32),
        helper.make_node("Max", ["c", "b32"], ["largest"]),
        helper.make_node("Mod", ["d", "modulus"], ["remainder"]),
        helper.make_node("Greater", ["d", "threshold"], ["large"]),
        helper.make_node("Cast", ["c"], ["as_int16"], to=TensorProto.INT16),
    ]
    initializers = [
        numpy_helper.from_array(np.array(SHIFT, dtype=np.uint16), "shift"),
        numpy_helper.from_array(np.array(MODULUS, dtype=np.uint64), "modulus"),
        numpy_helper.from_array(np.array(THRESHOLD, dtype=np.uint64), "threshold"),
    ]
    outputs = [value("sum", TensorProto.INT16), value("shifted", TensorProto.UINT16),
               value("largest", TensorProto.UINT32), value("remainder", TensorProto.UINT64),
               value("large", TensorProto.BOOL), value("as_int16", TensorProto.INT16)]
    graph = helper.make_graph(nodes, MODEL, [value(name, elem[name]) for name in TYPES], outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model, full_check=True)
    return model


def expected(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What ONNX specifies for `integer_model`, computed with numpy's wrapping integer arithmetic."""
    a, b, c, d = (inputs[name] for name in TYPES)
    with np.errstate(over="ignore"):
        total = ((a + a) * a).astype(np.int16)
        shifted = (b << np.uint16(SHIFT)).astype(np.uint16)
    return {
        "sum": total,
        "shifted": shifted,
        "largest": np.maximum(c, b.astype(np.uint32)),
        "remainder": d % np.uint64(MODULUS),
        "large": d > np.uint64(THRESHOLD),
        "as_int16": c.astype(np.int16),
    }


def random_inputs(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    """Values over each type's whole range, extremes included."""
    inputs = {}
    for name, dtype in TYPES.items():
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size=(rows, COLUMNS), dtype=dtype, endpoint=True)
        values.flat[0] = info.max
        values.flat[-1] = info.min
        inputs[name] = values
    return inputs


def assert_exact(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    assert sorted(outputs) == sorted(reference)
    for name, want in reference.items():
        got = outputs[name]
        assert got.dtype == want.dtype, f"{name}: {got.dtype} ≠ {want.dtype}"
        np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    (root / MODEL / "1").mkdir(parents=True)
    onnx.save(integer_model(), root / MODEL / "1" / "model.onnx")
    return root


def test_each_type_is_computed_and_described_on_the_wire(repository) -> None:
    """One request through the Python client: every output equals numpy's; the metadata names each type."""
    inputs = random_inputs(np.random.default_rng(1), 3)
    with run_server(repository) as server, Client(server.listen, timeout_ms=TIMEOUT_MS) as client:
        version, outputs = client.predict(MODEL, inputs)
        assert version == 1
        assert_exact(outputs, expected(inputs))
        metadata = client.model_metadata(MODEL)
        declared = {spec.name: spec.dtype for spec in [*metadata.inputs, *metadata.outputs]}
        assert declared["a"] == tensor_pb2.DATA_TYPE_INT16
        assert declared["b"] == tensor_pb2.DATA_TYPE_UINT16
        assert declared["c"] == tensor_pb2.DATA_TYPE_UINT32
        assert declared["d"] == tensor_pb2.DATA_TYPE_UINT64
        assert declared["as_int16"] == tensor_pb2.DATA_TYPE_INT16


def test_batched_requests_get_their_own_rows(repository) -> None:
    """48 pipelined requests of 1–3 rows, stacked by the batcher, each answered with its own rows."""
    rng = np.random.default_rng(2)
    requests = [random_inputs(rng, int(rng.integers(1, 4))) for _ in range(48)]
    with run_server(repository, "--workers", "2", "--max-batch-size", "16", "--max-queue-delay-us", "2000") as server, \
            PipelinedClient(server.listen, timeout_ms=TIMEOUT_MS) as client:
        answers = client.predict_many(MODEL, requests, max_in_flight=48)
    for inputs, (version, outputs) in zip(requests, answers):
        assert version == 1
        assert_exact(outputs, expected(inputs))


def test_json_cli_reads_and_writes_each_type(repository) -> None:
    """`zserve predict --json` takes the type names and prints exact integers (uint64 beyond 2^53 included)."""
    big = (1 << 64) - 3
    request = {
        "a": {"dtype": "int16", "shape": [1, COLUMNS], "data": [-32768, -1, 2, 32767]},
        "b": {"dtype": "uint16", "shape": [1, COLUMNS], "data": [0, 1, 8191, 65535]},
        "c": {"dtype": "uint32", "shape": [1, COLUMNS], "data": [0, 70000, 65535, 4294967295]},
        "d": {"dtype": "uint64", "shape": [1, COLUMNS], "data": [0, 6, 1 << 41, big]},
    }
    inputs = {name: np.array(tensor["data"], dtype=TYPES[name]).reshape(1, COLUMNS) for name, tensor in request.items()}
    want = expected(inputs)
    with run_server(repository) as server:
        result = subprocess.run([os.environ["ZSERVE_BIN"], "predict", "--endpoint", server.listen, "--model", MODEL, "--json", "-"],
                                input=json.dumps(request), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)["outputs"]
    names = {"sum": "int16", "shifted": "uint16", "largest": "uint32", "remainder": "uint64", "large": "bool",
             "as_int16": "int16"}
    for name, dtype in names.items():
        assert outputs[name]["dtype"] == dtype
        assert outputs[name]["data"] == want[name].reshape(-1).tolist(), name


def test_a_type_an_operator_cannot_take_is_refused_at_push(repository, tmp_path) -> None:
    """uint32 into Relu: the push is INVALID_ARGUMENT naming the node and the type, nothing is published, and the
    served model keeps answering."""
    x = helper.make_tensor_value_info("x", TensorProto.UINT32, ["N"])
    y = helper.make_tensor_value_info("y", TensorProto.UINT32, ["N"])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="rectify")], "relu", [x], [y])
    bad = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), bad)
    inputs = random_inputs(np.random.default_rng(3), 2)
    with run_server(repository, "--admin", "tcp://127.0.0.1:0") as server, \
            AdminClient(server.admin, timeout_ms=TIMEOUT_MS) as admin, Client(server.listen, timeout_ms=TIMEOUT_MS) as client:
        with pytest.raises(ZServeError) as refused:
            admin.push_model("relu", str(bad))
        assert refused.value.code_name == "INVALID_ARGUMENT"
        assert "rectify" in refused.value.message and "uint32" in refused.value.message
        assert_exact(client.predict(MODEL, inputs)[1], expected(inputs))
