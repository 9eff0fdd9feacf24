"""Benchmarks/run's measurement plan: which systems, which loads, in which order (see Benchmarks/run)."""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import drivers, report, setup
from .setup import log
from .systems import StartFailure, started

P99_LIMIT_US = 5000
CONCURRENCIES = (1, 8, 64)


@dataclass
class Settings:
    duration: float
    warmup: float
    sweep_fractions: tuple[float, ...]
    kernel_iterations: int
    # The smallest fraction of the best closed-loop throughput the sweep goes down to when its first step fails.
    sweep_floor: float = 0.05


QUICK = Settings(duration=1.0, warmup=0.3, sweep_fractions=(0.4, 0.7, 1.0), kernel_iterations=2000)
FULL = Settings(duration=3.0, warmup=1.0, sweep_fractions=(0.3, 0.5, 0.7, 0.85, 1.0, 1.15), kernel_iterations=10000)


@dataclass
class System:
    """One system under load: how to start it and which generator drives it.

    `per_model`: one server process per model (the Python peers); otherwise one process serves every model.
    `driver`: zbench (DEALER), zbench-req (REQ, closed loop only), grpc, or http (wrk closed, load.py open)."""

    name: str
    group: str  # floor, zserve, peer
    command: object  # callable(models: dict[name, Path] | (name, Path)) -> argv
    driver: str
    per_model: bool = False
    open_loop: bool = True


def make_systems(binary: Path, repository: Path) -> list[System]:
    py, peers = sys.executable, drivers.PEERS
    serve = [str(binary), "serve", "--model-repository", str(repository), "--listen", "tcp://127.0.0.1:0"]
    return [
        System("raw echo REQ/REP", "floor", lambda _: [str(binary), "echo", "--socket", "rep"], "zbench-req",
               open_loop=False),
        System("raw echo DEALER/ROUTER", "floor", lambda _: [str(binary), "echo", "--socket", "router"], "zbench"),
        System("gRPC echo (load.py ceiling)", "floor",
               lambda model: [py, str(peers / "grpc_peer.py"), model[0], str(model[1]), "--echo"], "grpc",
               per_model=True, open_loop=False),
        System("ZServe 1 worker", "zserve", lambda _: serve + ["--workers", "1"], "zbench"),
        System("ZServe 2 workers", "zserve", lambda _: serve + ["--workers", "2"], "zbench"),
        System("ZServe 1 worker, batch 64", "zserve", lambda _: serve + ["--workers", "1", "--max-batch-size", "64"],
               "zbench"),
        System("ZServe 2 workers, batch 64", "zserve", lambda _: serve + ["--workers", "2", "--max-batch-size", "64"],
               "zbench"),
        System("pyzmq + onnxruntime, one per run", "peer",
               lambda model: [py, str(peers / "zmq_peer.py"), model[0], str(model[1])], "zbench", per_model=True),
        System("pyzmq + onnxruntime, draining 64", "peer",
               lambda model: [py, str(peers / "zmq_peer.py"), model[0], str(model[1]), "--drain", "64"], "zbench",
               per_model=True),
        System("grpcio aio + onnxruntime", "peer",
               lambda model: [py, str(peers / "grpc_peer.py"), model[0], str(model[1])], "grpc", per_model=True),
        System("Ray Serve + onnxruntime, @serve.batch 64", "peer",
               lambda models: [py, str(peers / "ray_peer.py"), *(f"{name}={path}" for name, path in models.items())],
               "http"),
    ]


