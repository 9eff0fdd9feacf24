"""The classic-ML zoo through the `zserve` binary: metadata of tree and pipeline models as they are served, and a
ZipMap export refused at load with the exporter option that removes it. (`test_cli_predict.py` predicts every fixture
model, these included, and compares with onnxruntime.)

Environment: ZSERVE_BIN (required), ZSERVE_FIXTURES (optional), as for test_cli_predict.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper

ZSERVE_BIN = os.environ.get("ZSERVE_BIN")
if not ZSERVE_BIN:
    pytest.skip("ZSERVE_BIN is not set: point it at the built zserve executable", allow_module_level=True)

from test_cli_predict import fixtures, server  # noqa: E402,F401  (module-scoped fixtures shared with that module)

COMMAND_TIMEOUT = 30


def zserve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZSERVE_BIN, *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT)


def metadata(endpoint: str, model: str) -> dict[str, Any]:
    result = zserve("metadata", "--endpoint", endpoint, "--model", model)
    assert result.returncode == 0, f"zserve metadata {model} exited with {result.returncode}:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("model", "features", "outputs"),
    [
        ("zoo_lightgbm_regressor", 24, {"variable": ("float32", [-1, 1])}),
        ("zoo_xgboost_classifier", 24, {"label": ("int64", [-1]), "probabilities": ("float32", [-1, 2])}),
        ("zoo_sklearn_random_forest", 12, {"label": ("int64", [-1]), "probabilities": ("float32", [-1, 3])}),
        ("zoo_sklearn_pipeline", 8, {"label": ("int64", [-1]), "probabilities": ("float32", [-1, 3])}),
    ],
)
def test_metadata_of_classic_ml_models(server: dict[str, Any], model: str, features: int, outputs: dict) -> None:
    """`zserve metadata` names the exported inputs and outputs with their dtypes and shapes (-1: any batch)."""
    info = metadata(server["listen"], model)
    assert [(i["name"], i["dtype"], i["shape"]) for i in info["inputs"]] == [("x", "float32", [-1, features])]
    got = {o["name"]: (o["dtype"], o["shape"]) for o in info["outputs"]}
    assert got == outputs


def test_zipmap_is_refused_naming_the_exporter_option(tmp_path: Path) -> None:
    """A classifier exported with ZipMap (skl2onnx's default) does not load; the error says how to export without it."""
    zipmap = helper.make_node("ZipMap", ["probabilities"], ["output"], domain="ai.onnx.ml", classlabels_int64s=[0, 1])
    graph = helper.make_graph(
        [zipmap], "zipmap",
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        [helper.make_value_info("output", helper.make_sequence_type_proto(
            helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)])
    path = tmp_path / "zipmap.onnx"
    onnx.save_model(model, path)
    result = zserve("perf", str(path), "--iterations", "1", "--warmup", "0")
    assert result.returncode != 0
    assert "ZipMap" in result.stderr and "'zipmap': False" in result.stderr, result.stderr
