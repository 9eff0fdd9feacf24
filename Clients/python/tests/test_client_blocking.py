"""Client: numpy in, numpy out with the version that computed it; every failure is a ZServeError with a code name."""

import numpy as np
import pytest

from client_testing import MODEL, StandInServer, assert_close
from zserve_client import Client, ZServeError, ZServeTimeout


@pytest.fixture(scope="module")
def client(frontend):
    with Client(frontend, timeout_ms=30_000) as client:
        yield client


def test_predict_returns_the_version_and_onnxruntimes_outputs(client, features, reference):
    rows = features(5)
    version, outputs = client.predict(MODEL, {"features": rows})
    assert version == 1
    assert list(outputs) == ["probability"] and outputs["probability"].dtype == np.float32
    assert_close(outputs["probability"], reference(rows))
    assert client.predict(MODEL, {"features": rows}, version=1, output_names=["probability"])[0] == 1


def test_metadata_and_readiness(client):
    metadata = client.model_metadata(MODEL)
    assert (metadata.version, [spec.name for spec in metadata.inputs]) == (1, ["features"])
    assert list(metadata.inputs[0].shape) == [-1, 8]
    assert client.server_ready() and client.model_ready(MODEL) and not client.model_ready(MODEL, version=9)
    assert [model.name for model in client.list_models().models] == [MODEL]
    assert client.model_status(MODEL).default_version == 1


@pytest.mark.parametrize("call, code_name", [
    (lambda client, rows: client.predict("no_such_model", {"features": rows}, request_id="r-1"), "NOT_FOUND"),
    (lambda client, rows: client.predict(MODEL, {"features": rows[:, :3]}, request_id="r-1"), "INVALID_ARGUMENT"),
    (lambda client, rows: client.predict(MODEL, {"features": rows}, version=7, request_id="r-1"), "NOT_FOUND"),
    (lambda client, rows: client.model_metadata("no_such_model"), "NOT_FOUND"),
    (lambda client, rows: client.model_metadata(""), "INVALID_ARGUMENT"),
    (lambda client, rows: client.model_status("no_such_model"), "NOT_FOUND"),
], ids=["unknown-model", "wrong-shape", "unknown-version", "metadata-of-unknown-model", "metadata-without-name",
        "status-of-unknown-model"])
def test_server_errors_raise_zserve_error_with_the_code_name(client, features, call, code_name):
    with pytest.raises(ZServeError) as raised:
        call(client, features(2))
    assert raised.value.code_name == code_name
    assert raised.value.request_id in ("r-1", "")
    assert client.predict(MODEL, {"features": features(1)})[0] == 1  # the client and the server go on


def test_an_input_the_protocol_cannot_carry_is_invalid_argument_before_sending(client):
    with pytest.raises(ZServeError) as raised:
        client.predict(MODEL, {"features": np.zeros((1, 8), dtype=np.complex64)}, request_id="r-2")
    assert (raised.value.code_name, raised.value.request_id) == ("INVALID_ARGUMENT", "r-2")
    assert "complex64" in raised.value.message


def test_no_reply_is_a_timeout_and_the_client_stays_usable(features):
    with StandInServer(window=1, answer=False) as silent, Client(silent.endpoint, timeout_ms=200) as client:
        for _ in range(2):
            with pytest.raises(ZServeTimeout) as raised:
                client.predict(MODEL, {"features": features(1)}, request_id="late")
            assert isinstance(raised.value, ZServeError) and isinstance(raised.value, TimeoutError)
            assert (raised.value.code_name, raised.value.request_id) == ("DEADLINE_EXCEEDED", "late")
