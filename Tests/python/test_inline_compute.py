"""`--inline-compute-us`: small models computed on the broker thread answer exactly what workers answer.

Environment: ZSERVE_BIN (required, else skipped)."""

import re
import shutil
import urllib.request

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import zserve_testing
from zserve_client import Client, PipelinedClient
from zserve_testing import EXAMPLE_REPOSITORY, run_server

zserve_testing.skip_without_binary()

MODEL = "purchase_propensity"
MODEL_FILE = EXAMPLE_REPOSITORY / MODEL / "1" / "model.onnx"


def computed_on_broker(metrics: str) -> float:
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(r"^zserve_broker_computed_requests_total (\S+)$", text, re.MULTILINE)
    assert found, text
    return float(found.group(1))


@pytest.mark.parametrize("inline_us", [0, 1_000_000], ids=["workers-only", "inline"])
def test_requests_get_the_reference_outputs_whoever_computes_them(inline_us):
    reference = onnxruntime.InferenceSession(str(MODEL_FILE), providers=["CPUExecutionProvider"])
    input_name = reference.get_inputs()[0].name
    width = reference.get_inputs()[0].shape[1]
    generator = np.random.default_rng(7)
    inputs = {f"r{i}": generator.normal(size=(1 + i % 3, width)).astype(np.float32) for i in range(300)}
    one_by_one = list(inputs)[:100]
    with run_server(EXAMPLE_REPOSITORY, "--workers", "2", "--max-batch-size", "8", "--inline-compute-us",
                    str(inline_us), "--metrics-listen", "127.0.0.1:0") as server:
        replies = {}
        with Client(server.listen, timeout_ms=10_000) as client:
            # One at a time: the broker loop is idle between requests and no worker is busy.
            for request_id in one_by_one:
                replies[request_id] = client.predict(MODEL, {input_name: inputs[request_id]}, request_id=request_id)
        computed_one_by_one = computed_on_broker(server.metrics)
        with PipelinedClient(server.listen, timeout_ms=10_000) as pipelined:
            # A burst: workers busy, the loop busy; whoever computes, every request gets its own rows back.
            for request_id in list(inputs)[100:]:
                pipelined.send_predict(MODEL, {input_name: inputs[request_id]}, request_id=request_id)
            replies.update(pipelined.receive() for _ in range(200))
    assert replies.keys() == inputs.keys()
    for request_id, (version, outputs) in replies.items():
        expected = reference.run(None, {input_name: inputs[request_id]})
        assert version == 1
        for name, value in zip([output.name for output in reference.get_outputs()], expected):
            np.testing.assert_allclose(outputs[name], value, rtol=1e-5, atol=1e-6, err_msg=request_id)
    if inline_us:
        # The first request measures the model on a worker; the later ones fit the limit and mostly find the loop
        # idle (a loaded machine that preempts the broker thread makes it look busy now and then).
        assert computed_one_by_one >= len(one_by_one) / 2, computed_one_by_one
    else:
        assert computed_one_by_one == 0



def slow_model(size: int = 512, squarings: int = 48) -> bytes:
    """x [1, 1] -> h [1, size] -> its Gram matrix [size, size] squared `squarings` times (2·size³ flops each) -> a
    sum [1, 1]: a few hundred milliseconds per run, whatever the machine's kernels."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Gemm", ["h", "h"], ["g0"], transA=1)]
    nodes += [helper.make_node("MatMul", [f"g{i}", f"g{i}"], [f"g{i + 1}"]) for i in range(squarings)]
    nodes.append(helper.make_node("ReduceSum", [f"g{squarings}"], ["y"], keepdims=1))
    graph = helper.make_graph(
        nodes, "slow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        [numpy_helper.from_array(np.full((1, size), 1e-3, dtype=np.float32), "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_a_queue_freed_at_once_is_not_computed_request_after_request_on_the_broker(tmp_path):
    """The broker computes at most one batch per wake-up. A queue that built up behind a busy worker, freed when
    the worker finished, was once computed on the broker thread request after request — each result freeing the
    worker for the next — by recursion until the thread's stack ran out (SIGSEGV under load). Every request queued
    behind a slow one is answered with the reference outputs, and the server keeps serving."""
    repository = tmp_path / "repository"
    shutil.copytree(EXAMPLE_REPOSITORY / MODEL, repository / MODEL)
    (repository / "slow" / "1").mkdir(parents=True)
    (repository / "slow" / "1" / "model.onnx").write_bytes(slow_model())
    reference = onnxruntime.InferenceSession(str(MODEL_FILE), providers=["CPUExecutionProvider"])
    input_name = reference.get_inputs()[0].name
    rows = np.random.default_rng(11).normal(size=(1, reference.get_inputs()[0].shape[1])).astype(np.float32)
    expected = reference.run(None, {input_name: rows})
    with run_server(repository, "--workers", "1", "--inline-compute-us", "1000000", "--queue-capacity", "8192") as server:
        with Client(server.listen, timeout_ms=10_000) as client:
            for _ in range(20):  # measured on the worker once, then cheap enough to compute inline
                client.predict(MODEL, {input_name: rows})
        answered = {}
        with PipelinedClient(server.listen, timeout_ms=120_000) as pipelined:
            for round_ in range(2):
                # Not run yet since its warm-up, so the worker gets it; the burst queues behind it.
                pipelined.send_predict("slow", {"x": np.ones((1, 1), np.float32)}, request_id=f"slow-{round_}")
                for i in range(4000):
                    pipelined.send_predict(MODEL, {input_name: rows}, request_id=f"{round_}-{i}")
                answered.update(pipelined.receive() for _ in range(4001))
                assert len(answered) == 4001 * (round_ + 1)
                assert server.process.poll() is None, "the server died"
        with Client(server.listen, timeout_ms=10_000) as client:
            answered["after"] = client.predict(MODEL, {input_name: rows})
    for request_id in ["0-0", "1-3999", "after"]:
        for name, value in zip([output.name for output in reference.get_outputs()], expected):
            np.testing.assert_allclose(answered[request_id][1][name], value, rtol=1e-5, atol=1e-6, err_msg=request_id)
