#!/usr/bin/env python3
"""Hot-swap benchmark (issue 4): prediction latency during a burst of swaps vs steady state, and the memory a swap of a
~100 MB model takes.

(a) Latency. A server over a repository holding a CTR MLP (x float32 [batch, 16] -> Gemm -> Relu -> Gemm -> Sigmoid)
    is loaded by `zserve bench` at an open-loop rate (--load of its closed-loop capacity at 32 in flight, so the
    cores have room as a production server's would), alternating --rounds times: --seconds of steady state, then
    --seconds while new versions are pushed — by one long-lived pushing process like a trainer (--pusher client,
    Python AdminClient, a push every --push-every seconds or back to back) or one `zserve push` process per swap,
    back to back (--pusher process), at --pusher-nice. Prints p50/p99 of every phase, the median swapping/steady ratios, and the failed requests and
    pushes (must be 0).
(b) Memory. A server over a repository holding a MatMul model with a --matrix x --matrix float32 weight (5000: 100 MB);
    reads VmRSS before, pushes version 2 of the same size while sampling the server's VmRSS every 10 ms, and reports
    the peak (sampled, and the kernel's VmHWM after resetting it just before the push) and VmRSS once version 1 is
    unloaded, next to the bound old + new.

Usage: .venv/bin/python Benchmarks/hot_swap.py [--zserve .build/release/zserve] [--load 0.5] [--rounds 3]
       [--seconds 6] [--pusher client|process] [--push-every 0] [--pusher-nice 0] [--workers 2] [--matrix 5000] [--json]
Exits 1 when a request or a push failed.
"""

import argparse
import contextlib
import json
import multiprocessing
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
from zserve_client import AdminClient, ZServeError  # noqa: E402 - after the sys.path entry
from zserve_client.protos import model_control_pb2  # noqa: E402

import soak  # noqa: E402 - Benchmarks/, beside this script

MODEL = "ctr"
BIG_MODEL = "embedding_projection"
INPUT = "x"
OUTPUT = "y"
FEATURES = 16
HIDDEN = 4096
READY_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30
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


def push(zserve: str, admin: str, model: str, path: Path, nice: int = 0) -> None:
    """Pushes a model file with `zserve push` (at `nice`); raises when the push fails."""
    command = ["nice", "-n", str(nice)] * (nice != 0) + [zserve, "push", "--endpoint", admin, "--model", model, str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=PUSH_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"zserve push failed: {result.stderr.strip()}")


# ---------------------------------------------------------------------------------------------------------------------
# (a) Latency


def bench(zserve: str, endpoint: str, load: list[str], seconds: float) -> dict:
    """One `zserve bench` run on the CTR model (soak.py's); its JSON summary."""
    return soak.bench(Path(zserve), endpoint, [*load, "--duration", str(seconds)])


def swap_files(scratch: Path) -> list[Path]:
    """Two CTR models with other weights, pushed in turn."""
    files = []
    for seed in (2, 3):
        files.append(scratch / f"ctr-{seed}.onnx")
        files[-1].write_bytes(ctr_mlp(seed))
    return files


def push_with_client(admin: str, files: list[str], nice: int, every: float, stop, counts) -> None:
    """A trainer-like pusher: one long-lived AdminClient at `nice` pushing the files in turn, one push started every
    `every` seconds (0: back to back), until `stop` is set; adds (pushes, failed, seconds) to `counts`. Runs in its own process, so it competes for the cores as a trainer
    would and not for this process's interpreter lock."""
    os.nice(nice)
    pushes = failed = 0
    busy = 0.0
    with AdminClient(admin, timeout_ms=PUSH_TIMEOUT_S * 1000) as client:
        while not stop.is_set():
            start = time.perf_counter()
            try:
                client.push_model(MODEL, Path(files[pushes % 2]).read_bytes())
            except ZServeError as error:
                print(f"push failed: {error}", file=sys.stderr)
                failed += 1
            busy += time.perf_counter() - start
            pushes += 1
            stop.wait(max(0.0, every - (time.perf_counter() - start)))
    counts.put((pushes - failed, failed, busy))


def push_with_processes(zserve: str, admin: str, files: list[Path], nice: int, stop: threading.Event) -> tuple:
    """One `zserve push` process per swap until `stop` is set; (pushes, failed, seconds)."""
    pushes = failed = 0
    busy = 0.0
    while not stop.is_set():
        start = time.perf_counter()
        try:
            push(zserve, admin, MODEL, files[pushes % 2], nice)
        except RuntimeError as error:
            print(error, file=sys.stderr)
            failed += 1
        busy += time.perf_counter() - start
        pushes += 1
    return pushes - failed, failed, busy


def swapping_bench(args, ready: dict, files: list[Path], load: list[str]) -> dict:
    """`bench` while versions are pushed back to back by the chosen pusher; the result gains the push counts."""
    if args.pusher == "client":
        spawn = multiprocessing.get_context("spawn")
        stop, counts = spawn.Event(), spawn.Queue()
        pusher = spawn.Process(target=push_with_client,
                               args=(ready["admin"], [str(f) for f in files], args.pusher_nice, args.push_every, stop,
                                     counts))
        pusher.start()
        try:
            result = bench(args.zserve, ready["listen"], load, args.seconds)
        finally:
            stop.set()
        pushes, failed, busy = counts.get(timeout=PUSH_TIMEOUT_S)
        pusher.join()
    else:
        stop = threading.Event()
        with ThreadPoolExecutor(1) as pool:
            pushing = pool.submit(push_with_processes, args.zserve, ready["admin"], files, args.pusher_nice, stop)
            try:
                result = bench(args.zserve, ready["listen"], load, args.seconds)
            finally:
                stop.set()
            pushes, failed, busy = pushing.result()
    return result | {"pushes": pushes, "failed_pushes": failed, "mean_push_s": busy / max(1, pushes + failed)}


