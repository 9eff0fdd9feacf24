"""Soak: a release `zserve serve` under ~80 % of its measured capacity for a long run, with a push every 5 s and a
worker-count change every 30 s; nothing may fail and memory must settle.

    python Benchmarks/soak.py [--bin .build/release/zserve] [--minutes 10] [--load 0.8] [--out docs/soak]
                              [--push-every 5] [--scale-every 30] [--bench-args "--threads 2"]

--push-every 0 / --scale-every 0 leave the pushes / the scaling out (to tell which one disturbs the serving).

1. Capacity: `zserve bench --concurrency 64` for 5 s on the CTR MLP (2 workers, batching 64), then open-loop probes
   at 90, 80, … % of that for 10 s each: the capacity is the highest rate held with every request OK and p99 ≤ 5 ms.
2. Soak: `zserve bench --rate (load × capacity)` in consecutive 10 s windows (open loop: latency counts from each
   request's intended send time), while one admin client pushes a new version every 5 s (alternating two weight sets)
   and scales the workers 2 → 3 → 2 … every 30 s (on 2 cores a third worker adds no capacity, so the load stays at
   the measured fraction; scaling down to 1 would halve capacity and overload on purpose); the server's RSS is
   sampled every second from /proc.
3. Report: per minute requests, errors by code, p50/p99, RSS and the CPU other processes on the machine used (all
   CPU time minus the server's, the generator's and this script's — the cores the soak did not have); RSS growth after warm-up (first minute) as a
   percentage; pushes and scale changes made. Writes OUT.md (table) and OUT.svg (p99 and RSS over time) and prints
   one JSON object as the last line. Exit status 1 if any request failed, a push or scale failed, or RSS grew ≥ 5 %.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "Clients" / "python"))

from zserve_client import AdminClient  # noqa: E402

WINDOW_S = 10
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def busy_seconds() -> float:
    """CPU time all processes on the machine have used (every core's non-idle time, from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def process_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def bench(binary: Path, endpoint: str, args: list[str]) -> dict:
    out = subprocess.run([str(binary), "bench", "--endpoint", endpoint, "--model", "ctr", "--json", *args],
                         capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sustained_capacity(binary: Path, endpoint: str, closed: float, extra: list[str]) -> float:
    """The highest open-loop rate, in steps of 10 % of the closed-loop throughput `closed`, that a 10 s window holds
    with every request answered OK and p99 ≤ 5 ms — what the machine sustains with the generator beside the server
    (a closed loop's throughput is not: it slows down with the server instead of queueing)."""
    for fraction in (0.9, 0.8, 0.7, 0.6, 0.5, 0.4):
        result = bench(binary, endpoint, ["--rate", f"{closed * fraction:.0f}", "--duration", str(WINDOW_S), *extra])
        held = set(result["status"]) <= {"OK"} and result["p99_us"] <= 5000
        print(f"probe {closed * fraction:.0f} req/s: p99 {result['p99_us'] / 1000:.2f} ms, status {result['status']}"
              f"{'' if held else ' (not held)'}", flush=True)
        if held:
            return closed * fraction
    return closed * 0.3


class Operator(threading.Thread):
    """Pushes every `push_every` seconds and changes the worker count every `scale_every` until stopped (0: never);
    records failures."""

    def __init__(self, admin_endpoint: str, models: list[bytes], push_every: float, scale_every: float):
        super().__init__(daemon=True)
        self.push_every = push_every or float("inf")
        self.scale_every = scale_every or float("inf")
        self.admin_endpoint = admin_endpoint
        self.models = models
        self.stop = threading.Event()
        self.pushes = 0
        self.scales = 0
        self.failures: list[str] = []

    def run(self) -> None:
        started = time.monotonic()
        next_push, next_scale, workers = started + self.push_every, started + self.scale_every, 2
        with AdminClient(self.admin_endpoint) as admin:
            while not self.stop.wait(0.1):
                now = time.monotonic()
                try:
                    if now >= next_push:
                        admin.push_model("ctr", self.models[self.pushes % len(self.models)])
                        self.pushes += 1
                        next_push += self.push_every
                    if now >= next_scale:
                        workers = 3 if workers == 2 else 2
                        admin.scale_workers(workers)
                        self.scales += 1
                        next_scale += self.scale_every
                except Exception as error:  # noqa: BLE001 - every failure is reported
                    self.failures.append(f"{time.monotonic() - started:.0f} s: {error}")


def svg(points: list[tuple[float, float, float]], path: Path) -> None:
    """p99 (ms) and RSS (MiB) against minutes, two polylines on one chart with their own scales."""
    width, height, margin = 720, 300, 50
    xs = [p[0] for p in points] or [0]
    span = max(xs) or 1

    def line(values: list[float], color: str, label_y: int) -> str:
        top = max(values) or 1
        coords = " ".join(f"{margin + (x / span) * (width - 2 * margin):.1f},"
                          f"{height - margin - (v / top) * (height - 2 * margin):.1f}" for x, v in zip(xs, values))
        return (f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>'
                f'<text x="{width - margin - 60}" y="{label_y}" fill="{color}" font-size="11">max {top:.1f}</text>')

    p99 = [p[1] for p in points]
    rss = [p[2] for p in points]
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{margin}" y="20" font-size="13">soak: p99 latency (ms, red) and server RSS (MiB, blue) per '
        f'{WINDOW_S} s window over {span:.0f} min</text>'
        f'<line x1="{margin}" y1="{height - margin}" x2="{width - margin}" y2="{height - margin}" stroke="black"/>'
        f'<text x="{width / 2}" y="{height - 15}" font-size="11">minutes</text>'
        + line(p99, "#c0392b", margin) + line(rss, "#2c6fbb", margin + 14)
        + "</svg>\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", type=Path, default=REPO_ROOT / ".build" / "release" / "zserve")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--load", type=float, default=0.8)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "soak")
    parser.add_argument("--push-every", type=float, default=5, help="seconds between pushes (0: none)")
    parser.add_argument("--scale-every", type=float, default=30, help="seconds between worker-count changes (0: none)")
    parser.add_argument("--bench-args", default="", help="extra `zserve bench` arguments for the load, e.g. --threads 2")
    parser.add_argument("--model-file", type=Path,
                        default=REPO_ROOT / ".fixtures" / "reference" / "zoo_ctr_mlp" / "model.onnx")
    args = parser.parse_args()
    model = args.model_file.read_bytes()
    # A second weight set: the same graph with its first initializer scaled, a valid and distinct file.
    import numpy as np
    import onnx
    from onnx import numpy_helper
    proto = onnx.load_from_string(model)
    first = proto.graph.initializer[0]
    first.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(first) * np.float32(1.01), first.name))
    altered = proto.SerializeToString()
    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch) / "repository"
        (repository / "ctr" / "1").mkdir(parents=True)
        (repository / "ctr" / "1" / "model.onnx").write_bytes(model)
        (repository / "ctr" / "config.json").write_text('{"version_policy": {"latest": 2}}')
        server = subprocess.Popen([str(args.bin), "serve", "--model-repository", str(repository), "--listen",
                                   "tcp://127.0.0.1:0", "--admin", "tcp://127.0.0.1:0", "--workers", "2",
                                   "--max-batch-size", "64", "--poll-interval", "0", "--log-level", "warning"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            ready = json.loads(server.stdout.readline())
            closed = bench(args.bin, ready["listen"], ["--concurrency", "64", "--duration", "5"])["throughput_rps"]
            capacity = sustained_capacity(args.bin, ready["listen"], closed, args.bench_args.split())
            rate = capacity * args.load
            print(f"capacity {capacity:.0f} req/s (closed loop {closed:.0f}); soaking at {rate:.0f} req/s for "
                  f"{args.minutes} min", flush=True)
            rss: list[tuple[float, int]] = []
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.wait(1):
                    rss.append((time.monotonic(), rss_bytes(server.pid)))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            operator = Operator(ready["admin"], [altered, model], args.push_every, args.scale_every)
            operator.start()
            started = time.monotonic()
            windows = []
            while time.monotonic() - started < args.minutes * 60:
                # What else ran on the machine meanwhile: all CPU time minus the server's, the load generator's
                # (a reaped child) and this script's own, in cores.
                before = (time.monotonic(), busy_seconds(), process_seconds(server.pid), os.times())
                result = bench(args.bin, ready["listen"],
                               ["--rate", f"{rate:.0f}", "--duration", str(WINDOW_S), *args.bench_args.split()])
                after = (time.monotonic(), busy_seconds(), process_seconds(server.pid), os.times())
                ours = sum(after[3][:4]) - sum(before[3][:4])
                result["server_cores"] = (after[2] - before[2]) / (after[0] - before[0])
                result["other_cores"] = max(0.0, (after[1] - before[1]) - (after[2] - before[2]) - ours) / (after[0] - before[0])
                windows.append((time.monotonic() - started, result))
                print(f"{(time.monotonic() - started) / 60:5.1f} min: {result['requests']} requests, "
                      f"p99 {result['p99_us'] / 1000:.2f} ms, status {result['status']}, "
                      f"RSS {rss[-1][1] / 2**20 if rss else 0:.0f} MiB, server {result['server_cores']:.2f} cores, "
                      f"other processes {result['other_cores']:.2f} cores", flush=True)
            operator.stop.set()
            operator.join()
            sampling.set()
            sampler.join()
        finally:
            server.terminate()
            server.wait(timeout=60)
    failed: dict[str, int] = {}
    for _, window in windows:
        for code, count in window["status"].items():
            if code != "OK":
                failed[code] = failed.get(code, 0) + count
    minutes = []
    for minute in range(int(args.minutes + 0.999)):
        inside = [w for t, w in windows if minute * 60 < t <= (minute + 1) * 60]
        memory = [r for t, r in rss if minute * 60 < t - started <= (minute + 1) * 60]
        if inside:
            minutes.append({"minute": minute + 1, "requests": sum(w["requests"] for w in inside),
                            "errors": sum(c for w in inside for code, c in w["status"].items() if code != "OK"),
                            "p50_ms": statistics.median(w["p50_us"] for w in inside) / 1000,
                            "p99_ms": max(w["p99_us"] for w in inside) / 1000,
                            "other_cores": max(w["other_cores"] for w in inside),
                            "rss_mib": (max(memory) if memory else 0) / 2**20,
                            "rss_median_mib": (statistics.median(memory) if memory else 0) / 2**20})
    # Growth after warm-up: the last minute's median RSS against the second minute's (the first is warm-up);
    # the per-minute maximum also shows the transient peaks of two versions loaded at once during a push.
    growth = (minutes[-1]["rss_median_mib"] / minutes[1]["rss_median_mib"] - 1) * 100 if len(minutes) > 2 else 0.0
    lines = ["| minute | requests | errors | p50 ms (median of windows) | p99 ms (worst window) | RSS MiB (median) | "
             "RSS MiB (max) | other processes, cores (worst window) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {m['minute']} | {m['requests']} | {m['errors']} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
              f"{m['rss_median_mib']:.1f} | {m['rss_mib']:.1f} | {m['other_cores']:.2f} |" for m in minutes]
    # Whether failures coincide with other processes taking the cores: the windows with and without errors.
    erring = [w["other_cores"] for _, w in windows if any(code != "OK" for code in w["status"])]
    clean = [w["other_cores"] for _, w in windows if all(code == "OK" for code in w["status"])]
    summary = {"capacity_rps": capacity, "closed_loop_rps": closed, "rate_rps": rate, "minutes": args.minutes, "requests": sum(m["requests"] for m in minutes),
               "failed": failed, "pushes": operator.pushes, "scale_changes": operator.scales,
               "operator_failures": operator.failures, "rss_median_growth_after_warmup_pct": growth,
               "other_cores_median": {"windows_with_errors": statistics.median(erring) if erring else None,
                                      "windows_without": statistics.median(clean) if clean else None}}
    args.out.with_suffix(".md").write_text(
        f"Soak run: {args.minutes} min at {rate:.0f} req/s ({args.load:.0%} of {capacity:.0f} req/s sustained; "
        f"closed loop {closed:.0f}), "
        f"{operator.pushes} pushes, {operator.scales} scale changes, failed requests {failed or 0}, operator failures "
        f"{len(operator.failures)}, median RSS growth from minute 2 to the last {growth:.1f} %.\n\n" + "\n".join(lines) + "\n")
    svg([(t / 60, w["p99_us"] / 1000, next((r for tt, r in rss if tt - started >= t), rss[-1][1] if rss else 0) / 2**20)
         for t, w in windows], args.out.with_suffix(".svg"))
    print("\n".join(lines))
    print(json.dumps(summary))
    sys.exit(1 if failed or operator.failures or growth >= 5 else 0)


if __name__ == "__main__":
    main()
