#!/usr/bin/env python3
"""Hot-swap benchmark (issue 4): prediction latency during a burst of swaps vs steady state, and the memory a swap of a
~100 MB model takes.

(a) Latency. A server over a repository holding a CTR MLP (x float32 [batch, 16] -> Gemm -> Relu -> Gemm -> Sigmoid)
    answers closed-loop Predicts from --clients threads, each a DEALER keeping --in-flight requests outstanding:
    --seconds of steady state, then --seconds while `zserve push` (a separate process, like a trainer) pushes new
    versions back to back. Prints p50/p99 of both phases, their p99 ratio, and the failed requests (must be 0).
(b) Memory. A server over a repository holding a MatMul model with a --matrix x --matrix float32 weight (5000: 100 MB);
    reads VmRSS before, pushes version 2 of the same size while sampling the server's VmRSS every 10 ms, and reports
    the peak (sampled, and the kernel's VmHWM after resetting it just before the push) and VmRSS once version 1 is
    unloaded, next to the bound old + new.

Usage: .venv/bin/python Benchmarks/hot_swap.py [--zserve .build/release/zserve] [--clients 2] [--in-flight 16]
       [--seconds 10] [--workers 2] [--matrix 5000] [--json]
Exits 1 when a request or a push failed.
"""

import argparse
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = Path(__file__).resolve().parent.parent
CLIENT_DIR = REPO_ROOT / "Clients" / "python"
sys.path.insert(0, str(CLIENT_DIR))
from zserve_client import AdminClient, PipelinedClient, ZServeError  # noqa: E402 - after the sys.path entry
from zserve_client.protos import model_control_pb2  # noqa: E402

MODEL = "ctr"
BIG_MODEL = "embedding_projection"
INPUT = "x"
OUTPUT = "y"
FEATURES = 16
HIDDEN = 4096
READY_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30
REPLY_TIMEOUT_MS = 30_000
PUSH_TIMEOUT_S = 300
WARMUP_S = 1.0
RSS_SAMPLE_S = 0.01
SETTLE_TIMEOUT_S = 60
MIB = 1 << 20


# ---------------------------------------------------------------------------------------------------------------------
# Models


def onnx_bytes(nodes, inputs_width: int, output_shape: list, initializers: dict) -> bytes:
    """An opset-13 model with input x float32 [batch, inputs_width], output y and the given initializers."""
    graph = helper.make_graph(
        nodes, "benchmark",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", inputs_width])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, output_shape)],
        [numpy_helper.from_array(array, name) for name, array in initializers.items()],
    )
    return helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def ctr_mlp(seed: int) -> bytes:
    """A CTR MLP (16 -> HIDDEN -> 1) with weights drawn from seed."""
    rng = np.random.default_rng(seed)
    weights = {
        "w1": rng.standard_normal((FEATURES, HIDDEN), dtype=np.float32) / FEATURES ** 0.5,
        "b1": rng.standard_normal(HIDDEN, dtype=np.float32),
        "w2": rng.standard_normal((HIDDEN, 1), dtype=np.float32) / HIDDEN ** 0.5,
        "b2": rng.standard_normal(1, dtype=np.float32),
    }
    nodes = [
        helper.make_node("Gemm", [INPUT, "w1", "b1"], ["hidden"]),
        helper.make_node("Relu", ["hidden"], ["activated"]),
        helper.make_node("Gemm", ["activated", "w2", "b2"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], [OUTPUT]),
    ]
    return onnx_bytes(nodes, FEATURES, ["batch", 1], weights)


def projection(seed: int, size: int) -> bytes:
    """x [batch, size] MatMul a size x size float32 weight drawn from seed (size 5000: 100 MB)."""
    weight = np.random.default_rng(seed).standard_normal((size, size), dtype=np.float32) / size ** 0.5
    return onnx_bytes([helper.make_node("MatMul", [INPUT, "w"], [OUTPUT])], size, ["batch", size], {"w": weight})


def repository_with(root: Path, model: str, data: bytes) -> Path:
    """A model repository under root holding model version 1."""
    version = root / "repository" / model / "1"
    version.mkdir(parents=True)
    (version / "model.onnx").write_bytes(data)
    return root / "repository"


# ---------------------------------------------------------------------------------------------------------------------
# Server


@contextlib.contextmanager
def serving(zserve: str, repository: Path, workers: int):
    """Runs `zserve serve` with an admin endpoint and polling off; yields (process, its ready line as a dict)."""
    command = [zserve, "serve", "--model-repository", str(repository), "--listen", "tcp://127.0.0.1:0",
               "--admin", "tcp://127.0.0.1:0", "--workers", str(workers), "--poll-interval", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            if not select.select([process.stdout], [], [], READY_TIMEOUT_S)[0]:
                raise RuntimeError(f"zserve printed no ready line within {READY_TIMEOUT_S} s")
            ready = json.loads(process.stdout.readline())
            yield process, ready
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=STOP_TIMEOUT_S)


