"""The load generators Benchmarks/run drives systems with, each returning `zserve bench --json`'s fields:
requests, throughput_rps, p50_us, p90_us, p99_us, p999_us, status (counts by code)."""

import json
import os
import subprocess
import sys
from pathlib import Path

PEERS = Path(__file__).resolve().parents[1] / "peers"


def _last_json(completed: subprocess.CompletedProcess, what: str) -> dict:
    if completed.returncode != 0:
        raise RuntimeError(f"{what} failed ({completed.returncode}): {completed.stderr[-1500:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def zserve_bench(binary: Path, endpoint: str, model: str, model_file: Path, duration: float, *,
                 concurrency: int | None = None, rate: float | None = None, socket: str = "dealer") -> dict:
    """`zserve bench` (the one generator for every ZeroMQ system): DEALER sockets, up to 4 (one thread), or REQ
    sockets, one per request in flight; inputs made from the model file."""
    load = ["--rate", f"{rate:.0f}", "--connections", "4"] if rate else \
        ["--concurrency", str(concurrency), "--connections", str(concurrency if socket == "req" else min(concurrency, 4))]
    command = [str(binary), "bench", "--endpoint", endpoint, "--model", model, "--model-file", str(model_file),
               "--duration", str(duration), "--socket", socket, "--json", *load]
    return _last_json(subprocess.run(command, capture_output=True, text=True, timeout=duration + 120), "zserve bench")


def python_load(kind: str, target: str, payload: Path, duration: float, *, concurrency: int | None = None,
                rate: float | None = None, env: dict | None = None) -> dict:
    """Benchmarks/peers/load.py, 2 processes: gRPC calls or HTTP POSTs."""
    load = ["--rate", f"{rate:.0f}"] if rate else ["--concurrency", str(concurrency)]
    command = [sys.executable, str(PEERS / "load.py"), kind, target, "--payload", str(payload), "--duration",
               str(duration), "--processes", "2", *load]
    return _last_json(subprocess.run(command, capture_output=True, text=True, timeout=duration + 180, env=env),
                      f"load.py {kind}")


def wrk(url: str, body: Path, duration: float, concurrency: int) -> dict:
    """wrk (closed loop: `concurrency` keep-alive connections on up to 2 threads) POSTing `body`."""
    seconds = max(1, round(duration))
    command = ["wrk", f"-t{min(2, concurrency)}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(PEERS / "wrk_post.lua"), url]
    result = _last_json(subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                                       env=dict(os.environ, WRK_BODY_FILE=str(body))), "wrk")
    elapsed = result["duration_us"] / 1e6
    ok = result["requests"] - result["failed"]
    status = {"OK": ok} | ({"FAILED": result["failed"]} if result["failed"] else {})
    return {"requests": result["requests"], "throughput_rps": ok / elapsed, "p50_us": result["p50_us"],
            "p90_us": result["p90_us"], "p99_us": result["p99_us"], "p999_us": result["p999_us"], "status": status}


def kernel_time(binary: Path, model_file: Path, iterations: int) -> dict:
    """`zserve perf`: the model alone in-process, batch 1, one thread."""
    command = [str(binary), "perf", str(model_file), "--batch", "1", "--iterations", str(iterations), "--json"]
    return _last_json(subprocess.run(command, capture_output=True, text=True, timeout=300), "zserve perf")
