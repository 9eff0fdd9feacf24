"""`zserve perf`: in-process timing of a model, with the per-node profile users read to see where time goes.

Environment: ZSERVE_BIN (required, else skipped), ZSERVE_FIXTURES (optional, else the CNN is built here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zserve_testing import skip_without_binary

skip_without_binary()

MAKE_TEST_MODELS = Path(__file__).resolve().parents[2] / "scripts" / "make_test_models.py"


@pytest.fixture(scope="module")
def cnn_model(tmp_path_factory) -> Path:
    """The seed article's CNN from the zoo: Conv → Relu → MaxPool fuse into one node, the Gemm takes its Relu."""
    fixtures = os.environ.get("ZSERVE_FIXTURES")
    if fixtures:
        return Path(fixtures) / "repository" / "zoo_seed_cnn" / "1" / "model.onnx"
    out = tmp_path_factory.mktemp("zoo")
    subprocess.run([sys.executable, str(MAKE_TEST_MODELS), "--out", str(out), "--only", "zoo_seed_cnn"], check=True)
    return out / "repository" / "zoo_seed_cnn" / "1" / "model.onnx"


def perf(model: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [os.environ["ZSERVE_BIN"], "perf", str(model), "--batch", "3", "--iterations", "5", "--warmup", "1", *extra],
        capture_output=True, text=True, timeout=120, check=True)


def test_json_output_stays_one_object_with_the_profile_on_stderr(cnn_model: Path) -> None:
    result = perf(cnn_model, "--json", "--profile")
    report = json.loads(result.stdout)
    assert report["batch"] == 3 and report["iterations"] == 5 and report["threads"] == 1
    assert 0 < report["p50_us"] <= report["p99_us"]
    lines = result.stderr.strip().splitlines()
    # One line per node after fusion, slowest first, then the total.
    nodes = [line for line in lines if "%" in line]
    assert len(nodes) == 4
    assert any("Conv" in line and "Relu" in line and "MaxPool" in line for line in nodes)
    assert any("Gemm" in line and "Relu" in line for line in nodes)
    times = [float(line.split()[0]) for line in nodes]
    assert times == sorted(times, reverse=True)
    assert lines[-1].endswith("µs in nodes per run")


def test_plain_output_without_the_profile(cnn_model: Path) -> None:
    result = perf(cnn_model)
    assert result.stdout.startswith("batch 3, 5 runs, 1 thread(s): p50 ")
    assert "%" not in result.stdout and result.stderr == ""
