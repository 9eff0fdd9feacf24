"""What an optional server feature costs per request: one release `zserve serve` with the feature and one without,
measured in alternating rounds with `zserve bench` so machine drift hits both alike.

    python Benchmarks/feature_cost.py --feature curve|metrics [--bin .build/release/zserve] [--rounds 4] [--duration 3]

Features: `curve` (CurveZMQ on the frontend: `--frontend-keys`, bench with keys) and `metrics` (`--metrics-listen`,
`/metrics` scraped every `--scrape-every` seconds during the load, as a Prometheus would).

Per round and mode: concurrency 1 (round-trip latency), concurrency 64 with batching (throughput), and an open loop
at `--rate` requests per second (the same work in both modes), where the server's CPU time per request is read from
/proc — the figure that throughput noise on a shared machine hides least. Prints medians per mode, feature/plain
ratios, and one JSON object as the last line.

With --profile, a last run at concurrency 64 with the feature on is sampled with `perf record -g` (Linux perf, as
root) and the share of the server's CPU samples whose stack passes through the feature's code is printed: a direct
measure of what the feature costs that does not depend on comparing two noisy runs.
"""

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import urllib.request
from pathlib import Path

from soak import bench, process_seconds

REPO_ROOT = Path(__file__).resolve().parents[1]


def keygen(binary: Path, prefix: Path) -> None:
    subprocess.run([str(binary), "keygen", "--out", str(prefix)], check=True, capture_output=True)


# Symbols of each feature's code in the server's stacks (Swift mangled names contain the type and module names).
FEATURE_CODE = {
    "metrics": re.compile(r"Prometheus|CoreMetrics|MetricsRecorder|ServerMetrics|FlyingFox|NIOLock"),
    "curve": re.compile(r"crypto_box|crypto_secretbox|salsa20|poly1305|curve25519|sodium|curve_(client|server|mechanism)",
                        re.IGNORECASE),
}


