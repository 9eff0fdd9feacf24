"""End-to-end tests of the C client (Clients/c) against a real server (path in ZSERVE_BIN).

Builds the C client with make once, then runs its example CLI, zserve-c-predict, against the example repository:
`purchase_propensity` version 1, input `features` float32 [batch, 8], output `probability` float32 [batch, 1].
"""

import json
import subprocess

import numpy as np
import pytest

import zserve_testing
from zserve_client import Client
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


def run_cli(cli, endpoint: str, model: str, matrix: np.ndarray) -> subprocess.CompletedProcess:
    """Runs zserve-c-predict on a float32 matrix; repr() of each value parses back to the same float32."""
    rows, cols = matrix.shape
    values = [repr(float(value)) for value in matrix.ravel()]
    command = [str(cli), endpoint, model, str(rows), str(cols), *values]
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


def test_predict_matches_python_client(cli, server):
    features = np.array(json.loads(EXAMPLE_REQUEST.read_text())[INPUT], dtype=np.float32)
    result = run_cli(cli, server, MODEL, features)
    assert result.returncode == 0, f"zserve-c-predict exited with {result.returncode}:\n{result.stderr}"
    printed = json.loads(result.stdout)

    with Client(server, timeout_ms=REPLY_TIMEOUT_MS) as client:
        version, outputs = client.predict(MODEL, {INPUT: features})
    expected = outputs[OUTPUT]
    assert (printed["model"], printed["version"], printed["output"]) == (MODEL, version, OUTPUT)
    assert printed["shape"] == list(expected.shape) == [2, 1]
    actual = np.array(printed["data"], dtype=np.float32).reshape(expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("model, cols, code_name", [
    pytest.param("no_such_model", 8, "NOT_FOUND", id="unknown-model"),
    pytest.param(MODEL, 7, "INVALID_ARGUMENT", id="7-columns"),
])
def test_error_exits_1_with_code_name(cli, server, model, cols, code_name):
    result = run_cli(cli, server, model, np.ones((2, cols), dtype=np.float32))
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith(f"{code_name}: "), result.stderr