def failures(result: dict) -> int:
    return sum(count for status, count in result["status"].items() if status != "OK")


def latency_benchmark(args, scratch: Path) -> dict:
    """Steady state vs a burst of swaps, alternating in the same run at the same open-loop rate."""
    repository = repository_with(scratch, MODEL, ctr_mlp(1))
    files = swap_files(scratch)
    with serving(args.zserve, repository, args.workers) as (_, ready):
        bench(args.zserve, ready["listen"], ["--concurrency", "32"], WARMUP_S)
        capacity = bench(args.zserve, ready["listen"], ["--concurrency", "32"], args.seconds)["throughput_rps"]
        load = ["--rate", f"{args.load * capacity:.0f}"]
        rounds = []
        for _ in range(args.rounds):
            steady = bench(args.zserve, ready["listen"], load, args.seconds)
            swapping = swapping_bench(args, ready, files, load)
            rounds.append({"steady": steady, "swapping": swapping,
                           "p50_ratio": swapping["p50_us"] / steady["p50_us"],
                           "p99_ratio": swapping["p99_us"] / steady["p99_us"]})
            print(f"steady p50 {steady['p50_us']} µs p99 {steady['p99_us']} µs; swapping p50 {swapping['p50_us']} µs "
                  f"p99 {swapping['p99_us']} µs ({swapping['pushes']} pushes): p99 ratio {rounds[-1]['p99_ratio']:.2f}",
                  file=sys.stderr, flush=True)
    return {
        "capacity_rps": capacity, "rate_rps": args.load * capacity, "rounds": rounds,
        "p50_ratio": float(np.median([r["p50_ratio"] for r in rounds])),
        "p99_ratio": float(np.median([r["p99_ratio"] for r in rounds])),
        "failures": sum(failures(r["steady"]) + failures(r["swapping"]) for r in rounds),
        "pushes": sum(r["swapping"]["pushes"] for r in rounds),
        "failed_pushes": sum(r["swapping"]["failed_pushes"] for r in rounds),
        "mean_push_s": float(np.mean([r["swapping"]["mean_push_s"] for r in rounds])),
    }


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
        f"open loop at {latency['rate_rps']:.0f} req/s (capacity {latency['capacity_rps']:.0f} req/s at 32 in flight)\n",
        "| round | steady p50 · p99 | swapping p50 · p99 | pushes | p99 swapping / steady |",
        "| --- | --- | --- | --- | --- |",
    ]
    for index, row in enumerate(latency["rounds"], 1):
        steady, swapping = row["steady"], row["swapping"]
        lines.append(f"| {index} | {steady['p50_us']} µs · {steady['p99_us']} µs | {swapping['p50_us']} µs · "
                     f"{swapping['p99_us']} µs | {swapping['pushes']} | {row['p99_ratio']:.2f} |")
    lines += [
        f"\nswapping / steady (median of rounds): p50 {latency['p50_ratio']:.2f}×, p99 {latency['p99_ratio']:.2f}×; "
        f"failed requests: {latency['failures']}; failed pushes: {latency['failed_pushes']}; "
        f"mean push: {latency['mean_push_s'] * 1e3:.0f} ms\n",
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
    parser.add_argument("--load", type=float, default=0.5, help="open-loop rate as a fraction of capacity")
    parser.add_argument("--rounds", type=int, default=3, help="steady/swapping pairs")
    parser.add_argument("--seconds", type=float, default=6, help="length of each latency phase")
    parser.add_argument("--workers", type=int, default=2, help="server inference workers")
    parser.add_argument("--matrix", type=int, default=5000, help="side of the big model's square weight")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    parser.add_argument("--pusher", choices=["client", "process"], default="client",
                        help="one long-lived pushing client (like a trainer) or a `zserve push` process per swap")
    parser.add_argument("--push-every", type=float, default=0,
                        help="seconds from one push's start to the next (--pusher client; 0: back to back)")
    parser.add_argument("--pusher-nice", type=int, default=0,
                        help="nice value of the pushing processes (a trainer on the same host would run lower)")
    return parser.parse_args()


def main() -> int:
    """Runs both benchmarks and prints the results; 1 when a request or a push failed."""
    args = parse_arguments()
    if not os.access(args.zserve, os.X_OK):
        sys.exit(f"no zserve binary at {args.zserve}: swift build -c release --product zserve")
    with tempfile.TemporaryDirectory(prefix="zserve-hot-swap-") as scratch:
        results = {
            "latency": latency_benchmark(args, Path(scratch, "latency")),
            "memory": memory_benchmark(args, Path(scratch, "memory")),
            "config": {"load": args.load, "rounds": args.rounds, "seconds": args.seconds, "pusher": args.pusher,
                       "push_every": args.push_every,
                       "pusher_nice": args.pusher_nice, "workers": args.workers, "matrix": args.matrix,
                       "zserve": args.zserve},
        }
    print(json.dumps(results, indent=2) if args.json else markdown(results))
    latency = results["latency"]
    return 1 if latency["failures"] or latency["failed_pushes"] else 0


if __name__ == "__main__":
    sys.exit(main())
