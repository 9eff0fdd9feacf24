"""What CurveZMQ on the frontend costs per request: one release `zserve serve` with `--frontend-keys` and one
without, measured in alternating rounds with `zserve bench` so machine drift hits both alike.

    python Benchmarks/curve_cost.py [--bin .build/release/zserve] [--rounds 4] [--duration 3]

Per round and mode: concurrency 1 (round-trip latency: what the encryption adds to one request) and concurrency 64
with batching (throughput). Prints medians per mode, curve/plain ratios, and one JSON object as the last line.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def keygen(binary: Path, prefix: Path) -> None:
    subprocess.run([str(binary), "keygen", "--out", str(prefix)], check=True, capture_output=True)


def measure(binary: Path, repository: Path, keys: Path | None, concurrency: int, duration: float) -> dict:
    curve_serve = ["--server-key", str(keys / "server.key"), "--frontend-keys", str(keys / "allowed")] if keys else []
    curve_client = ["--server-public-key", str(keys / "server.pub"), "--client-key", str(keys / "client.key")] if keys else []
    server = subprocess.Popen([str(binary), "serve", "--model-repository", str(repository), "--listen",
                               "tcp://127.0.0.1:0", "--workers", "2", "--max-batch-size", "64", *curve_serve],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready = json.loads(server.stdout.readline())
        out = subprocess.run([str(binary), "bench", "--endpoint", ready["listen"], "--model", "ctr", "--concurrency",
                              str(concurrency), "--duration", str(duration), "--json", *curve_client],
                             capture_output=True, text=True, check=True, timeout=600)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert set(result["status"]) == {"OK"}, result["status"]
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", type=Path, default=REPO_ROOT / ".build" / "release" / "zserve")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=3)
    parser.add_argument("--model-file", type=Path,
                        default=REPO_ROOT / ".fixtures" / "reference" / "zoo_ctr_mlp" / "model.onnx")
    args = parser.parse_args()
    samples = {mode: {"c1_p50_us": [], "c1_p99_us": [], "c64_rps": [], "c64_p99_us": []} for mode in ("plain", "curve")}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "repository" / "ctr" / "1").mkdir(parents=True)
        shutil.copy(args.model_file, scratch / "repository" / "ctr" / "1" / "model.onnx")
        (scratch / "keys" / "allowed").mkdir(parents=True)
        keygen(args.bin, scratch / "keys" / "server")
        keygen(args.bin, scratch / "keys" / "client")
        shutil.copy(scratch / "keys" / "client.pub", scratch / "keys" / "allowed")
        for round_index in range(args.rounds):
            order = ("plain", "curve") if round_index % 2 == 0 else ("curve", "plain")
            for mode in order:
                keys = scratch / "keys" if mode == "curve" else None
                one = measure(args.bin, scratch / "repository", keys, 1, args.duration)
                many = measure(args.bin, scratch / "repository", keys, 64, args.duration)
                samples[mode]["c1_p50_us"].append(one["p50_us"])
                samples[mode]["c1_p99_us"].append(one["p99_us"])
                samples[mode]["c64_rps"].append(many["throughput_rps"])
                samples[mode]["c64_p99_us"].append(many["p99_us"])
                print(f"round {round_index + 1} {mode:5}: C=1 p50 {one['p50_us']:.0f} µs p99 {one['p99_us']:.0f} µs; "
                      f"C=64 {many['throughput_rps']:.0f} req/s p99 {many['p99_us']:.0f} µs", flush=True)
    medians = {mode: {key: statistics.median(values) for key, values in series.items()} for mode, series in samples.items()}
    ratios = {key: medians["curve"][key] / medians["plain"][key] for key in medians["plain"]}
    for mode in ("plain", "curve"):
        print(f"{mode:5} medians: " + ", ".join(f"{key} {value:.0f}" for key, value in medians[mode].items()))
    print("curve/plain: " + ", ".join(f"{key} {value:.2f}" for key, value in ratios.items()))
    print(json.dumps({"medians": medians, "ratios": ratios, "rounds": args.rounds, "duration_s": args.duration}))


if __name__ == "__main__":
    main()