def payloads(models: dict[str, Path], out: Path) -> dict[str, dict[str, Path]]:
    """Per model, the request bytes for the Python generators: a serialized PredictRequest and a JSON body, inputs
    made as `zserve bench` makes them (first dimension 1, others as declared; floats in [-1, 1), integers 0)."""
    import onnx
    from tensors import to_tensor
    from zserve.v1 import inference_pb2
    rng = np.random.default_rng(16)
    result = {}
    for name, path in models.items():
        graph = onnx.load(str(path), load_external_data=False).graph
        initializers = {init.name for init in graph.initializer}
        request = inference_pb2.PredictRequest(id="bench")
        request.model.name = name
        body = {}
        for value in graph.input:
            if value.name in initializers:
                continue
            dims = [dim.dim_value if dim.HasField("dim_value") else 1 for dim in value.type.tensor_type.shape.dim]
            if value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
                array = rng.uniform(-1, 1, size=dims).astype(np.float32)
            else:
                array = np.zeros(dims, dtype=np.int64)
            request.inputs.append(to_tensor(value.name, array))
            body[value.name] = array.tolist()
        (out / f"{name}.pb").write_bytes(request.SerializeToString())
        (out / f"{name}.json").write_text(json.dumps(body))
        result[name] = {"pb": out / f"{name}.pb", "json": out / f"{name}.json"}
    return result


class Measurer:
    """Runs the loads of one system on one model and collects its points."""

    def __init__(self, binary: Path, settings: Settings, files: dict[str, Path], bodies: dict, env: dict):
        self.binary, self.settings, self.files, self.bodies, self.env = binary, settings, files, bodies, env

    def load(self, system: System, endpoint: str, model: str, *, concurrency=None, rate=None, duration=None) -> dict:
        duration = duration or self.settings.duration
        if system.driver in ("zbench", "zbench-req"):
            return drivers.zserve_bench(self.binary, endpoint, model, self.files[model], duration,
                                        concurrency=concurrency, rate=rate,
                                        socket="req" if system.driver == "zbench-req" else "dealer")
        if system.driver == "grpc":
            return drivers.python_load("grpc", endpoint, self.bodies[model]["pb"], duration, concurrency=concurrency,
                                       rate=rate, env=self.env)
        url = f"{endpoint}/{model}"
        if rate:
            return drivers.python_load("http", url, self.bodies[model]["json"], duration, rate=rate, env=self.env)
        return drivers.wrk(url, self.bodies[model]["json"], duration, concurrency)

    def measure(self, system: System, running, model: str) -> dict:
        """Closed loop at each concurrency (with server CPU per request where the server is one process), then the
        open-loop sweep: rising fractions of the best closed-loop throughput until p99 > 5 ms, a failed request or a
        rate not reached."""
        self.load(system, running.endpoint, model, concurrency=8, duration=self.settings.warmup)
        result = {"closed": {}, "open": [], "max_rate": None}
        single_process = system.driver != "http"  # Ray runs replicas in other processes
        for concurrency in CONCURRENCIES:
            before = running.cpu_seconds() if single_process else None
            point = self.load(system, running.endpoint, model, concurrency=concurrency)
            if before is not None and point["requests"]:
                point["cpu_us_per_request"] = (running.cpu_seconds() - before) * 1e6 / point["requests"]
            result["closed"][concurrency] = point
            log(f"  {model} {system.name} C={concurrency}: {point['throughput_rps']:.0f} req/s, "
                f"p50 {point['p50_us']:.0f} µs, p99 {point['p99_us']:.0f} µs {point['status']}")
        if not system.open_loop:
            return result
        best = max(point["throughput_rps"] for point in result["closed"].values())
        fractions = list(self.settings.sweep_fractions)
        lowest = fractions[0]
        while fractions:
            rate = max(10.0, best * fractions.pop(0))
            point = self.load(system, running.endpoint, model, rate=rate)
            point["rate"] = rate
            result["open"].append(point)
            ok = set(point["status"]) == {"OK"} and point["p99_us"] <= P99_LIMIT_US and \
                point["throughput_rps"] >= 0.95 * rate
            log(f"  {model} {system.name} rate {rate:.0f}: {point['throughput_rps']:.0f} req/s, "
                f"p99 {point['p99_us']:.0f} µs {'ok' if ok else 'over'}")
            if ok:
                result["max_rate"] = rate
            elif result["max_rate"] is None and lowest > self.settings.sweep_floor:
                # Over the limit already at the lowest step: halve until a rate passes or the floor is reached.
                lowest /= 2
                fractions = [lowest]
            else:
                break
        return result


