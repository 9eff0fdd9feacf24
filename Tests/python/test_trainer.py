"""End-to-end tests of `zserve-trainer` on the committed log's first weeks.

- the three exported models are plain ONNX: onnx.checker accepts them and onnxruntime gives the outputs ZServe serves;
- a bad log line stops the trainer with file:line;
- continuous mode against a real `zserve serve` pushes at least two versions while a client predicts without a single
  failed request, and a server that is down is reported and retried without crashing the trainer.

Environment: ZSERVE_BIN (the built zserve; zserve-trainer is expected beside it, or at ZSERVE_TRAINER_BIN).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import zserve_testing
from zserve_testing import REPO_ROOT, run_server

zserve_testing.skip_without_binary()

from zserve_client import Client, ZServeError  # noqa: E402  (installed by conftest before collection)

TRAINER = os.environ.get("ZSERVE_TRAINER_BIN") or str(Path(os.environ["ZSERVE_BIN"]).parent / "zserve-trainer")
DATA = REPO_ROOT / "Data" / "online-retail" / "online-retail.csv.xz"
CUTOFF = "2011-01-10"
TIMEOUT_S = 300


def trainer(*args, check=True) -> subprocess.CompletedProcess:
    """Runs zserve-trainer with the committed log; returns the completed process (text mode)."""
    result = subprocess.run([TRAINER, *args], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO_ROOT)
    if check:
        assert result.returncode == 0, f"zserve-trainer {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    """The three tasks trained before CUTOFF, as {task: (path, summary JSON)}."""
    folder = tmp_path_factory.mktemp("trained")
    trained = {}
    for task in ("recommender", "demand", "propensity"):
        out = folder / f"{task}.onnx"
        result = trainer("train", "--data", str(DATA), "--task", task, "--train-until", CUTOFF, "--eval-days", "14",
                         "--out", str(out))
        trained[task] = (out, json.loads(result.stdout.strip().splitlines()[-1]))
    return trained


def test_summary_line_and_metadata_carry_every_metric(models):
    for task, (path, summary) in models.items():
        assert summary["task"] == task and summary["model"], summary
        baselines = {"recommender": ["recent_popularity", "own_history"], "demand": ["global_mean", "per_item_mean"],
                     "propensity": ["recency_frequency", "base_rate"]}[task]
        for row in ["model", *baselines]:
            assert summary[row], f"{task}: no {row} in {summary}"
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        props = {p.key: p.value for p in model.metadata_props}
        assert props["task"] == task and props["trained_until"] == CUTOFF
        primary = summary["primary_metric"]
        assert abs(float(props[f"metric.model.{primary}"]) - summary["model"][primary]) < 1e-5


def inputs_for(task: str, path: Path) -> dict:
    """Inputs exercising each model: real and out-of-range customers; feature rows in the features' ranges."""
    rng = np.random.default_rng(7)
    if task == "recommender":
        count = len(json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["customers"]))
        return {"customer_index": np.array([0, 1, 2, 17, count - 1, count, -1, 10**9], dtype=np.int64)}
    width = 19 if task == "demand" else 8
    rows = np.abs(rng.normal(1.0, 2.0, size=(16, width))).astype(np.float32)
    return {"features": rows}


def test_zserve_and_onnxruntime_give_the_same_outputs(models, tmp_path):
    repository = tmp_path / "repository"
    for task, (path, _) in models.items():
        (repository / task / "1").mkdir(parents=True)
        shutil.copy(path, repository / task / "1" / "model.onnx")
    with run_server(repository) as server, Client(server.listen) as client:
        for task, (path, _) in models.items():
            inputs = inputs_for(task, path)
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            names = [output.name for output in session.get_outputs()]
            expected = dict(zip(names, session.run(None, inputs)))
            version, outputs = client.predict(task, inputs)
            assert version == 1
            for name in names:
                if expected[name].dtype == np.int64:
                    np.testing.assert_array_equal(outputs[name], expected[name], err_msg=f"{task}.{name}")
                else:
                    np.testing.assert_allclose(outputs[name], expected[name], rtol=1e-4, atol=1e-5,
                                               err_msg=f"{task}.{name}")
    # Out-of-range customers (rows 5..7) all get the same popular items.
    recommended = ort.InferenceSession(str(models["recommender"][0])).run(
        ["item_index"], inputs_for("recommender", models["recommender"][0]))[0]
    assert recommended.shape == (8, 10)
    assert (recommended[5] == recommended[6]).all() and (recommended[6] == recommended[7]).all()


def test_a_bad_line_is_named_by_file_and_line(tmp_path):
    log = tmp_path / "orders.csv"
    log.write_text("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
                   "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
                   "536366,85123A,HEART,6,2010-12-01 08:28:00,2.55,17850.x,United Kingdom\n")
    result = trainer("train", "--data", str(log), "--task", "recommender", "--train-until", "2010-12-02",
                     "--out", str(tmp_path / "m.onnx"), check=False)
    assert result.returncode != 0
    assert "orders.csv:3: CustomerID '17850.x' is not a positive whole number" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


