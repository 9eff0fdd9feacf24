"""String tensors end to end: a real `zserve serve` with string models from the fixtures (a skl2onnx pipeline over
categorical strings with string class labels, string operators), the Python client sending and receiving numpy
string arrays, dynamic batching stacking string inputs and splitting string outputs, and malformed string inputs
answered INVALID_ARGUMENT while the server keeps serving. Every answer is compared with onnxruntime's.

Environment: ZSERVE_BIN (required), ZSERVE_FIXTURES (optional: else the fixtures are generated here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import zmq

import zserve_testing
from zserve_client import AdminClient, Client, PipelinedClient, ZServeError
from zserve_client.protos import inference_pb2, status_pb2, tensor_pb2
from zserve_testing import run_server, start_server

zserve_testing.skip_without_binary()

PIPELINE = "zoo_sklearn_string_pipeline"
OPERATORS = "ml_string_operators"
CASTS = "ml_cast_strings"
MODELS = (PIPELINE, OPERATORS, CASTS, "ml_label_encoder_int_to_string")
REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 10_000
PREDICT = b"zserve.v1.Inference/Predict"
STRING = tensor_pb2.DATA_TYPE_STRING


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """A repository of the string models: copied from ZSERVE_FIXTURES, or built by make_test_models.py."""
    fixtures = os.environ.get("ZSERVE_FIXTURES")
    if not fixtures:
        fixtures = tmp_path_factory.mktemp("fixtures")
        for prefix in ("zoo_sklearn_string", "ml_string", "ml_cast_strings", "ml_label_encoder_int_to_string"):
            scratch = tmp_path_factory.mktemp("part")
            subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "make_test_models.py"), "--out", str(scratch),
                            "--only", prefix], check=True, capture_output=True)
            shutil.copytree(scratch / "repository", Path(fixtures) / "repository", dirs_exist_ok=True)
    repository = tmp_path_factory.mktemp("repository")
    for model in MODELS:
        shutil.copytree(Path(fixtures) / "repository" / model, repository / model)
    return repository


@pytest.fixture(scope="module")
def server(repository):
    """Two workers that stack up to 16 queued requests of a model into one run."""
    with start_server(repository, "--workers", "2", "--max-batch-size", "16", "--max-queue-delay-us", "2000") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def client(server):
    with Client(server, timeout_ms=TIMEOUT_MS) as client:
        yield client


def onnxruntime_outputs(repository: Path, model: str, feeds: dict) -> dict:
    session = ort.InferenceSession(str(repository / model / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


def customers(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Categorical rows as the pipeline takes them: channel, country (one it never saw), price band."""
    channels = ["web", "app", "store", "marketplace", "phone"]
    countries = ["United Kingdom", "Germany", "France", "EIRE", "Spain", "Netherlands", "Österreich"]
    bands = ["< 1 £", "1–5 £", "5–20 £", "> 20 £"]
    return np.stack([rng.choice(channels, rows), rng.choice(countries, rows), rng.choice(bands, rows)],
                    axis=1).astype(object)


def assert_same(outputs: dict, expected: dict) -> None:
    assert sorted(outputs) == sorted(expected)
    for name, want in expected.items():
        got = outputs[name]
        assert got.shape == want.shape, name
        if want.dtype == object:
            assert got.dtype == object and got.tolist() == want.tolist(), name
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_metadata_names_string_inputs_and_labels(client) -> None:
    metadata = client.model_metadata(PIPELINE)
    assert [(spec.name, spec.dtype, list(spec.shape)) for spec in metadata.inputs] == [("x", STRING, [-1, 3])]
    assert {spec.name: spec.dtype for spec in metadata.outputs} == {
        "label": STRING, "probabilities": tensor_pb2.DATA_TYPE_FLOAT32}


def test_pipeline_over_strings_answers_string_labels_as_onnxruntime(client, repository) -> None:
    rows = customers(np.random.default_rng(1), 40)
    version, outputs = client.predict(PIPELINE, {"x": rows})
    assert version == 1
    assert set(outputs["label"].tolist()) <= {"browse", "buy", "leave"}
    assert_same(outputs, onnxruntime_outputs(repository, PIPELINE, {"x": rows}))


def test_numpy_unicode_and_bytes_arrays_are_sent_as_strings(client, repository) -> None:
    rows = customers(np.random.default_rng(2), 5)
    expected = onnxruntime_outputs(repository, PIPELINE, {"x": rows})
    for form in (rows.astype(str), np.char.encode(rows.astype(str), "utf-8")):
        _, outputs = client.predict(PIPELINE, {"x": form})
        assert_same(outputs, expected)


def test_string_operators_and_casts_match_onnxruntime(client, repository) -> None:
    words = np.array(["Web.Shop", "", "a.b.c", "naïve.shop", "  spaced out ", "web.shop"], dtype=object)
    _, outputs = client.predict(OPERATORS, {"x": words})
    assert_same(outputs, onnxruntime_outputs(repository, OPERATORS, {"x": words}))
    feeds = {"text": np.array(["3.25", "-1e-2", "+8", "NaN"], dtype=object),
             "ids": np.array([5, -6, 7, 2**40], dtype=np.int64)}
    _, outputs = client.predict(CASTS, feeds)
    expected = onnxruntime_outputs(repository, CASTS, feeds)
    assert outputs["ids_text"].tolist() == expected["ids_text"].tolist()
    np.testing.assert_array_equal(outputs["as_float"], expected["as_float"])