def machine() -> dict:
    model = "unknown"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    load = os.getloadavg()
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(),
            "load_before": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"}


def main(root: Path) -> int:
    parser = argparse.ArgumentParser(description="Issue 16's benchmark: floor, ZServe and peers in one run.")
    parser.add_argument("--quick", action="store_true", help="1 s per point, 3 sweep steps (under 10 minutes)")
    parser.add_argument("--skip", action="append", default=[], metavar="WORD",
                        help="skip systems whose name contains WORD (e.g. Ray); repeatable")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md and the plot")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    began = time.monotonic()
    command = "Benchmarks/run" + "".join(f" {shlex.quote(arg)}" for arg in sys.argv[1:])

    work = root / ".bench"
    work.mkdir(exist_ok=True)
    setup.generate_stubs(root, work / "gen")
    sys.path[:0] = [str(work / "gen"), str(drivers.PEERS)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(work / "gen"), str(drivers.PEERS)]))
    os.environ["PYTHONPATH"] = env["PYTHONPATH"]
    wrk_binary = setup.ensure_wrk()
    files = setup.model_files(root, work / "models")
    bodies = payloads(files, work)
    repository = work / "repository"
    for name, path in files.items():
        (repository / name / "1").mkdir(parents=True, exist_ok=True)
        target = repository / name / "1" / "model.onnx"
        if not target.exists() or target.read_bytes() != path.read_bytes():
            target.write_bytes(path.read_bytes())
    binary = setup.wait_for_build(root)
    setup_seconds = time.monotonic() - began

    results = {"machine": machine(), "command": command, "settings": settings.__dict__, "models": {},
               "kernel": {}, "skipped": {}}
    for name, path in files.items():
        results["kernel"][name] = drivers.kernel_time(binary, path, settings.kernel_iterations)
        log(f"kernel {name}: p50 {results['kernel'][name]['p50_us']:.1f} µs")
        results["models"][name] = {}
    measurer = Measurer(binary, settings, files, bodies, env)
    for system in make_systems(binary, repository):
        if any(word.lower() in system.name.lower() for word in args.skip):
            results["skipped"][system.name] = "skipped by --skip"
            continue
        if system.driver == "http" and not wrk_binary:
            results["skipped"][system.name] = "wrk could not be installed"
            continue
        log(f"{system.name}")
        try:
            if system.per_model:
                for name, path in files.items():
                    with started(system.command((name, path)), env=env) as running:
                        results["models"][name][system.name] = measurer.measure(system, running, name)
            else:
                timeout = 180 if system.driver == "http" else 60
                with started(system.command(files), env=env, ready_timeout=timeout) as running:
                    for name in files:
                        results["models"][name][system.name] = measurer.measure(system, running, name)
        except (StartFailure, RuntimeError, subprocess.TimeoutExpired) as error:
            results["skipped"][system.name] = f"{type(error).__name__}: {error}"[:600]
            log(f"  {system.name} skipped: {error}")
    results["seconds"] = {"setup_and_build": round(setup_seconds), "total": round(time.monotonic() - began)}
    (work / "results.json").write_text(json.dumps(results, indent=1))
    text = report.render(results, groups={system.name: system.group for system in make_systems(binary, repository)})
    print(text)
    if not args.no_doc:
        report.write_doc(root / "docs" / "benchmarks.md", text)
        report.plot(results, root / "docs" / "benchmarks-latency-throughput.png")
        log("wrote docs/benchmarks.md (marked section) and docs/benchmarks-latency-throughput.png")
    log(f"done in {time.monotonic() - began:.0f} s")
    return 0