class Traffic(threading.Thread):
    """Asks for recommendations in a loop; before the first version is live NOT_FOUND (no such model yet) or
    UNAVAILABLE (its first version is loading) is expected, after it nothing may fail."""

    def __init__(self, endpoint: str):
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.stop = threading.Event()
        self.replies = 0
        self.versions: set[int] = set()
        self.failures: list[str] = []

    def run(self) -> None:
        with Client(self.endpoint, timeout_ms=10_000) as client:
            while not self.stop.is_set():
                try:
                    version, outputs = client.predict(
                        "recommender", {"customer_index": np.array([0, 3, -1], dtype=np.int64)})
                except ZServeError as error:
                    if not self.versions and error.code_name in ("NOT_FOUND", "UNAVAILABLE"):
                        self.stop.wait(0.02)
                        continue
                    self.failures.append(f"{error.code_name}: {error}")
                    continue
                self.replies += 1
                self.versions.add(version)
                if outputs["item_index"].shape != (3, 10):
                    self.failures.append(f"item_index shape {outputs['item_index'].shape}")


def test_continuous_mode_pushes_better_versions_while_clients_predict(tmp_path):
    repository = tmp_path / "repository"
    repository.mkdir()
    with run_server(repository, "--admin", "tcp://127.0.0.1:0", "--workers", "2") as server:
        traffic = Traffic(server.listen)
        traffic.start()
        try:
            result = trainer("continuous", "--data", str(DATA), "--task", "recommender", "--model", "recommender",
                             "--from", "2010-12-13", "--until", "2010-12-16", "--eval-days", "7", "--quiet",
                             "--push", server.admin, "--endpoint", server.listen)
        finally:
            traffic.stop.set()
            traffic.join(timeout=30)
        lines = result.stdout.strip().splitlines()
        summary = json.loads(lines[-1])
        assert summary["event"] == "summary" and summary["days"] == 4, result.stdout
        assert len(summary["pushed"]) >= 2, result.stdout
        assert summary["failures"] == 0, result.stdout
        assert summary["pushed"] == sorted(summary["pushed"])
        for day in ("2010-12-13", "2010-12-14", "2010-12-15", "2010-12-16"):
            assert any(line.startswith(f"{day}: trained recommender") for line in lines), result.stdout
        assert traffic.failures == [], traffic.failures[:5]
        assert traffic.replies > 0 and len(traffic.versions) >= 2, (traffic.replies, traffic.versions)
        assert traffic.versions <= set(summary["pushed"])
        # The server serves the last pushed version.
        with Client(server.listen) as client:
            version, _ = client.predict("recommender", {"customer_index": np.array([0], dtype=np.int64)})
        assert version == summary["served_version"] == summary["pushed"][-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_server_that_is_down_is_reported_and_retried():
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    result = trainer("continuous", "--data", str(DATA), "--task", "recommender", "--model", "recommender",
                     "--from", "2010-12-13", "--until", "2010-12-14", "--eval-days", "7", "--quiet",
                     "--push", endpoint, "--endpoint", endpoint, "--retries", "1", "--retry-delay", "0.1",
                     "--timeout-ms", "300")
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["pushed"] == [] and summary["failures"] == 2 and summary["days"] == 2, result.stdout
    assert sum("server unreachable" in line and "will retry" in line for line in lines) == 2, result.stdout


def test_price_curve_sweeps_prices_through_the_demand_model(models, tmp_path):
    # The first 20,000 lines of the committed log as a plain CSV: the trainer also reads a user's own CSV.
    import lzma
    with lzma.open(DATA, "rt", encoding="utf-8") as source:
        excerpt = [next(source) for _ in range(20_001)]
    log = tmp_path / "orders.csv"
    log.write_text("".join(excerpt))
    path, _ = models["demand"]
    result = trainer("price-curve", "--data", str(log), "--model", str(path), "--item", "85123A", "--steps", "5")
    curve = json.loads(result.stdout.strip().splitlines()[-1])
    assert curve["prices"] == sorted(curve["prices"]) and len(curve["prices"]) == 5
    assert all(units > 0 for units in curve["units"])
    assert curve["prices"][0] < curve["usual_price"] < curve["prices"][-1]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1] == 19
    missing = trainer("price-curve", "--data", str(log), "--model", str(path), "--item", "NO-SUCH-ITEM", check=False)
    assert missing.returncode != 0 and "NOT_FOUND: stock code NO-SUCH-ITEM" in missing.stderr


def test_a_refused_push_is_reported_and_the_trainer_carries_on(tmp_path):
    repository = tmp_path / "repository"
    repository.mkdir()
    with run_server(repository, "--admin", "tcp://127.0.0.1:0") as server:
        result = trainer("continuous", "--data", str(DATA), "--task", "recommender", "--model", "bad/name",
                         "--from", "2010-12-13", "--until", "2010-12-14", "--eval-days", "7", "--quiet",
                         "--push", server.admin, "--endpoint", server.listen)
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["pushed"] == [] and summary["failures"] == 2, result.stdout
    refused = [line for line in lines if "push failed (INVALID_ARGUMENT" in line]
    assert len(refused) == 2 and all("will retry after the next day" in line for line in refused), result.stdout