def profile_share(feature: str, pid: int, seconds: float, run_load) -> tuple[float, int]:
    """Samples process `pid` with perf while `run_load()` runs; (share of samples in the feature's code, samples)."""
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "perf.data"
        recorder = subprocess.Popen(["perf", "record", "-F", "1999", "-g", "-p", str(pid), "-o", str(data)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run_load()
        finally:
            recorder.send_signal(2)
            recorder.wait(timeout=60)
        script = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym"], capture_output=True, text=True,
                                check=True).stdout
    samples = [sample for sample in script.split("\n\n") if sample.strip()]
    inside = sum(1 for sample in samples if FEATURE_CODE[feature].search(sample))
    return inside / max(1, len(samples)), len(samples)


class Scraper(threading.Thread):
    """GETs a /metrics URL every `interval` seconds until stopped; counts the scrapes and checks each is a 200."""

    def __init__(self, url: str, interval: float):
        super().__init__(daemon=True)
        self.url, self.interval, self.scrapes = url, interval, 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            with urllib.request.urlopen(self.url, timeout=5) as response:
                assert response.status == 200 and b"zserve_requests_total" in response.read()
            self.scrapes += 1


class Feature:
    """Server and client flags of one mode; `scratch` holds keys made once for the whole run."""

    def __init__(self, name: str, binary: Path, scratch: Path, scrape_every: float):
        self.name, self.scrape_every = name, scrape_every
        if name == "curve":
            keys = scratch / "keys"
            (keys / "allowed").mkdir(parents=True)
            keygen(binary, keys / "server")
            keygen(binary, keys / "client")
            shutil.copy(keys / "client.pub", keys / "allowed")
            self.serve = ["--server-key", str(keys / "server.key"), "--frontend-keys", str(keys / "allowed")]
            self.client = ["--server-public-key", str(keys / "server.pub"), "--client-key", str(keys / "client.key")]
        elif name == "metrics":
            self.serve, self.client = ["--metrics-listen", "127.0.0.1:0"], []
        else:
            raise SystemExit(f"unknown feature {name!r} (curve, metrics)")


def measure(binary: Path, repository: Path, feature: Feature | None, load: list[str], duration: float,
            profile: bool = False) -> dict:
    """One server, one `zserve bench` run; the result gains `server_cpu_us_per_request`, `scrapes` and, with
    `profile`, `profile_share` and `profile_samples`."""
    server = subprocess.Popen([str(binary), "serve", "--model-repository", str(repository), "--listen",
                               "tcp://127.0.0.1:0", "--workers", "2", "--max-batch-size", "64",
                               *(feature.serve if feature else [])],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    scraper = None
    try:
        ready = json.loads(server.stdout.readline())
        if feature and feature.name == "metrics":
            scraper = Scraper(f"http://{ready['metrics']}/metrics", feature.scrape_every)
            scraper.start()
        cpu_before = process_seconds(server.pid)
        outputs = []

        def run_load() -> None:
            outputs.append(bench(binary, ready["listen"],
                                 [*load, "--duration", str(duration), *(feature.client if feature else [])]))

        share = profile_share(feature.name, server.pid, duration, run_load) if profile else None
        if not profile:
            run_load()
        cpu = process_seconds(server.pid) - cpu_before
        result = outputs[0]
        assert set(result["status"]) == {"OK"}, result["status"]
        result["server_cpu_us_per_request"] = cpu / result["requests"] * 1e6
        if share:
            result["profile_share"], result["profile_samples"] = share
        if scraper:
            scraper.stopping.set()
            scraper.join()
            result["scrapes"] = scraper.scrapes
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feature", required=True, choices=["curve", "metrics"])
    parser.add_argument("--bin", type=Path, default=REPO_ROOT / ".build" / "release" / "zserve")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=3)
    parser.add_argument("--rate", type=float, default=20000, help="open-loop requests per second for the CPU figure")
    parser.add_argument("--profile", action="store_true",
                        help="also sample the feature-on server at C=64 with perf and report its code's share")
    parser.add_argument("--scrape-every", type=float, default=1.0, help="seconds between /metrics scrapes")
    parser.add_argument("--model-file", type=Path,
                        default=REPO_ROOT / ".fixtures" / "reference" / "zoo_ctr_mlp" / "model.onnx")
    args = parser.parse_args()
    plain, on = "plain", args.feature
    series = ("c1_p50_us", "c1_p99_us", "c64_rps", "c64_p99_us", "c64_cpu_us", "rate_cpu_us", "rate_p99_us")
    samples = {mode: {key: [] for key in series} for mode in (plain, on)}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "repository" / "ctr" / "1").mkdir(parents=True)
        shutil.copy(args.model_file, scratch / "repository" / "ctr" / "1" / "model.onnx")
        feature = Feature(args.feature, args.bin, scratch, args.scrape_every)
        for round_index in range(args.rounds):
            for mode in ((plain, on) if round_index % 2 == 0 else (on, plain)):
                chosen = feature if mode == on else None
                repository = scratch / "repository"
                one = measure(args.bin, repository, chosen, ["--concurrency", "1"], args.duration)
                many = measure(args.bin, repository, chosen, ["--concurrency", "64"], args.duration)
                paced = measure(args.bin, repository, chosen, ["--rate", str(args.rate)], args.duration)
                values = (one["p50_us"], one["p99_us"], many["throughput_rps"], many["p99_us"],
                          many["server_cpu_us_per_request"], paced["server_cpu_us_per_request"], paced["p99_us"])
                for key, value in zip(series, values):
                    samples[mode][key].append(value)
                print(f"round {round_index + 1} {mode:7}: C=1 p50 {one['p50_us']:.0f} µs p99 {one['p99_us']:.0f} µs; "
                      f"C=64 {many['throughput_rps']:.0f} req/s p99 {many['p99_us']:.0f} µs "
                      f"CPU {many['server_cpu_us_per_request']:.2f} µs/req; "
                      f"{args.rate:.0f}/s CPU {paced['server_cpu_us_per_request']:.2f} µs/req "
                      f"p99 {paced['p99_us']:.0f} µs", flush=True)
        profiled = None
        if args.profile:
            profiled = measure(args.bin, scratch / "repository", feature, ["--concurrency", "64"], args.duration,
                               profile=True)
            print(f"profile, {on} at C=64: {profiled['profile_share'] * 100:.2f} % of "
                  f"{profiled['profile_samples']} server CPU samples in the feature's code", flush=True)
    medians = {mode: {key: statistics.median(values) for key, values in by_key.items()} for mode, by_key in samples.items()}
    ratios = {key: medians[on][key] / medians[plain][key] for key in series}
    pairwise = {key: [a / b for a, b in zip(samples[on][key], samples[plain][key])] for key in series}
    for mode in (plain, on):
        print(f"{mode:7} medians: " + ", ".join(f"{key} {value:.2f}" for key, value in medians[mode].items()))
    print(f"{on}/{plain}: " + ", ".join(f"{key} {value:.3f}" for key, value in ratios.items()))
    print(json.dumps({"feature": on, "medians": medians, "ratios": ratios, "pairwise": pairwise,
                      "rounds": args.rounds, "duration_s": args.duration, "rate": args.rate,
                      "profile_share": profiled and profiled["profile_share"]}))


if __name__ == "__main__":
    main()
