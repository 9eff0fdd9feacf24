"""End-to-end tests of the `zserve` binary: serve the fixture models, predict through the CLI, compare with onnxruntime.

Environment:
    ZSERVE_BIN        path to the built `zserve` executable (required; without it the module is skipped)
    ZSERVE_FIXTURES   an output directory of scripts/make_test_models.py (optional; without it the fixtures are
                      generated into a temporary directory)
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

ZSERVE_BIN = os.environ.get("ZSERVE_BIN")
if not ZSERVE_BIN:
    pytest.skip("ZSERVE_BIN is not set: point it at the built zserve executable", allow_module_level=True)

FIXTURES = os.environ.get("ZSERVE_FIXTURES")
MAKE_TEST_MODELS = Path(__file__).resolve().parents[2] / "scripts" / "make_test_models.py"

READY_TIMEOUT = 30
COMMAND_TIMEOUT = 30
SHUTDOWN_TIMEOUT = 10
RTOL = 1e-4
ATOL = 1e-5

# A model with one float32 input whose second dimension is fixed (features: [batch, 32]).
SINGLE_INPUT_MODEL = "ctr_mlp"


def model_names() -> list[str]:
    """The models under test: the reference/ entries of ZSERVE_FIXTURES, else the models make_test_models.py builds."""
    if FIXTURES:
        return sorted(entry.name for entry in (Path(FIXTURES) / "reference").iterdir() if entry.is_dir())
    spec = importlib.util.spec_from_file_location("make_test_models", MAKE_TEST_MODELS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.BUILDERS)


MODEL_NAMES = model_names()


# ---------------------------------------------------------------------------------------------------------------------
# Helpers


def load_tensors(data_set: Path, prefix: str) -> dict[str, np.ndarray]:
    """The `<prefix>_<i>.pb` tensors of an ONNX test data set, by tensor name, in index order."""
    paths = sorted(data_set.glob(f"{prefix}_*.pb"), key=lambda path: int(path.stem.rsplit("_", 1)[1]))
    tensors = [onnx.load_tensor(str(path)) for path in paths]
    return {tensor.name: numpy_helper.to_array(tensor) for tensor in tensors}


def load_data_set(fixtures: Path, model: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The reference inputs and outputs of a fixture model."""
    data_set = fixtures / "reference" / model / "test_data_set_0"
    return load_tensors(data_set, "input"), load_tensors(data_set, "output")


def tensor_json(array: np.ndarray) -> dict[str, Any]:
    """The CLI's explicit JSON form of a tensor: dtype, shape and the elements as a flat row-major list (NaN, which
    JSON cannot write, as null)."""
    data = array.ravel().tolist()
    if array.dtype.kind in "OUS":
        data = [value.decode() if isinstance(value, bytes) else value for value in data]
        return {"dtype": "string", "shape": list(array.shape), "data": data}
    if array.dtype.kind == "f":
        data = [None if value != value else value for value in data]
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": data}


