#!/usr/bin/env python3
"""Model distribution across hosts (issue 13): how long a pushed version takes to be served by every worker host, and
how throughput spreads over 1, 2 and 3 worker hosts.

Hosts are network namespaces on one bridge (Tests/python/netns.py; needs root): a client host, a server host
(`zserve serve --workers 0`) and worker hosts (`zserve worker --cache DIR`, empty caches, no repository).

(a) Push to serve. For a ~1 MB and a ~100 MB model: `zserve push` from the client host; reported are the push
    (upload, load and warm-up on the server, until the push returns), then until each worker host reports the version
    ready (fetch over the worker socket, SHA-256, rename, load, warm-up; from the workers' JSON logs), --rounds times.
(b) Throughput. `zserve bench` from the client host on the CTR MLP (x [1, 16] per request), concurrency 64, batching
    up to 64, with 1, 2 and 3 worker hosts of one worker thread each, next to the same server with 2 local workers.
    Every namespace shares the machine's cores: this shows how work spreads and what the hops cost, not the speed of
    separate machines.

Usage: sudo .venv/bin/python Benchmarks/distribution.py [--zserve .build/release/zserve] [--rounds 3] [--seconds 5]
       [--json]
"""

import argparse
import datetime
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "Tests" / "python"))
from netns import Network  # noqa: E402 - after the sys.path entry

FEATURES = 16


def linear_model(columns: int, seed: int) -> bytes:
    """x float32 [batch, 16] -> MatMul with a [16, columns] weight -> ReduceSum over columns -> y [batch, 1]; the
    weight is 64 * columns bytes."""
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((FEATURES, columns), dtype=np.float32) / columns
    axes = np.array([1], dtype=np.int64)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("ReduceSum", ["h", "axes"], ["y"], keepdims=1)],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(axes, "axes")],
    )
    return helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def ctr_mlp(seed: int = 0, hidden: int = 32) -> bytes:
    rng = np.random.default_rng(seed)
    weights = {
        "w1": rng.standard_normal((FEATURES, hidden), dtype=np.float32) / 4,
        "b1": rng.standard_normal(hidden, dtype=np.float32),
        "w2": rng.standard_normal((hidden, 1), dtype=np.float32) / hidden ** 0.5,
        "b2": rng.standard_normal(1, dtype=np.float32),
    }
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["a"]),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["l"]), helper.make_node("Sigmoid", ["l"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes, "ctr", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(array, name) for name, array in weights.items()])
    return helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def log_times(path: Path, message: str) -> list[tuple[float, dict]]:
    """(unix time, event) of each JSON log line with `message`."""
    found = []
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("message") == message:
            moment = datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
            found.append((moment, event))
    return found


class Cluster:
    """A server host with --workers N (local) and `remote` worker hosts, plus a client host."""

    def __init__(self, network: Network, binary: str, work: Path, repository: Path, remote: int, local: int = 0,
                 batching: bool = False):
        self.binary, self.work = binary, work
        self.client = network.add_host("client")
        self.server_host = network.add_host("server")
        self.worker_hosts = [network.add_host(f"worker{i + 1}") for i in range(remote)]
        self.frontend = f"tcp://{self.server_host.address}:7070"
        self.admin = f"tcp://{self.server_host.address}:7071"
        worker_endpoint = f"tcp://{self.server_host.address}:7072"
        extra = ["--max-batch-size", "64"] if batching else []
        self.server = self.server_host.popen(
            binary, "serve", "--model-repository", str(repository), "--listen", self.frontend, "--admin", self.admin,
            "--insecure-admin", "--workers", str(local), "--worker-endpoint", worker_endpoint, "--log-format", "json",
            *extra, stdout=subprocess.PIPE, stderr=open(work / "server.log", "w"), text=True)
        readable, _, _ = select.select([self.server.stdout], [], [], 60)
        assert readable and self.server.stdout.readline(), (work / "server.log").read_text()[-2000:]
        self.worker_logs = [work / f"{host.name}.log" for host in self.worker_hosts]
        self.workers = [
            host.popen(binary, "worker", "--connect", worker_endpoint, "--cache", str(work / f"{host.name}-cache"),
                       "--log-format", "json", stderr=open(log, "w"))
            for host, log in zip(self.worker_hosts, self.worker_logs)]

    def wait_until_ready(self, model: str, version: int, since: float = 0, timeout: float = 300) -> list[float]:
        """When each worker host logged `model` `version` ready (unix times)."""
        deadline = time.monotonic() + timeout
        key = f"{model} v{version}"
        while True:
            times = []
            for log in self.worker_logs:
                ready = [moment for moment, event in log_times(log, "version ready") if event.get("version") == key
                         and moment >= since]
                if ready:
                    times.append(ready[0])
            if len(times) == len(self.worker_logs):
                return times
            assert time.monotonic() < deadline, f"{key} not ready on every worker"
            time.sleep(0.05)

    def stop(self) -> None:
        for worker in self.workers:
            worker.terminate()
            worker.wait(timeout=30)
        self.server.terminate()
        self.server.wait(timeout=30)


