"""Wire-level tests of the ZServe frontend (docs/protocol.md) against a real server (path in ZSERVE_BIN).

The server serves Examples/model-repository: `purchase_propensity` version 1, input `features` float32 [batch, 8],
output `probability` float32 [batch, 1]. Good requests go through the Python client, malformed ones are raw pyzmq
frames. Every receive polls with a timeout, so a hung server fails a test instead of hanging it, and every test
ends by checking that the server still answers a good Predict.
"""

import numpy as np
import pytest
import zmq

import zserve_testing
from zserve_client import Client, PipelinedClient, ZServeError, from_tensor, to_tensor
from zserve_client.protos import inference_pb2, model_control_pb2, status_pb2, tensor_pb2
from zserve_testing import EXAMPLE_REPOSITORY, start_server

zserve_testing.skip_without_binary()

MODEL = "purchase_propensity"
INPUT = "features"
OUTPUT = "probability"
FLOAT32 = tensor_pb2.DATA_TYPE_FLOAT32
PREDICT = b"zserve.v1.Inference/Predict"
MAX_MESSAGE_SIZE = 1 << 20
SERVER_ARGS = ("--workers", "2", "--max-message-size", str(MAX_MESSAGE_SIZE))
REPLY_TIMEOUT_MS = 5000


def features(rows: int) -> np.ndarray:
    """A deterministic float32 [rows, 8] feature batch."""
    return np.random.default_rng(rows).normal(size=(rows, 8)).astype(np.float32)


GOOD_INPUT = to_tensor(INPUT, features(2))


def request_bytes(request_id: str, model: str = MODEL, version: int | None = None, label: str = "",
                  inputs=(GOOD_INPUT,), output_names=()) -> bytes:
    """A serialized PredictRequest built from Tensor messages, so that its inputs can be malformed."""
    spec = inference_pb2.ModelSpec(name=model, version=version, label=label)
    request = inference_pb2.PredictRequest(id=request_id, model=spec, inputs=inputs, output_names=output_names)
    return request.SerializeToString()


