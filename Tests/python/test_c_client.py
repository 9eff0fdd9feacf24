"""End-to-end tests of the C client (Clients/c) against a real server (path in ZSERVE_BIN).

Builds the C client with make once, then runs its example CLI, zserve-c-predict, against the example repository:
`purchase_propensity` version 1, input `features` float32 [batch, 8], output `probability` float32 [batch, 1]; also
against a server that requires CURVE on its frontend, with key files from `zserve keygen`.
"""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import zmq.auth

import zserve_testing
from test_clients_agree import FakeServer
from zserve_client import Client, CurveKeys
from zserve_testing import EXAMPLE_REPOSITORY, REPO_ROOT, start_server

zserve_testing.skip_without_binary()

C_CLIENT_DIR = REPO_ROOT / "Clients" / "c"
MODEL = "purchase_propensity"
INPUT = "features"
OUTPUT = "probability"
# The features of two real customers (Examples/README.md).
EXAMPLE_REQUEST = REPO_ROOT / "Examples" / "requests" / "purchase_propensity.json"
BUILD_TIMEOUT_S = 300
RUN_TIMEOUT_S = 30
REPLY_TIMEOUT_MS = 5000
# How long the CLI waits for a reply the server will not send (a refused handshake).
REFUSED_TIMEOUT_MS = 1500
# An endpoint nothing listens on, for errors found before any request is sent.
NOWHERE = "tcp://127.0.0.1:1"


@pytest.fixture(scope="module")
def cli():
    """Builds the C client with `make -C Clients/c`; returns the path of zserve-c-predict."""
    build = subprocess.run(["make", "-C", str(C_CLIENT_DIR)], capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT_S)
    assert build.returncode == 0, f"make -C Clients/c failed:\n{build.stdout}\n{build.stderr}"
    return C_CLIENT_DIR / "build" / "zserve-c-predict"