PUSHER_NICE = 0


def push(zserve: str, admin: str, model: str, path: Path) -> None:
    """Pushes a model file with `zserve push` (at PUSHER_NICE); raises when the push fails."""
    command = ["nice", "-n", str(PUSHER_NICE)] * (PUSHER_NICE != 0) + [zserve, "push", "--endpoint", admin, "--model", model, str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=PUSH_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"zserve push failed: {result.stderr.strip()}")


# ---------------------------------------------------------------------------------------------------------------------
# (a) Latency


def closed_loop(endpoint: str, in_flight: int, deadline: float) -> tuple[list, int]:
    """Keeps in_flight Predicts outstanding until the deadline, then drains; returns (latencies in s, failures)."""
    x = np.random.default_rng(0).standard_normal((1, FEATURES), dtype=np.float32)
    sent_at, latencies, failures = {}, [], 0
    with PipelinedClient(endpoint, timeout_ms=REPLY_TIMEOUT_MS) as client:
        while sent_at or time.monotonic() < deadline:
            while len(sent_at) < in_flight and time.monotonic() < deadline:
                sent_at[client.send_predict(MODEL, {INPUT: x})] = time.perf_counter()
            try:
                request_id, _ = client.receive()
            except TimeoutError:
                return latencies, failures + len(sent_at)
            except ZServeError as error:
                failures += 1
                sent_at.pop(error.request_id, None)
                continue
            latencies.append(time.perf_counter() - sent_at.pop(request_id))
    return latencies, failures


def push_until(zserve: str, admin: str, deadline: float, scratch: Path) -> tuple[int, int, list]:
    """Pushes two CTR models in turn, back to back, until the deadline; returns (pushes, failed, seconds each)."""
    files = []
    for seed in (2, 3):
        files.append(scratch / f"ctr-{seed}.onnx")
        files[-1].write_bytes(ctr_mlp(seed))
    failed, durations = 0, []
    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            push(zserve, admin, MODEL, files[len(durations) % 2])
        except RuntimeError as error:
            print(error, file=sys.stderr)
            failed += 1
        durations.append(time.perf_counter() - start)
    return len(durations) - failed, failed, durations


def phase(endpoint: str, clients: int, in_flight: int, seconds: float, background=None) -> dict:
    """Runs the closed loop from `clients` threads for `seconds`, with an optional background(deadline) alongside."""
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(clients + 1) as pool:
        loops = [pool.submit(closed_loop, endpoint, in_flight, deadline) for _ in range(clients)]
        beside = pool.submit(background, deadline) if background else None
        results = [loop.result() for loop in loops]
    latencies = np.array([latency for loop_latencies, _ in results for latency in loop_latencies])
    summary = {
        "requests": len(latencies),
        "failures": sum(failures for _, failures in results),
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "throughput_per_s": len(latencies) / seconds,
    }
    if beside:
        pushes, failed, durations = beside.result()
        summary |= {"pushes": pushes, "failed_pushes": failed, "mean_push_s": float(np.mean(durations))}
    return summary


def latency_benchmark(args, scratch: Path) -> dict:
    """Steady state vs a burst of swaps, in the same run."""
    repository = repository_with(scratch, MODEL, ctr_mlp(1))
    with serving(args.zserve, repository, args.workers) as (_, ready):
        phase(ready["listen"], args.clients, args.in_flight, WARMUP_S)
        steady = phase(ready["listen"], args.clients, args.in_flight, args.seconds)
        swapping = phase(ready["listen"], args.clients, args.in_flight, args.seconds,
                         lambda deadline: push_until(args.zserve, ready["admin"], deadline, scratch))
    return {"steady": steady, "swapping": swapping, "p50_ratio": swapping["p50_ms"] / steady["p50_ms"],
            "p99_ratio": swapping["p99_ms"] / steady["p99_ms"]}


# ---------------------------------------------------------------------------------------------------------------------
# (b) Memory


def status_kib(pid: int, field: str) -> int:
    """A field of /proc/<pid>/status in KiB, e.g. VmRSS or VmHWM."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def reset_peak_rss(pid: int) -> None:
    """Resets the process's VmHWM to its current VmRSS (Linux: write 5 to /proc/<pid>/clear_refs)."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def sample_peak_rss(pid: int, stop: threading.Event) -> int:
    """Samples VmRSS every RSS_SAMPLE_S until stop is set; returns the highest value in KiB."""
    peak = 0
    while not stop.is_set():
        peak = max(peak, status_kib(pid, "VmRSS"))
        time.sleep(RSS_SAMPLE_S)
    return peak


