"""Compares two builds of zserve on the serving path, interleaved in one run so machine drift hits both alike.

    python Benchmarks/compare_builds.py BEFORE_BIN_DIR AFTER_BIN_DIR [--rounds 3] [--model-file PATH]

Each BIN_DIR holds release `zserve` and `zserve-rtt-bench`. Per round and build: `zserve-rtt-bench --workers 2
--json` (batch-1 round trip through the server next to a raw libzmq echo), then `zserve serve --workers 2
--max-batch-size 64` on a repository holding the CTR MLP with `zserve bench --concurrency C --duration D --json` (C = 64 unless `--concurrency`).
The server's CPU time (user + system, from /proc) over the bench run, divided by the requests answered, is the
CPU per request. Prints medians per build and the after/before ratios, and one JSON object as the last line.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def rtt(bin_dir: Path, iterations: int) -> dict:
    out = subprocess.run([str(bin_dir / "zserve-rtt-bench"), "--workers", "2", "--iterations", str(iterations), "--json",
                          "--model-repository", str(REPO_ROOT / "Examples" / "model-repository")],
                         capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(bin_dir: Path, repository: Path, duration: float, concurrency: int) -> dict:
    server = subprocess.Popen([str(bin_dir / "zserve"), "serve", "--model-repository", str(repository), "--listen",
                               "tcp://127.0.0.1:0", "--workers", "2", "--max-batch-size", "64"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(server.stdout.readline())
        before = cpu_seconds(server.pid)
        out = subprocess.run([str(bin_dir / "zserve"), "bench", "--endpoint", ready["listen"], "--model", "ctr",
                              "--concurrency", str(concurrency), "--duration", str(duration), "--json"],
                             capture_output=True, text=True, check=True, timeout=600)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["server_cpu_us_per_request"] = (cpu_seconds(server.pid) - before) * 1e6 / max(1, result["requests"])
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--no-rtt", action="store_true", help="skip the batch-1 round trip (zserve-rtt-bench)")
    parser.add_argument("--model-file", type=Path,
                        default=REPO_ROOT / ".fixtures" / "reference" / "zoo_ctr_mlp" / "model.onnx")
    args = parser.parse_args()
    keys = ([] if args.no_rtt else ["rtt_p50_us", "rtt_p99_us", "echo_p50_us"]) + [
        "bench_rps", "bench_p99_us", "cpu_us_per_request"]
    samples = {name: {key: [] for key in keys} for name in ("before", "after")}
    with tempfile.TemporaryDirectory() as repository:
        (Path(repository) / "ctr" / "1").mkdir(parents=True)
        shutil.copy(args.model_file, Path(repository) / "ctr" / "1" / "model.onnx")
        for round_index in range(args.rounds):
            order = [("before", args.before), ("after", args.after)]
            if round_index % 2:
                order.reverse()
            for name, bin_dir in order:
                s = samples[name]
                line = f"round {round_index + 1} {name}:"
                if not args.no_rtt:
                    r = rtt(bin_dir, args.iterations)
                    s["rtt_p50_us"].append(r["zserve_p50_us"])
                    s["rtt_p99_us"].append(r["zserve_p99_us"])
                    s["echo_p50_us"].append(r["echo_p50_us"])
                    line += f" rtt p50 {r['zserve_p50_us']:.1f} µs (echo {r['echo_p50_us']:.1f}),"
                b = bench(bin_dir, Path(repository), args.duration, args.concurrency)
                s["bench_rps"].append(b["throughput_rps"])
                s["bench_p99_us"].append(b["p99_us"])
                s["cpu_us_per_request"].append(b["server_cpu_us_per_request"])
                print(f"{line} bench {b['throughput_rps']:.0f} req/s p99 {b['p99_us']:.0f} µs "
                      f"cpu {b['server_cpu_us_per_request']:.1f} µs/request {b['status']}", file=sys.stderr)
    medians = {name: {key: statistics.median(values) for key, values in s.items()} for name, s in samples.items()}
    ratios = {key: medians["after"][key] / medians["before"][key] for key in keys}
    for key in keys:
        print(f"{key:18} before {medians['before'][key]:10.1f}  after {medians['after'][key]:10.1f}  "
              f"after/before {ratios[key]:.3f}")
    print(json.dumps({"medians": medians, "ratios": ratios, "samples": samples}))


if __name__ == "__main__":
    main()