def test_stacked_string_requests_get_their_own_rows_back(server, repository) -> None:
    """Pipelined requests of 1–5 rows each, stacked by the workers into batches: every reply holds exactly its
    request's labels and scores."""
    rng = np.random.default_rng(3)
    batches = [customers(rng, int(rng.integers(1, 6))) for _ in range(64)]
    with PipelinedClient(server, timeout_ms=TIMEOUT_MS) as pipelined:
        results = pipelined.predict_many(PIPELINE, ({"x": rows} for rows in batches), max_in_flight=32)
    for rows, (version, outputs) in zip(batches, results, strict=True):
        assert version == 1
        assert_same(outputs, onnxruntime_outputs(repository, PIPELINE, {"x": rows}))


def exchange(endpoint: str, payload: bytes) -> status_pb2.Status:
    """Sends one Predict payload from a DEALER socket and returns the reply's status."""
    with zmq.Context.instance().socket(zmq.DEALER) as socket:
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(endpoint)
        socket.send_multipart([b"", PREDICT, payload])
        assert socket.poll(TIMEOUT_MS), "no reply"
        reply = socket.recv_multipart()
    return status_pb2.Status.FromString(reply[1])


def request(model: str, *tensors: tensor_pb2.Tensor) -> bytes:
    return inference_pb2.PredictRequest(id="bad", model=inference_pb2.ModelSpec(name=model),
                                        inputs=list(tensors)).SerializeToString()


IDS = tensor_pb2.Tensor(name="ids", dtype=tensor_pb2.DATA_TYPE_INT64, shape=[2], raw_data=bytes(16))
TEXT = tensor_pb2.Tensor(name="text", dtype=STRING, shape=[2], string_data=[b"1", b"2"])

BAD_INPUTS = [
    pytest.param([tensor_pb2.Tensor(name="text", dtype=STRING, shape=[2], string_data=[b"1", b"\xff\xfe"]), IDS],
                 "string 1 is not valid UTF-8", id="not-utf8"),
    pytest.param([tensor_pb2.Tensor(name="text", dtype=STRING, shape=[3], string_data=[b"1", b"2"]), IDS],
                 "has 2 strings; shape [3] needs 3", id="too-few-strings"),
    pytest.param([tensor_pb2.Tensor(name="text", dtype=STRING, shape=[2], raw_data=b"12"), IDS],
                 "its elements go in string_data", id="string-in-raw-data"),
    pytest.param([TEXT, tensor_pb2.Tensor(name="ids", dtype=tensor_pb2.DATA_TYPE_INT64, shape=[2],
                                          string_data=[b"1", b"2"])],
                 "carries string_data", id="int64-in-string-data"),
    pytest.param([TEXT, tensor_pb2.Tensor(name="ids", dtype=STRING, shape=[2], string_data=[b"1", b"2"])],
                 "must be int64, got string", id="strings-for-int64"),
    pytest.param([tensor_pb2.Tensor(name="text", dtype=tensor_pb2.DATA_TYPE_FLOAT32, shape=[2], raw_data=bytes(8)),
                  IDS], "must be string, got float32", id="floats-for-strings"),
    pytest.param([tensor_pb2.Tensor(name="text", dtype=STRING, shape=[2], string_data=[b"1", b"one"]), IDS],
                 "is not a float32 number", id="cast-of-a-word"),
]


@pytest.mark.parametrize(("tensors", "message"), BAD_INPUTS)
def test_malformed_string_inputs_are_invalid_argument_and_harm_nothing(server, client, repository, tensors,
                                                                      message) -> None:
    status = exchange(server, request(CASTS, *tensors))
    assert status_pb2.Code.Name(status.code) == "INVALID_ARGUMENT", status.message
    assert message in status.message
    rows = customers(np.random.default_rng(4), 3)
    _, outputs = client.predict(PIPELINE, {"x": rows})
    assert_same(outputs, onnxruntime_outputs(repository, PIPELINE, {"x": rows}))


def test_client_refuses_objects_that_are_not_strings(client) -> None:
    with pytest.raises(ZServeError) as raised:
        client.predict(PIPELINE, {"x": np.array([[1, "app", None]], dtype=object)})
    assert raised.value.code_name == "INVALID_ARGUMENT"


def test_string_models_are_pushed_warmed_up_and_served(repository, tmp_path) -> None:
    """A push of the string pipeline as a new model passes the generated warm-up (empty strings) and one with shipped
    string warm-up inputs; shipped inputs that are not UTF-8 are refused with the reason, and the model keeps serving
    what it served."""
    model_file = repository / PIPELINE / "1" / "model.onnx"
    empty = tmp_path / "empty"
    empty.mkdir()
    rows = customers(np.random.default_rng(5), 4)
    expected = onnxruntime_outputs(repository, PIPELINE, {"x": rows})
    with run_server(empty, "--admin", "tcp://127.0.0.1:0") as server, \
            AdminClient(server.admin, timeout_ms=TIMEOUT_MS) as admin, Client(server.listen, timeout_ms=TIMEOUT_MS) as client:
        assert admin.push_model("segments", str(model_file))[0] == 1
        version, state = admin.push_model("segments", str(model_file), warmup_inputs={"x": customers(np.random.default_rng(6), 2)})
        assert version == 2
        with pytest.raises(ZServeError) as refused:
            admin.push_model("segments", str(model_file), warmup_inputs={"x": np.array([[b"\xff", b"web", b"EIRE"]], dtype=object)})
        assert refused.value.code_name == "INVALID_ARGUMENT"
        assert "not valid UTF-8" in refused.value.message
        served, outputs = client.predict("segments", {"x": rows})
        assert served == 2
        assert_same(outputs, expected)