def zserve(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs a `zserve` subcommand to completion, capturing stdout and stderr."""
    return subprocess.run([ZSERVE_BIN, *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


def predict(endpoint: str, model: str, inputs: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Runs `zserve predict` with `inputs` (input name -> JSON tensor, on stdin: large batches do not fit in an
    argument) against the server at `endpoint`."""
    return subprocess.run(
        [ZSERVE_BIN, "predict", "--endpoint", endpoint, "--model", model, "--json", "-"],
        input=json.dumps(inputs, allow_nan=False), capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
    )


def predict_ok(endpoint: str, model: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Runs `zserve predict`, asserts that it succeeded and returns the JSON object it printed."""
    result = predict(endpoint, model, inputs)
    assert result.returncode == 0, f"zserve predict {model} exited with {result.returncode}:\n{result.stderr}"
    return json.loads(result.stdout)


def assert_outputs_match(response: dict[str, Any], model: str, expected: dict[str, np.ndarray]) -> None:
    """Asserts that a `zserve predict` response carries exactly the expected outputs, within tolerance."""
    assert response["model"] == model
    assert response["version"] == 1
    assert sorted(response["outputs"]) == sorted(expected)
    for name, want in expected.items():
        got = response["outputs"][name]
        assert got["shape"] == list(want.shape), f"shape of output {name}"
        if want.dtype.kind in "OUS":
            assert got["dtype"] == "string", f"dtype of output {name}"
            assert got["data"] == want.ravel().tolist(), f"values of output {name}"
            continue
        assert got["dtype"] == want.dtype.name, f"dtype of output {name}"
        data = [np.nan if value is None else value for value in got["data"]]
        actual = np.array(data, dtype=want.dtype).reshape(want.shape)
        np.testing.assert_allclose(actual, want, rtol=RTOL, atol=ATOL, err_msg=f"values of output {name}")


def read_line(stream: IO[str], timeout: float) -> str | None:
    """The next line of `stream` ("" at end of file), or None when none arrives within `timeout` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def stderr_tail(log: Path, lines: int = 40) -> str:
    """The last lines the server wrote to stderr."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------------------------------
# Server lifecycle


def launch_server(repository: Path, log: Path) -> subprocess.Popen[str]:
    """Starts `zserve serve` on an ephemeral port with two workers, stdout piped and stderr to `log`."""
    command = [
        ZSERVE_BIN, "serve",
        "--model-repository", str(repository),
        "--listen", "tcp://127.0.0.1:0",
        "--workers", "2",
    ]
    with log.open("w") as stderr:
        try:
            return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        except OSError as error:
            pytest.fail(f"cannot start ZSERVE_BIN={ZSERVE_BIN}: {error}")


def await_ready(process: subprocess.Popen[str], log: Path) -> dict[str, Any]:
    """Reads and parses the server's ready line, failing if none arrives within READY_TIMEOUT seconds."""
    line = read_line(process.stdout, READY_TIMEOUT)
    if not line:
        pytest.fail(
            f"zserve serve printed no ready line within {READY_TIMEOUT} s (exit code {process.poll()}); "
            f"stderr:\n{stderr_tail(log)}"
        )
    return json.loads(line)


def stop_server(process: subprocess.Popen[str], log: Path) -> None:
    """Sends SIGTERM and asserts a clean exit (code 0, nothing more on stdout) within SHUTDOWN_TIMEOUT seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        remaining_stdout, _ = process.communicate(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"zserve serve did not exit within {SHUTDOWN_TIMEOUT} s of SIGTERM; stderr:\n{stderr_tail(log)}")
    assert process.returncode == 0, f"zserve serve exited with {process.returncode}; stderr:\n{stderr_tail(log)}"
    assert remaining_stdout == "", f"zserve serve printed more than the ready line on stdout:\n{remaining_stdout}"


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture directory: ZSERVE_FIXTURES, else a fresh make_test_models.py output."""
    if FIXTURES:
        return Path(FIXTURES)
    out = tmp_path_factory.mktemp("fixtures")
    subprocess.run([sys.executable, str(MAKE_TEST_MODELS), "--out", str(out)], check=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def server(fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A `zserve serve` over the fixture repository for the whole module; yields its parsed ready line.

    On teardown the server must exit with code 0 within SHUTDOWN_TIMEOUT seconds of SIGTERM.
    """
    log = tmp_path_factory.mktemp("zserve") / "serve.stderr"
    process = launch_server(fixtures / "repository", log)
    try:
        yield await_ready(process, log)
        stop_server(process, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=SHUTDOWN_TIMEOUT)


# ---------------------------------------------------------------------------------------------------------------------
# Tests


def test_ready_line(server: dict[str, Any]) -> None:
    """The ready line names the bound frontend (a real port), no admin socket and the worker count."""
    assert server["event"] == "ready"
    assert server["admin"] is None
    assert server["workers"] == 2
    host, port = server["listen"].rsplit(":", 1)
    assert host == "tcp://127.0.0.1"
    assert int(port) > 0


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_predict_matches_reference(server: dict[str, Any], fixtures: Path, model: str) -> None:
    """`zserve predict` with explicit dtype/shape/data inputs reproduces the onnxruntime reference outputs."""
    inputs, expected = load_data_set(fixtures, model)
    response = predict_ok(server["listen"], model, {name: tensor_json(array) for name, array in inputs.items()})
    assert_outputs_match(response, model, expected)


def test_predict_accepts_nested_lists(server: dict[str, Any], fixtures: Path) -> None:
    """A bare nested list is accepted as an input, its dtype taken from the model."""
    inputs, expected = load_data_set(fixtures, SINGLE_INPUT_MODEL)
    nested = {name: array.tolist() for name, array in inputs.items()}
    response = predict_ok(server["listen"], SINGLE_INPUT_MODEL, nested)
    assert_outputs_match(response, SINGLE_INPUT_MODEL, expected)


def test_predict_unknown_model_is_not_found(server: dict[str, Any]) -> None:
    """Predicting with a model the server does not have fails with NOT_FOUND."""
    result = predict(server["listen"], "no_such_model", {"x": tensor_json(np.zeros((1, 1), dtype=np.float32))})
    assert result.returncode != 0
    assert "NOT_FOUND" in result.stderr


def test_predict_wrong_shape_is_invalid_argument(server: dict[str, Any], fixtures: Path) -> None:
    """An input whose fixed dimension does not fit the model fails with INVALID_ARGUMENT."""
    inputs, _ = load_data_set(fixtures, SINGLE_INPUT_MODEL)
    ((name, array),) = inputs.items()
    result = predict(server["listen"], SINGLE_INPUT_MODEL, {name: tensor_json(array[:, :-1])})
    assert result.returncode != 0
    assert "INVALID_ARGUMENT" in result.stderr


def test_models_lists_every_fixture_model(server: dict[str, Any]) -> None:
    """`zserve models` lists every fixture model with version 1 AVAILABLE."""
    result = zserve("models", "--endpoint", server["listen"])
    assert result.returncode == 0, f"zserve models exited with {result.returncode}:\n{result.stderr}"
    listed = {entry["name"]: entry["versions"] for entry in json.loads(result.stdout)}
    for model in MODEL_NAMES:
        assert model in listed, f"{model} missing from zserve models"
        states = [(version["version"], version["state"]) for version in listed[model]]
        assert states == [(1, "AVAILABLE")], f"versions of {model}"
