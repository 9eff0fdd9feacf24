"""AdminClient: every ModelControl RPC against a real server's admin endpoint, and its refusals as ZServeError."""

import time

import pytest

import zserve_testing
from client_testing import MODEL, MODEL_FILE, writable_repository
from zserve_client import AdminClient, Client, ZServeError
from zserve_client.protos import model_control_pb2

AVAILABLE = model_control_pb2.VERSION_STATE_AVAILABLE
STATE_TIMEOUT_S = 30


@pytest.fixture
def server(tmp_path):
    """A server of its own, on a writable copy of the example repository, with an admin endpoint."""
    with zserve_testing.run_server(writable_repository(tmp_path / "repository"), "--admin", "tcp://127.0.0.1:0") \
            as server:
        yield server


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """Like server, shared by the tests whose calls are refused."""
    repository = writable_repository(tmp_path_factory.mktemp("shared") / "repository")
    with zserve_testing.run_server(repository, "--admin", "tcp://127.0.0.1:0") as server:
        yield server


def states(info: model_control_pb2.ModelInfo) -> dict:
    return {status.version: status.state for status in info.versions}


def labels(info: model_control_pb2.ModelInfo) -> dict:
    return {label.name: (label.version, label.weight) for label in info.labels}


def wait_for_state(admin: AdminClient, version: int, state: int, server) -> None:
    deadline = time.monotonic() + STATE_TIMEOUT_S
    while states(admin.model_status(MODEL)).get(version) != state:
        assert time.monotonic() < deadline, f"version {version} not in state {state}\n{server.log_tail()}"
        time.sleep(0.05)


def test_every_model_control_rpc(server, features):
    with AdminClient(server.admin) as admin, Client(server.listen) as client:
        listing = admin.list_models()
        assert [model.name for model in listing.models] == [MODEL] and listing.workers >= 1

        # PushModel in several chunks, a label pointed at the new version once it is live.
        version, state = admin.push_model(MODEL, MODEL_FILE, labels=["canary"], metadata={"by": "test"},
                                          chunk_size=1000)
        assert (version, state) == (2, AVAILABLE) and MODEL_FILE.stat().st_size > 2000
        info = admin.model_status(MODEL)
        assert states(info) == {1: AVAILABLE, 2: AVAILABLE} and info.default_version == 2
        assert labels(info)["canary"][0] == 2

        info = admin.set_label(MODEL, "stable", 1, weight=0)
        assert labels(info)["stable"] == (1, 0)
        assert client.predict(MODEL, {"features": features(1)}, label="stable")[0] == 1
        assert client.predict(MODEL, {"features": features(1)}, label="canary")[0] == 2

        rollback = admin.rollback(MODEL)
        assert (rollback.from_version, rollback.to_version, rollback.model.default_version) == (2, 1, 1)
        assert client.predict(MODEL, {"features": features(1)})[0] == 1

        admin.set_label(MODEL, "canary", 0)  # removes it, so version 2 can go
        admin.unload_model(MODEL, 2)
        wait_for_state(admin, 2, model_control_pb2.VERSION_STATE_END, server)
        with pytest.raises(ZServeError) as unloaded:
            client.predict(MODEL, {"features": features(1)}, version=2)
        assert unloaded.value.code_name in ("NOT_FOUND", "UNAVAILABLE")

        admin.load_model(MODEL, 2)
        wait_for_state(admin, 2, AVAILABLE, server)
        assert client.predict(MODEL, {"features": features(1)}, version=2)[0] == 2

        scaled = admin.scale_workers(listing.workers + 1)
        assert (scaled.previous, scaled.workers) == (listing.workers, listing.workers + 1)
        # The new worker thread announces itself to the broker just after the reply.
        deadline = time.monotonic() + STATE_TIMEOUT_S
        while admin.list_models().workers != listing.workers + 1:
            assert time.monotonic() < deadline, f"the added worker never joined\n{server.log_tail()}"
            time.sleep(0.05)


@pytest.mark.parametrize("call, code_name", [
    (lambda admin: admin.push_model(MODEL, MODEL_FILE, version=1), "ALREADY_EXISTS"),
    (lambda admin: admin.push_model(MODEL, b"not an onnx model"), "INVALID_ARGUMENT"),
    (lambda admin: admin.set_label(MODEL, "canary", 9), "FAILED_PRECONDITION"),
    (lambda admin: admin.rollback(MODEL), "FAILED_PRECONDITION"),
    (lambda admin: admin.load_model(MODEL, 9), "NOT_FOUND"),
    (lambda admin: admin.push_chunk(upload_id="no-such-upload", offset=0, data=b"x"), "NOT_FOUND"),
], ids=["version-exists", "not-onnx", "label-on-missing-version", "rollback-without-earlier", "load-missing",
        "unknown-upload"])
def test_refusals_raise_zserve_error_and_serving_goes_on(shared_server, call, code_name, features):
    with AdminClient(shared_server.admin) as admin, Client(shared_server.listen) as client:
        with pytest.raises(ZServeError) as raised:
            call(admin)
        assert raised.value.code_name == code_name, raised.value
        info = admin.model_status(MODEL)
        assert (info.default_version, states(info)[1], labels(info)) == (1, AVAILABLE, {})
        assert client.predict(MODEL, {"features": features(1)})[0] == 1


def test_state_changing_calls_on_the_frontend_are_permission_denied(shared_server):
    with AdminClient(shared_server.listen, timeout_ms=10_000) as on_frontend:
        for call in (lambda: on_frontend.scale_workers(1), lambda: on_frontend.rollback(MODEL)):
            with pytest.raises(ZServeError) as raised:
                call()
            assert raised.value.code_name == "PERMISSION_DENIED"
        assert [model.name for model in on_frontend.list_models().models] == [MODEL]