@pytest.fixture(scope="module")
def server():
    """The example repository served by 2 workers; yields the frontend endpoint."""
    with start_server(EXAMPLE_REPOSITORY, "--workers", "2") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Key pairs from `zserve keygen` for the server, a client the server allows (its .pub in `frontend/`) and a
    stranger. A bare key file whose key starts with '#' reads as a comment, so bare_key_files needs the server's public
    key and the client's secret key not to: such a pair is made again."""
    directory = tmp_path_factory.mktemp("keys")
    for name, key_index in [("server", 0), ("client", 1), ("stranger", None)]:
        while True:
            for old in [directory / f"{name}.key", directory / f"{name}.pub"]:
                old.unlink(missing_ok=True)
            made = subprocess.run([os.environ["ZSERVE_BIN"], "keygen", "--out", str(directory / name)],
                                  capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
            assert made.returncode == 0, made.stderr
            bare_key = zmq.auth.load_certificate(str(directory / f"{name}.key"))[key_index or 0]
            if key_index is None or not bare_key.startswith(b"#"):
                break
    (directory / "frontend").mkdir()
    shutil.copy(directory / "client.pub", directory / "frontend")
    return directory


@pytest.fixture(scope="module")
def curve_server(keys):
    """The example repository served by 1 worker, with CURVE required on the frontend; yields the endpoint."""
    with start_server(EXAMPLE_REPOSITORY, "--workers", "1", "--server-key", str(keys / "server.key"),
                      "--frontend-keys", str(keys / "frontend")) as endpoint:
        yield endpoint


def run_cli(cli, endpoint: str, model: str, matrix: np.ndarray, *options: str,
            timeout_ms: int | None = None) -> subprocess.CompletedProcess:
    """Runs zserve-c-predict with options on a float32 matrix; repr() of each value parses back to the same float32.
    timeout_ms sets ZSERVE_TIMEOUT_MS."""
    rows, cols = matrix.shape
    values = [repr(float(value)) for value in matrix.ravel()]
    command = [str(cli), *options, endpoint, model, str(rows), str(cols), *values]
    env = {**os.environ, **({"ZSERVE_TIMEOUT_MS": str(timeout_ms)} if timeout_ms else {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env)


def key_options(server_public_key, client_key) -> list[str]:
    return ["--server-public-key", str(server_public_key), "--client-key", str(client_key)]


def example_features() -> np.ndarray:
    return np.array(json.loads(EXAMPLE_REQUEST.read_text())[INPUT], dtype=np.float32)


def bare_key_files(keys, directory):
    """The server's public key and the client's secret key as one-line Z85 files (a comment line is allowed)."""
    server_public, _ = zmq.auth.load_certificate(str(keys / "server.pub"))
    _, client_secret = zmq.auth.load_certificate(str(keys / "client.key"))
    server_file, client_file = directory / "server-bare.pub", directory / "client-bare.key"
    server_file.write_bytes(server_public + b"\n")
    client_file.write_bytes(b"# the client's secret key, bare\n" + client_secret + b"\n")
    client_file.chmod(0o600)
    return server_file, client_file


def assert_same_as_python(result: subprocess.CompletedProcess, client: Client, features: np.ndarray):
    """Asserts zserve-c-predict printed what the Python client gets for the same features."""
    assert result.returncode == 0, f"zserve-c-predict exited with {result.returncode}:\n{result.stderr}"
    printed = json.loads(result.stdout)
    version, outputs = client.predict(MODEL, {INPUT: features})
    expected = outputs[OUTPUT]
    assert (printed["model"], printed["version"], printed["output"]) == (MODEL, version, OUTPUT)
    assert printed["shape"] == list(expected.shape) == [2, 1]
    actual = np.array(printed["data"], dtype=np.float32).reshape(expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def curve_reopen(cli):
    """Builds Tests/c/curve_reopen.c against the library `cli` built; returns the program's path."""
    program = C_CLIENT_DIR / "build" / "curve_reopen"
    libraries = subprocess.run(["pkg-config", "--libs", "libzmq"], capture_output=True, text=True, check=True)
    build = subprocess.run(
        ["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(C_CLIENT_DIR),
         str(REPO_ROOT / "Tests" / "c" / "curve_reopen.c"), str(C_CLIENT_DIR / "build" / "libzserve_client.a"),
         *libraries.stdout.split(), "-lprotobuf-c", "-o", str(program)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert build.returncode == 0, build.stderr
    return program


def test_predict_matches_python_client(cli, server):
    features = example_features()
    with Client(server, timeout_ms=REPLY_TIMEOUT_MS) as client:
        assert_same_as_python(run_cli(cli, server, MODEL, features), client, features)


@pytest.mark.parametrize("model, cols, code_name", [
    pytest.param("no_such_model", 8, "NOT_FOUND", id="unknown-model"),
    pytest.param(MODEL, 7, "INVALID_ARGUMENT", id="7-columns"),
])
def test_error_exits_1_with_code_name(cli, server, model, cols, code_name):
    result = run_cli(cli, server, model, np.ones((2, cols), dtype=np.float32))
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith(f"{code_name}: "), result.stderr


@pytest.mark.parametrize("key_format", ["certificate", "bare"])
def test_an_allowed_curve_key_predicts_like_the_python_client(cli, curve_server, keys, tmp_path, key_format):
    if key_format == "certificate":
        options = key_options(keys / "server.pub", keys / "client.key")
    else:
        options = key_options(*bare_key_files(keys, tmp_path))
    features = example_features()
    curve = CurveKeys.from_files(str(keys / "server.pub"), str(keys / "client.key"))
    with Client(curve_server, timeout_ms=REPLY_TIMEOUT_MS, curve=curve) as client:
        # Options go before the positional arguments, in any order.
        assert_same_as_python(run_cli(cli, curve_server, MODEL, features, "--input", INPUT, *options[2:], *options[:2]),
                              client, features)


@pytest.mark.parametrize("client_key, reason", [
    pytest.param("stranger", "the server refused this client's key (ZAP status 400)", id="stranger"),
    pytest.param(None, "the endpoint requires CURVE", id="no-keys"),
    pytest.param("client", "the CURVE handshake failed: is the server's public key right?", id="wrong-server-key"),
])
def test_a_refused_connection_is_unauthenticated(cli, curve_server, keys, client_key, reason):
    server_public_key = keys / ("stranger.pub" if "server's public key" in reason else "server.pub")
    options = key_options(server_public_key, keys / f"{client_key}.key") if client_key else []
    result = run_cli(cli, curve_server, MODEL, example_features(), *options, timeout_ms=REFUSED_TIMEOUT_MS)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith(f"UNAUTHENTICATED: {reason}"), result.stderr


def mismatched_certificate(keys, path):
    """A certificate whose public-key is the stranger's but whose secret-key is the client's."""
    stranger_public, _ = zmq.auth.load_certificate(str(keys / "stranger.pub"))
    _, client_secret = zmq.auth.load_certificate(str(keys / "client.key"))
    path.write_text(f'curve\n    public-key = "{stranger_public.decode()}"\n'
                    f'    secret-key = "{client_secret.decode()}"\n')
    path.chmod(0o600)


@pytest.mark.parametrize("problem, reason", [
    ("readable by others", "a secret key file must not be readable by others (chmod 600)"),
    ("public key as client key", "no secret-key in the file (is it a .pub file?)"),
    ("mismatched public key", "public-key does not belong to the secret-key"),
    ("missing", "cannot read: No such file or directory"),
    ("malformed server key", "public-key: not a CURVE key: expected 40 characters of Z85, got 39 characters"),
])
def test_an_unusable_key_file_is_an_invalid_argument_naming_it(cli, keys, tmp_path, problem, reason):
    server_public_key, client_key = keys / "server.pub", tmp_path / "client.key"
    shutil.copy(keys / "client.key", client_key)
    culprit = client_key
    if problem == "readable by others":
        client_key.chmod(0o644)
    elif problem == "public key as client key":
        shutil.copy(keys / "client.pub", client_key)
    elif problem == "mismatched public key":
        mismatched_certificate(keys, client_key)
    elif problem == "missing":
        client_key.unlink()
    else:
        culprit = server_public_key = tmp_path / "server.pub"
        server_public_key.write_text('public-key = "' + "0" * 39 + '"\n')
    result = run_cli(cli, NOWHERE, MODEL, example_features(), *key_options(server_public_key, client_key))
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == f"INVALID_ARGUMENT: {culprit}: {reason}\n"
    _, secret = zmq.auth.load_certificate(str(keys / "client.key"))
    assert secret.decode() not in result.stderr


@pytest.mark.parametrize("option", ["--server-public-key", "--client-key"])
def test_a_key_option_without_its_partner_is_a_usage_error(cli, keys, option):
    result = run_cli(cli, NOWHERE, MODEL, example_features(), option, str(keys / "client.key"))
    assert result.returncode == 2
    assert result.stderr.startswith("zserve-c-predict: --server-public-key and --client-key go together\n")


def test_a_socket_reopened_after_a_timeout_keeps_the_curve_keys(curve_reopen, keys, tmp_path):
    # A CURVE server that allows only the client's key and ignores the first request: the second is answered only if
    # the socket that replaced the timed-out one authenticated with the same keys.
    (tmp_path / "allowed").mkdir()
    shutil.copy(keys / "client.pub", tmp_path / "allowed")
    shutil.copy(keys / "server.key", tmp_path / "server.key")
    fake = FakeServer(code=5, keys=tmp_path, ignore=1)
    try:
        result = subprocess.run([str(curve_reopen), fake.endpoint, str(keys / "server.pub"), str(keys / "client.key")],
                                capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    finally:
        fake.close()
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith("DEADLINE_EXCEEDED: waiting for the reply from"), first
    assert second == "NOT_FOUND: from the fake server"