def truncated_request() -> bytes:
    """A valid PredictRequest cut in half, which ends inside its input tensor and so no longer parses."""
    payload = request_bytes("truncated")
    return payload[: len(payload) // 2]


FRAME_CASES = [
    pytest.param([b"", PREDICT, b"\xff\xff\xff"], "INVALID_ARGUMENT", id="payload-not-protobuf"),
    pytest.param([b"", PREDICT, truncated_request()], "INVALID_ARGUMENT", id="truncated-payload"),
    pytest.param([b"", PREDICT], "INVALID_ARGUMENT", id="missing-payload-frame"),
    pytest.param([b"", PREDICT, request_bytes("extra"), b"extra"], "INVALID_ARGUMENT", id="extra-frame"),
    pytest.param([PREDICT, request_bytes("undelimited")], "INVALID_ARGUMENT", id="no-empty-delimiter"),
    pytest.param([b"", b"zserve.v1.Inference/Nope", request_bytes("nope")], "UNIMPLEMENTED", id="unknown-method"),
    pytest.param([b"", b"foo.Bar/Baz", request_bytes("baz")], "UNIMPLEMENTED", id="unknown-service"),
]

BAD_PREDICT_CASES = [
    pytest.param({"model": "no_such_model"}, "NOT_FOUND", id="unknown-model"),
    pytest.param({"version": 999}, "NOT_FOUND", id="unknown-version"),
    pytest.param({"label": "no_such_label"}, "NOT_FOUND", id="unknown-label"),
    pytest.param({"model": ""}, "INVALID_ARGUMENT", id="empty-model-name"),
    pytest.param({"inputs": []}, "INVALID_ARGUMENT", id="missing-input"),
    pytest.param({"inputs": [GOOD_INPUT, to_tensor("extra", features(2))]}, "INVALID_ARGUMENT", id="extra-input"),
    pytest.param({"inputs": [GOOD_INPUT, GOOD_INPUT]}, "INVALID_ARGUMENT", id="duplicated-input"),
    pytest.param({"inputs": [to_tensor(INPUT, features(2).astype(np.int64))]}, "INVALID_ARGUMENT",
                 id="int64-features"),
    pytest.param({"inputs": [to_tensor(INPUT, features(1)[0])]}, "INVALID_ARGUMENT", id="rank-1-features"),
    pytest.param({"inputs": [to_tensor(INPUT, features(2)[:, :7])]}, "INVALID_ARGUMENT", id="2x7-features"),
    pytest.param({"inputs": [tensor_pb2.Tensor(name=INPUT, dtype=FLOAT32, shape=[2, 8], raw_data=bytes(60))]},
                 "INVALID_ARGUMENT", id="byte-count-not-shape-times-dtype"),
    pytest.param({"output_names": ["no_such_output"]}, "INVALID_ARGUMENT", id="unknown-output"),
]


@pytest.fixture(scope="module")
def server():
    """The example repository served by 2 workers with a 1 MiB message limit; yields the frontend endpoint."""
    with start_server(EXAMPLE_REPOSITORY, *SERVER_ARGS) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def client(server):
    """A Python client (REQ) connected to the server."""
    with Client(server, timeout_ms=REPLY_TIMEOUT_MS) as client:
        yield client


def connect(endpoint: str, socket_type: int) -> zmq.Socket:
    """A raw socket, not lingering on close, connected to the endpoint."""
    socket = zmq.Context.instance().socket(socket_type)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    return socket


def receive(socket: zmq.Socket) -> list:
    """The next reply's frames; fails the test when none arrives in time."""
    assert socket.poll(REPLY_TIMEOUT_MS), f"no reply within {REPLY_TIMEOUT_MS} ms"
    return socket.recv_multipart()


def exchange(endpoint: str, frames: list) -> list:
    """Sends frames as they are from a new DEALER socket and returns the reply's frames."""
    with connect(endpoint, zmq.DEALER) as socket:
        socket.send_multipart(frames)
        return receive(socket)


def error_status(reply: list) -> status_pb2.Status:
    """Checks that a DEALER reply is [empty][Status][empty response] and returns its Status."""
    assert len(reply) == 3 and reply[0] == b"" and reply[2] == b"", f"not an error reply: {reply!r}"
    return status_pb2.Status.FromString(reply[1])


def assert_code(status: status_pb2.Status, code_name: str) -> None:
    """Checks the status code by name, showing the server's message on failure."""
    assert status_pb2.Code.Name(status.code) == code_name, f"status message: {status.message!r}"


def assert_probabilities(outputs: dict, rows: int) -> None:
    """Checks the model's outputs: only `probability`, float32 [rows, 1], each value strictly between 0 and 1."""
    assert list(outputs) == [OUTPUT]
    probability = outputs[OUTPUT]
    assert probability.dtype == np.float32 and probability.shape == (rows, 1)
    assert np.all((probability > 0) & (probability < 1)), probability


def assert_serving(client: Client) -> None:
    """Checks that the server answers a good Predict from version 1."""
    version, outputs = client.predict(MODEL, {INPUT: features(2)})
    assert version == 1
    assert_probabilities(outputs, rows=2)


@pytest.mark.parametrize("method", [PREDICT, b"/" + PREDICT], ids=["method", "method-with-leading-slash"])
def test_predict_over_req_echoes_request_id(server, client, method):
    with connect(server, zmq.REQ) as socket:
        socket.send_multipart([method, request_bytes("req-42")])
        reply = receive(socket)
    assert len(reply) == 2, f"a REQ reply is [Status][response], got {reply!r}"
    status = status_pb2.Status.FromString(reply[0])
    assert_code(status, "OK")
    assert status.request_id == "req-42"
    response = inference_pb2.PredictResponse.FromString(reply[1])
    assert (response.id, response.model, response.version) == ("req-42", MODEL, 1)
    assert_probabilities({tensor.name: from_tensor(tensor) for tensor in response.outputs}, rows=2)
    assert_serving(client)


def test_dealer_pipelines_100_predicts(server, client):
    rows_by_id = {f"pipelined-{i}": i % 5 + 1 for i in range(100)}
    with PipelinedClient(server, timeout_ms=REPLY_TIMEOUT_MS) as pipelined:
        for request_id, rows in rows_by_id.items():
            pipelined.send_predict(MODEL, {INPUT: features(rows)}, request_id=request_id)
        replies = [pipelined.receive() for _ in rows_by_id]
        with pytest.raises(TimeoutError):
            pipelined.receive(timeout_ms=200)
    assert sorted(request_id for request_id, _ in replies) == sorted(rows_by_id)
    for request_id, (version, outputs) in replies:
        assert version == 1
        assert_probabilities(outputs, rows=rows_by_id[request_id])
    assert_serving(client)


def test_pipelined_error_is_matched_by_request_id(server, client):
    with PipelinedClient(server, timeout_ms=REPLY_TIMEOUT_MS) as pipelined:
        good = pipelined.send_predict(MODEL, {INPUT: features(3)}, request_id="mixed-good")
        bad = pipelined.send_predict("no_such_model", {INPUT: features(3)}, request_id="mixed-bad")
        results = pipelined.gather([good, bad])
    assert results.keys() == {good, bad}
    version, outputs = results[good]
    assert version == 1
    assert_probabilities(outputs, rows=3)
    assert isinstance(results[bad], ZServeError) and results[bad].code_name == "NOT_FOUND"
    assert_serving(client)


def test_model_metadata(client):
    metadata = client.model_metadata(MODEL)
    assert (metadata.name, metadata.version, list(metadata.available_versions)) == (MODEL, 1, [1])
    assert list(metadata.inputs) == [tensor_pb2.TensorSpec(name=INPUT, dtype=FLOAT32, shape=[-1, 8])]
    assert list(metadata.outputs) == [tensor_pb2.TensorSpec(name=OUTPUT, dtype=FLOAT32, shape=[-1, 1])]
    assert_serving(client)


def test_model_metadata_of_unknown_model_is_not_found(client):
    with pytest.raises(ZServeError) as raised:
        client.model_metadata("no_such_model")
    assert raised.value.code_name == "NOT_FOUND"
    assert_serving(client)


def test_server_and_model_ready(client):
    assert client.server_ready()
    assert client.model_ready(MODEL)
    assert client.model_ready(MODEL, version=1)
    assert_serving(client)


def test_list_models(client):
    listing = client.list_models()
    versions = {model.name: [(v.version, v.state) for v in model.versions] for model in listing.models}
    assert versions[MODEL] == [(1, model_control_pb2.VERSION_STATE_AVAILABLE)]
    assert listing.workers == 2
    assert_serving(client)


@pytest.mark.parametrize("frames, code_name", FRAME_CASES)
def test_malformed_frames_are_rejected(server, client, frames, code_name):
    assert_code(error_status(exchange(server, frames)), code_name)
    assert_serving(client)


@pytest.mark.parametrize("fields, code_name", BAD_PREDICT_CASES)
def test_bad_predict_is_rejected_with_request_id(server, client, fields, code_name):
    status = error_status(exchange(server, [b"", PREDICT, request_bytes("bad-7", **fields)]))
    assert_code(status, code_name)
    assert status.request_id == "bad-7"
    assert_serving(client)


def test_oversized_message_drops_only_its_sender():
    """A message over --max-message-size gets no reply, while other clients keep being answered.

    Runs its own server, as libzmq disconnects the sender; start_server asserts on exit that the server was still
    running and stops cleanly.
    """
    rows = MAX_MESSAGE_SIZE // (8 * 4) + 1
    oversized = request_bytes("oversized", inputs=[to_tensor(INPUT, np.zeros((rows, 8), np.float32))])
    with start_server(EXAMPLE_REPOSITORY, *SERVER_ARGS) as endpoint, \
            Client(endpoint, timeout_ms=REPLY_TIMEOUT_MS) as bystander:
        assert_serving(bystander)
        with connect(endpoint, zmq.DEALER) as sender:
            sender.send_multipart([b"", PREDICT, oversized])
            assert not sender.poll(1000), "a message over the size limit got a reply"
            assert_serving(bystander)
        with Client(endpoint, timeout_ms=REPLY_TIMEOUT_MS) as newcomer:
            assert_serving(newcomer)
