"""Heap allocations per Predict stay a small constant: counted in a real server with a preloaded malloc counter
(Tests/c/malloc_counter.c), around a run of requests after a warm-up.

Environment: ZSERVE_BIN (required, else skipped); a C compiler (cc)."""

import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

import zserve_testing
from zserve_client import Client, PipelinedClient
from zserve_testing import EXAMPLE_REPOSITORY, REPO_ROOT

zserve_testing.skip_without_binary()

MODEL = "purchase_propensity"
INPUT = "features"
# Allocations per request in the whole server process (broker, worker, libzmq, protobuf, runtime), measured
# 2026-12-03 with the example model: release build 41 one at a time through workers, 24 pipelined, 31 and 27 computed
# inline (2026-12-04, another machine: 39 / 31 / 31 / 27 before, 36 / 29 / 28 / 25 after the reply frames, the output
# positions and the packed shape stopped allocating per request); the debug build the suite runs 213 and 115, 214 and 141 (unoptimized Swift copies values the optimizer keeps
# in place). The bounds leave room for allocator and scheduling variation but fail if a per-request cost creeps in
# (each array of frames, string or boxed value is one more).
BOUNDS = {"release": 50, "debug": 260}


@pytest.fixture(scope="module")
def counter(tmp_path_factory):
    if shutil.which("cc") is None:
        pytest.skip("no C compiler to build the malloc counter")
    library = tmp_path_factory.mktemp("counter") / "libmalloc_counter.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(REPO_ROOT / "Tests/c/malloc_counter.c")],
                   check=True)
    return library


def allocations(server, report) -> int:
    """The server's allocation count so far (it writes it to `report` on SIGUSR2)."""
    report.unlink(missing_ok=True)
    os.kill(server.process.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if report.exists() and report.read_text().endswith("\n"):
            return int(report.read_text().split()[1])
        time.sleep(0.01)
    raise AssertionError("the server did not report its allocation count")


def rows(count: int) -> np.ndarray:
    return np.random.default_rng(count).normal(size=(count, 8)).astype(np.float32)


@pytest.mark.parametrize("inline_us", [0, 50], ids=["workers", "inline"])
def test_allocations_per_request_are_few_and_do_not_grow_with_the_request(counter, tmp_path, monkeypatch, inline_us):
    report = tmp_path / "allocations"
    monkeypatch.setenv("LD_PRELOAD", str(counter))
    monkeypatch.setenv("MALLOC_COUNTER_FILE", str(report))
    with zserve_testing.run_server(EXAMPLE_REPOSITORY, "--workers", "2", "--max-batch-size", "16",
                                   "--inline-compute-us", str(inline_us)) as server:
        monkeypatch.delenv("LD_PRELOAD")
        per_request = {}
        with Client(server.listen, timeout_ms=10_000) as client:
            for size in (1, 64):
                features = rows(size)
                for _ in range(200):  # warm-up: sessions, pools, caches
                    client.predict(MODEL, {INPUT: features})
                before = allocations(server, report)
                for _ in range(1000):
                    client.predict(MODEL, {INPUT: features})
                per_request[size] = (allocations(server, report) - before) / 1000
        with PipelinedClient(server.listen, timeout_ms=10_000) as pipelined:
            features = rows(1)
            before = allocations(server, report)
            for round_ in range(10):
                for i in range(100):
                    pipelined.send_predict(MODEL, {INPUT: features}, request_id=f"p{round_}-{i}")
                for _ in range(100):
                    pipelined.receive()
            per_request["pipelined"] = (allocations(server, report) - before) / 1000
    print(f"allocations per request ({'workers' if inline_us == 0 else 'inline'}): {per_request}")  # pytest -s
    bound = BOUNDS["release" if "/release/" in os.environ["ZSERVE_BIN"] else "debug"]
    assert all(count <= bound for count in per_request.values()), per_request
    if inline_us == 0:
        # One path throughout (with inline compute, small and large requests may take different ones):
        # 64 rows are 64 × more tensor bytes, not more allocations,
        assert abs(per_request[64] - per_request[1]) <= 2, per_request
        # and pipelined requests share batches: no more allocations each than one at a time.
        assert per_request["pipelined"] <= per_request[1] + 2, per_request
