"""Only listed keys change what is served: CurveZMQ on the admin endpoint (and optionally the frontend and the worker
endpoint) with the server's ZAP handler, key files from `zserve keygen` read by the Swift CLI and pyzmq alike, and an
admin endpoint that will not bind beyond loopback without keys."""

import os
import shutil
import signal
import stat
import subprocess
import time

import numpy as np
import pytest
import zmq.auth

import zserve_testing
from test_remote_workers import wait_for_workers, worker_process
from zserve_client import AdminClient, Client, CurveKeys, ZServeError
from zserve_testing import EXAMPLE_REPOSITORY, REPO_ROOT, run_server

zserve_testing.skip_without_binary()

MODEL = "purchase_propensity"
MODEL_FILE = EXAMPLE_REPOSITORY / MODEL / "1" / "model.onnx"
FEATURES = {"features": np.ones((2, 8), dtype=np.float32)}


def zserve(*args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([os.environ["ZSERVE_BIN"], *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO_ROOT)


@pytest.fixture
def keys(tmp_path):
    """Key pairs for the server, an operator, the trainer, a worker and a stranger; `admin/` allows the operator and
    the trainer, `frontend/` the operator, `workers/` the worker."""
    for name in ["server", "ops", "trainer", "worker", "stranger"]:
        result = zserve("keygen", "--out", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
    for directory, names in {"admin": ["ops", "trainer"], "frontend": ["ops"], "workers": ["worker"]}.items():
        (tmp_path / directory).mkdir()
        for name in names:
            shutil.copy(tmp_path / f"{name}.pub", tmp_path / directory)
    return tmp_path


def client_keys(keys, name: str) -> CurveKeys:
    return CurveKeys.from_files(str(keys / "server.pub"), str(keys / f"{name}.key"))


def cli_keys(keys, name: str) -> list[str]:
    return ["--server-public-key", str(keys / "server.pub"), "--client-key", str(keys / f"{name}.key")]


def test_keygen_writes_certificates_pyzmq_reads(keys):
    secret_mode = stat.S_IMODE(os.stat(keys / "ops.key").st_mode)
    assert secret_mode == 0o600, oct(secret_mode)
    public, secret = zmq.auth.load_certificate(str(keys / "ops.key"))
    assert len(public) == 40 and len(secret) == 40
    assert zmq.auth.load_certificate(str(keys / "ops.pub")) == (public, None)
    assert zmq.curve_public(secret) == public
    again = zserve("keygen", "--out", str(keys / "ops"))
    assert again.returncode != 0 and "File exists" in again.stderr
    assert zmq.auth.load_certificate(str(keys / "ops.key")) == (public, secret), "an existing key is never replaced"


def test_admin_endpoint_will_not_bind_beyond_loopback_without_keys():
    result = zserve("serve", "--model-repository", str(EXAMPLE_REPOSITORY), "--listen", "tcp://127.0.0.1:0",
                    "--admin", "tcp://0.0.0.0:0")
    assert result.returncode != 0 and "refusing to bind the admin endpoint tcp://0.0.0.0:0" in result.stderr
    # (--insecure-admin lifting the refusal is checked without binding anything: ServerSecurityTests.)


def test_a_secret_key_readable_by_others_is_refused(keys):
    os.chmod(keys / "server.key", 0o644)
    result = zserve("serve", "--model-repository", str(EXAMPLE_REPOSITORY), "--server-key", str(keys / "server.key"),
                    "--admin", "tcp://127.0.0.1:0", "--admin-keys", str(keys / "admin"))
    assert result.returncode != 0 and "must not be readable by others" in result.stderr, result.stderr


def test_only_listed_keys_change_what_is_served(keys, tmp_path):
    repository = tmp_path / "repository"
    shutil.copytree(EXAMPLE_REPOSITORY, repository)
    with run_server(repository, "--workers", "1", "--admin", "tcp://127.0.0.1:0", "--server-key",
                    str(keys / "server.key"), "--admin-keys", str(keys / "admin")) as server:
        admin_endpoint = server.admin
        # The operator's key (Python client) and the trainer's (CLI) may push.
        with AdminClient(admin_endpoint, curve=client_keys(keys, "ops")) as admin:
            assert admin.push_model(MODEL, MODEL_FILE.read_bytes())[0] == 2
        pushed = zserve("push", "--endpoint", admin_endpoint, "--model", MODEL, str(MODEL_FILE), *cli_keys(keys, "trainer"))
        assert pushed.returncode == 0, pushed.stderr
        # A stranger's key and no key at all are refused, by both clients, with UNAUTHENTICATED.
        with AdminClient(admin_endpoint, timeout_ms=1500, curve=client_keys(keys, "stranger")) as admin:
            with pytest.raises(ZServeError) as refused:
                admin.unload_model(MODEL, 3)
            assert refused.value.code_name == "UNAUTHENTICATED" and "refused this client's key" in refused.value.message
        with AdminClient(admin_endpoint, timeout_ms=1500) as admin:
            with pytest.raises(ZServeError) as plain:
                admin.scale_workers(0)
            assert plain.value.code_name == "UNAUTHENTICATED" and "requires CURVE" in plain.value.message
        stranger = zserve("scale", "--endpoint", admin_endpoint, "--workers", "0", "--timeout-ms", "1500",
                          *cli_keys(keys, "stranger"))
        assert stranger.returncode != 0 and stranger.stderr.startswith("UNAUTHENTICATED:"), stranger.stderr
        stranger_public = zmq.auth.load_certificate(str(keys / "stranger.pub"))[0].decode()
        assert f"public_key={stranger_public}" in server.log_tail(), "the refused key is logged"
        # Nothing the stranger asked for happened: version 3 still serves, on the one worker.
        with Client(server.listen) as client:
            assert client.predict(MODEL, FEATURES)[0] == 3
            assert client.list_models().workers == 1
        # Allowing a key is copying its .pub into the directory; no restart. SIGHUP re-reads and keeps serving.
        shutil.copy(keys / "stranger.pub", keys / "admin")
        with AdminClient(admin_endpoint, curve=client_keys(keys, "stranger")) as admin:
            assert admin.rollback(MODEL).to_version == 2
        os.kill(server.process.pid, signal.SIGHUP)
        time.sleep(0.2)
        assert server.process.poll() is None
        assert "allowed keys re-read" in server.log_tail()


def test_curve_on_the_frontend_and_the_worker_endpoint(keys):
    with run_server(EXAMPLE_REPOSITORY, "--workers", "0", "--worker-endpoint", "tcp://127.0.0.1:0",
                    "--server-key", str(keys / "server.key"), "--frontend-keys", str(keys / "frontend"),
                    "--worker-keys", str(keys / "workers")) as server:
        curve = client_keys(keys, "ops")
        with worker_process(server.worker_endpoint, *cli_keys(keys, "stranger")):
            time.sleep(1)
            with Client(server.listen, curve=curve) as client:
                assert client.list_models().workers == 0, "a worker with an unknown key does not join"
        with worker_process(server.worker_endpoint, *cli_keys(keys, "worker")), \
                Client(server.listen, timeout_ms=20_000, curve=curve) as client:
            wait_for_workers(client, 1)
            version, outputs = client.predict(MODEL, FEATURES)
            assert version == 1 and outputs["probability"].shape == (2, 1)
            predicted = zserve("predict", "--endpoint", server.listen, "--model", MODEL,
                               "--json", '{"features": [[1, 1, 1, 1, 1, 1, 1, 1]]}', *cli_keys(keys, "ops"))
            assert predicted.returncode == 0, predicted.stderr
        with Client(server.listen, timeout_ms=1500) as plain:
            with pytest.raises(ZServeError) as refused:
                plain.server_ready()
            assert refused.value.code_name == "UNAUTHENTICATED"