def push_to_serve(binary: str, work: Path, rounds: int) -> list[dict]:
    sizes = {"1 MB": 16_384, "100 MB": 1_600_000}
    results = []
    for label, columns in sizes.items():
        for round_ in range(rounds):
            run_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"push-{columns}-"))
            repository = run_dir / "repository"
            (repository / "linear" / "1").mkdir(parents=True)
            (repository / "linear" / "1" / "model.onnx").write_bytes(linear_model(1, seed=0))
            model_file = run_dir / "model.onnx"
            model_file.write_bytes(linear_model(columns, seed=round_ + 1))
            with Network() as network:
                cluster = Cluster(network, binary, run_dir, repository, remote=2)
                try:
                    cluster.wait_until_ready("linear", 1)
                    started = time.time()
                    pushed = cluster.client.run(binary, "push", "--endpoint", cluster.admin, "--model", "linear",
                                                str(model_file), "--timeout-ms", "300000", timeout=600)
                    live = time.time()
                    assert pushed.returncode == 0, pushed.stderr
                    ready = cluster.wait_until_ready("linear", 2, since=started)
                finally:
                    cluster.stop()
            results.append({
                "model": label, "bytes": model_file.stat().st_size, "round": round_ + 1,
                "push_s": live - started, "workers_ready_after_push_s": [t - live for t in ready],
                "total_s": max(ready) - started,
            })
            print(json.dumps(results[-1]), file=sys.stderr)
    return results


def bench(cluster: Cluster, seconds: float) -> dict:
    result = cluster.client.run(cluster.binary, "bench", "--endpoint", cluster.frontend, "--model", "ctr",
                                "--concurrency", "64", "--duration", str(seconds), "--json", timeout=seconds + 120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def throughput(binary: str, work: Path, seconds: float) -> list[dict]:
    repository = work / "ctr-repository"
    (repository / "ctr" / "1").mkdir(parents=True)
    (repository / "ctr" / "1" / "model.onnx").write_bytes(ctr_mlp())
    results = []
    for remote, local in ((0, 2), (1, 0), (2, 0), (3, 0)):
        run_dir = Path(tempfile.mkdtemp(dir=work, prefix=f"bench-{remote}-{local}-"))
        with Network() as network:
            cluster = Cluster(network, binary, run_dir, repository, remote=remote, local=local, batching=True)
            try:
                if remote:
                    cluster.wait_until_ready("ctr", 1)
                report = bench(cluster, seconds)
            finally:
                cluster.stop()
        row = {"worker_hosts": remote, "local_workers": local, "requests_per_s": report.get("throughput_rps"),
               "p50_us": report.get("p50_us"), "p99_us": report.get("p99_us"), "status": report.get("status"),
               "report": report}
        results.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "report"}), file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zserve", default=str(REPO_ROOT / ".build" / "release" / "zserve"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zserve-distribution-"))
    output = {
        "push_to_serve": push_to_serve(arguments.zserve, work, arguments.rounds),
        "throughput": throughput(arguments.zserve, work, arguments.seconds),
    }
    if arguments.json:
        print(json.dumps(output))
        return
    print("push to serve (2 worker hosts)")
    for row in output["push_to_serve"]:
        workers = ", ".join(f"{t:.2f}" for t in row["workers_ready_after_push_s"])
        print(f"  {row['model']:>6} round {row['round']}: push {row['push_s']:.2f} s, then workers ready after "
              f"{workers} s (total {row['total_s']:.2f} s)")
    print("throughput, C=64, batching 64 (all hosts share the machine's cores)")
    for row in output["throughput"]:
        print(f"  worker hosts {row['worker_hosts']} local workers {row['local_workers']}: "
              f"{row['requests_per_s']} req/s p50 {row['p50_us']} us p99 {row['p99_us']} us {row['status']}")


if __name__ == "__main__":
    main()