def wait_until_unloaded(admin: str, model: str, version: int) -> None:
    """Waits until the version's state is END (the policy unloaded it) or SETTLE_TIMEOUT_S passed."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    with AdminClient(admin) as client:
        while time.monotonic() < deadline:
            states = {status.version: status.state for status in client.model_status(model).versions}
            if states.get(version) == model_control_pb2.VERSION_STATE_END:
                return
            time.sleep(0.1)


def memory_benchmark(args, scratch: Path) -> dict:
    """VmRSS before, peak during and after the swap of a model of --matrix² float32 weights."""
    repository = repository_with(scratch, BIG_MODEL, projection(1, args.matrix))
    second = scratch / "projection-2.onnx"
    second.write_bytes(projection(2, args.matrix))
    with serving(args.zserve, repository, args.workers) as (process, ready):
        before = status_kib(process.pid, "VmRSS")
        reset_peak_rss(process.pid)
        stop = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            sampled = pool.submit(sample_peak_rss, process.pid, stop)
            try:
                push(args.zserve, ready["admin"], BIG_MODEL, second)
            finally:
                stop.set()
            peak = sampled.result()
        high_water = status_kib(process.pid, "VmHWM")
        wait_until_unloaded(ready["admin"], BIG_MODEL, 1)
        after = status_kib(process.pid, "VmRSS")
    model_mib = second.stat().st_size / MIB
    return {
        "model_mib": model_mib,
        "rss_before_mib": before / 1024,
        "peak_rss_sampled_mib": peak / 1024,
        "peak_rss_hwm_mib": high_water / 1024,
        "rss_after_mib": after / 1024,
        "bound_old_plus_new_mib": before / 1024 + model_mib,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Report


def markdown(results: dict) -> str:
    """The results as two small markdown tables."""
    latency, memory = results["latency"], results["memory"]
    lines = [
        "| phase | requests | failures | p50 | p99 | pushes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("steady", "swapping"):
        row = latency[name]
        lines.append(f"| {name} | {row['requests']} | {row['failures']} | {row['p50_ms']:.2f} ms | "
                     f"{row['p99_ms']:.2f} ms | {row.get('pushes', '-')} |")
    lines += [
        f"\nswapping / steady: p50 {latency['p50_ratio']:.2f}×, p99 {latency['p99_ratio']:.2f}×; "
        f"failed pushes: {latency['swapping']['failed_pushes']}; "
        f"mean push: {latency['swapping']['mean_push_s'] * 1e3:.0f} ms\n",
        f"| swap of a {memory['model_mib']:.0f} MiB model | MiB |",
        "| --- | --- |",
        f"| VmRSS before | {memory['rss_before_mib']:.0f} |",
        f"| peak VmRSS, sampled every 10 ms | {memory['peak_rss_sampled_mib']:.0f} |",
        f"| peak VmRSS, VmHWM | {memory['peak_rss_hwm_mib']:.0f} |",
        f"| VmRSS after (version 1 unloaded) | {memory['rss_after_mib']:.0f} |",
        f"| bound: before + new model | {memory['bound_old_plus_new_mib']:.0f} |",
    ]
    return "\n".join(lines)


def parse_arguments() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zserve", default=str(REPO_ROOT / ".build" / "release" / "zserve"),
                        help="the zserve binary (a release build)")
    parser.add_argument("--clients", type=int, default=2, help="client threads")
    parser.add_argument("--in-flight", type=int, default=16, help="requests each client keeps outstanding")
    parser.add_argument("--seconds", type=float, default=10, help="length of each latency phase")
    parser.add_argument("--workers", type=int, default=2, help="server inference workers")
    parser.add_argument("--matrix", type=int, default=5000, help="side of the big model's square weight")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    parser.add_argument("--pusher-nice", type=int, default=0,
                        help="nice value of the pushing processes (a trainer on the same host would run lower)")
    return parser.parse_args()


def main() -> int:
    """Runs both benchmarks and prints the results; 1 when a request or a push failed."""
    global PUSHER_NICE
    args = parse_arguments()
    PUSHER_NICE = args.pusher_nice
    if not os.access(args.zserve, os.X_OK):
        sys.exit(f"no zserve binary at {args.zserve}: swift build -c release --product zserve")
    with tempfile.TemporaryDirectory(prefix="zserve-hot-swap-") as scratch:
        results = {
            "latency": latency_benchmark(args, Path(scratch, "latency")),
            "memory": memory_benchmark(args, Path(scratch, "memory")),
            "config": {"clients": args.clients, "in_flight": args.in_flight, "seconds": args.seconds,
                       "workers": args.workers, "matrix": args.matrix, "zserve": args.zserve},
        }
    print(json.dumps(results, indent=2) if args.json else markdown(results))
    swapping = results["latency"]["swapping"]
    failed = results["latency"]["steady"]["failures"] + swapping["failures"] + swapping["failed_pushes"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
