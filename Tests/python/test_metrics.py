"""Operations endpoints against the real binary: a real Prometheus (Debian's `prometheus`) scrapes a live server's
/metrics and its query API must report what the clients saw; /healthz and /readyz follow the models' states."""

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

import zserve_testing
from zserve_client import AdminClient, Client, ZServeError
from zserve_testing import EXAMPLE_REPOSITORY, run_server

zserve_testing.skip_without_binary()

MODEL = "purchase_propensity"
PROMETHEUS = shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def query(prometheus: str, expression: str) -> dict:
    """The instant vector of `expression` as {frozenset(labels): value}."""
    url = f"http://{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    status, body = get(url)
    assert status == 200, body
    result = json.loads(body)["data"]["result"]
    return {frozenset((k, v) for k, v in sample["metric"].items() if k not in ("instance", "job", "__name__")):
            float(sample["value"][1]) for sample in result}


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus is installed by scripts/setup.sh")
def test_prometheus_scrapes_what_the_clients_saw(tmp_path):
    with run_server(EXAMPLE_REPOSITORY, "--workers", "2", "--metrics-listen", "127.0.0.1:0") as server:
        seen = {"OK": 0, "INVALID_ARGUMENT": 0, "NOT_FOUND": 0}
        per_model = {MODEL: 0, "no_such_model": 0}
        rng = np.random.default_rng(0)
        with Client(server.listen) as client:
            for i in range(300):
                model, columns = (MODEL, 8) if i % 10 else ("no_such_model", 8)
                if i % 7 == 0:
                    columns = 5
                per_model[model] += 1
                try:
                    client.predict(model, {"features": rng.standard_normal((2, columns)).astype(np.float32)})
                    seen["OK"] += 1
                except ZServeError as error:
                    seen[error.code_name] += 1
        config = tmp_path / "prometheus.yml"
        config.write_text(f"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: zserve\n"
                          f"    static_configs:\n      - targets: ['{server.metrics}']\n")
        listen = f"127.0.0.1:{free_port()}"
        with open(tmp_path / "prometheus.log", "wb") as log, subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                 f"--web.listen-address={listen}"], stdout=log, stderr=log) as prometheus:
            try:
                expected = {code: float(count) for code, count in seen.items() if count}
                deadline = time.monotonic() + 60
                by_code = {}
                while time.monotonic() < deadline:
                    try:
                        samples = query(listen, "sum by (code) (zserve_requests_total)")
                        by_code = {dict(labels)["code"]: value for labels, value in samples.items()}
                    except (urllib.error.URLError, ConnectionError, AssertionError):
                        by_code = {}
                    if by_code == expected:
                        break
                    time.sleep(0.5)
                assert by_code == expected, (by_code, expected, (tmp_path / "prometheus.log").read_text()[-2000:])
                total = query(listen, "sum by (model) (zserve_request_duration_seconds_count)")
                assert {dict(labels)["model"]: value for labels, value in total.items()} == \
                    {model: float(count) for model, count in per_model.items()}
                ok_by_version = query(listen, 'zserve_requests_total{code="OK"}')
                assert ok_by_version == {frozenset({("model", MODEL), ("version", "1"), ("code", "OK")}): seen["OK"]}
                assert query(listen, 'zserve_model_versions{state="available"}') == {
                    frozenset({("state", "available")}): 1.0}
            finally:
                prometheus.terminate()
                prometheus.wait(timeout=30)


def test_health_and_readiness_follow_the_models(tmp_path):
    repository = tmp_path / "repository"
    repository.mkdir()
    model = (EXAMPLE_REPOSITORY / MODEL / "1" / "model.onnx").read_bytes()
    with run_server(repository, "--workers", "1", "--admin", "tcp://127.0.0.1:0",
                    "--metrics-listen", "127.0.0.1:0") as server:
        base = f"http://{server.metrics}"
        assert get(f"{base}/healthz") == (200, "ok\n")
        assert get(f"{base}/readyz") == (200, "ready\n"), "no model is expected yet"
        with AdminClient(server.admin) as admin, Client(server.listen) as client:
            assert client.server_ready()
            admin.push_model(MODEL, model)
            assert get(f"{base}/readyz") == (200, "ready\n")
            assert client.server_ready()
            admin.unload_model(MODEL, 1)
            status, body = get(f"{base}/readyz")
            assert status == 503 and f"model '{MODEL}' has no available version" in body, body
            assert not client.model_ready(MODEL)
            assert not client.server_ready(), "ServerReady agrees with /readyz"
            assert get(f"{base}/healthz") == (200, "ok\n")
            assert get(f"{base}/nothing")[0] == 404
