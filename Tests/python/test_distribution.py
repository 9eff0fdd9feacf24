"""Pushed versions reach workers on other hosts without shared storage: a client host, a server host and two worker
hosts in network namespaces (netns.py). Workers start with an empty cache and no repository of their own; every
version they serve comes from the server over the worker socket. Under load from the client host, with zero failed
requests: a push reaches both workers; a worker host whose link is down while versions are pushed and the default is
rolled back catches up to exactly the server's set when the link returns."""

import contextlib
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import numpy as np
import onnxruntime as ort

import zserve_testing
from installed_client import install_client
from netns import Host, Network, QdiscUnavailable, skip_unless_possible
from test_hosts import ready_line
from test_hot_swap import INPUT, LARGE_HIDDEN, MODEL, OUTPUT, X, ctr_mlp, write_version

zserve_testing.skip_without_binary()
skip_unless_possible()

WAIT_TIMEOUT_S = 45
RTOL, ATOL = 1e-4, 1e-6

# Predicts from the client host until the stop file appears; prints every reply's version and first output, and
# every failure.
LOAD_SCRIPT = """
import json, os, sys, time
import numpy as np
from zserve_client import Client
endpoint, stop_file = sys.argv[1], sys.argv[2]
x = np.array(json.loads(sys.argv[3]), dtype=np.float32)
replies, failed = [], []
with Client(endpoint, timeout_ms=20000) as client:
    while not os.path.exists(stop_file):
        try:
            version, outputs = client.predict("ctr", {"x": x})
            replies.append([version, outputs["probability"].ravel().tolist()])
        except Exception as error:
            failed.append(repr(error))
print(json.dumps({"replies": replies, "failed": failed}))
"""

# Runs one AdminClient call from the client host: argv = admin endpoint, method, JSON arguments; bytes arguments are
# given as file paths prefixed with "@".
ADMIN_SCRIPT = """
import json, sys
from zserve_client import AdminClient
endpoint, method, arguments = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
arguments = [open(a[1:], "rb").read() if isinstance(a, str) and a.startswith("@") else a for a in arguments]
with AdminClient(endpoint, timeout_ms=60000) as admin:
    result = getattr(admin, method)(*arguments)
print(json.dumps(str(result)))
"""


def reference(model: bytes) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {INPUT: X})[0].ravel()


class ServerLog:
    """The server's JSON log lines (`--log-format json`), read as they are written."""

    def __init__(self, path):
        self.path = path

    def events(self) -> list[dict]:
        events = []
        for line in open(self.path):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def ready_by_worker(self) -> dict:
        """Each connected remote worker's latest 'have' report, as the broker logged it (a worker that rejoins comes
        back under a new id; the one declared dead or gone is dropped)."""
        latest = {}
        for event in self.events():
            if event.get("message") == "worker versions ready":
                latest[event["worker"]] = set(filter(None, event["versions"].split(", ")))
            elif event.get("message", "").startswith(("remote worker declared dead", "remote worker left")):
                latest.pop(event["worker"], None)
        return latest

    def tail(self) -> str:
        return open(self.path).read()[-4000:]


def wait_for(condition, what: str, log: ServerLog) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{log.tail()}"
        time.sleep(0.1)


def cached(cache_dir) -> set:
    return {name for name in os.listdir(cache_dir) if not name.startswith(".")}


@dataclasses.dataclass
class Cluster:
    """A client host, a server host (`--workers 0`) and worker hosts with empty caches, all running."""

    tmp_path: Path
    client: Host
    worker_hosts: list
    frontend: str
    admin: str
    log: ServerLog
    caches: list
    stop_file: Path
    client_path: str

    def admin_call(self, method: str, *arguments) -> None:
        result = self.client.run("env", f"PYTHONPATH={self.client_path}", sys.executable, "-c", ADMIN_SCRIPT,
                                 self.admin, method, json.dumps(list(arguments)))
        assert result.returncode == 0, result.stderr + self.log.tail()

    def wait_until_workers_hold(self, versions: set, what: str) -> None:
        expected = {f"{MODEL} v{version}" for version in versions}
        wait_for(lambda: len(self.log.ready_by_worker()) == len(self.worker_hosts)
                 and all(v == expected for v in self.log.ready_by_worker().values()), what, self.log)

    @contextlib.contextmanager
    def load(self):
        """Predicts from the client host until the block ends; yields a dict that then holds the report."""
        self.stop_file.unlink(missing_ok=True)
        process = self.client.popen("env", f"PYTHONPATH={self.client_path}", sys.executable, "-c", LOAD_SCRIPT,
                                    self.frontend, str(self.stop_file), json.dumps(X.tolist()),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        report = {}
        try:
            yield report
        finally:
            self.stop_file.touch()
            out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        report.update(json.loads(out.strip().splitlines()[-1]))
        assert report["failed"] == [], (report["failed"][:5], err)

    def worker_log(self, index: int) -> str:
        return (self.tmp_path / f"{self.worker_hosts[index].name}.log").read_text()


@contextlib.contextmanager
def cluster(tmp_path: Path, repository: Path, workers: int = 2, before_workers=lambda hosts: None):
    binary = os.environ["ZSERVE_BIN"]
    with Network() as network:
        client, server_host = network.add_host("client"), network.add_host("server")
        worker_hosts = [network.add_host(f"worker{i + 1}") for i in range(workers)]
        before_workers(worker_hosts)
        worker_endpoint = f"tcp://{server_host.address}:7072"
        running = Cluster(
            tmp_path, client, worker_hosts, f"tcp://{server_host.address}:7070", f"tcp://{server_host.address}:7071",
            ServerLog(tmp_path / "server.log"), [tmp_path / f"{host.name}-cache" for host in worker_hosts],
            tmp_path / "stop", install_client())
        server = server_host.popen(
            binary, "serve", "--model-repository", str(repository), "--listen", running.frontend, "--admin",
            running.admin, "--insecure-admin", "--workers", "0", "--worker-endpoint", worker_endpoint,
            "--log-format", "json", stdout=subprocess.PIPE, stderr=open(running.log.path, "w"), text=True)
        processes = []
        try:
            ready_line(server, running.log.path)
            processes = [host.popen(binary, "worker", "--connect", worker_endpoint, "--cache", str(cache),
                                    "--log-format", "json", stderr=open(tmp_path / f"{host.name}.log", "w"))
                         for host, cache in zip(worker_hosts, running.caches)]
            yield running
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
            server.terminate()
            assert server.wait(timeout=15) == 0, running.log.tail()


def model_files(tmp_path: Path, models: dict) -> dict:
    files = {}
    for version, model in models.items():
        files[version] = tmp_path / f"v{version}.onnx"
        files[version].write_bytes(model)
    return files


def check_answers(replies: list, references: dict) -> list:
    """Every answer is the computation of the version that says it answered; returns the versions in order."""
    assert len(replies) > 20, len(replies)
    for version, outputs in replies:
        np.testing.assert_allclose(outputs, references[version], rtol=RTOL, atol=ATOL)
    return [version for version, _ in replies]


def test_pushed_and_rolled_back_versions_reach_every_worker_host_with_nothing_failed(tmp_path):
    models = {version: ctr_mlp(seed=version) for version in (1, 2, 3)}
    references = {version: reference(model) for version, model in models.items()}
    files = model_files(tmp_path, models)
    digests = {version: hashlib.sha256(model).hexdigest() + ".onnx" for version, model in models.items()}
    repository = tmp_path / "repository"
    write_version(repository, 1, models[1])
    # Two versions serve at once, so a rollback has a previous version to go to.
    (repository / MODEL / "config.json").write_text(json.dumps({"version_policy": {"latest": 2}}))

    with cluster(tmp_path, repository) as hosts:
        # Empty caches: version 1 comes from the server.
        hosts.wait_until_workers_hold({1}, "both workers to fetch version 1")
        with hosts.load() as report:
            time.sleep(1)
            # A push reaches both workers while they serve.
            hosts.admin_call("push_model", MODEL, f"@{files[2]}")
            wait_for(lambda: len(hosts.log.ready_by_worker()) == 2
                     and all(f"{MODEL} v2" in v for v in hosts.log.ready_by_worker().values()),
                     "both workers to report version 2 ready", hosts.log)
            time.sleep(1)
            # worker1's link is down while version 3 is pushed (v1 leaves the server) and the default is rolled back
            # to version 2; worker2 serves meanwhile.
            hosts.worker_hosts[0].set_link(False)
            hosts.admin_call("push_model", MODEL, f"@{files[3]}")
            hosts.admin_call("rollback", MODEL)
            # Long enough for both sides to give the other up (three silent heartbeat intervals).
            time.sleep(4)
            hosts.worker_hosts[0].set_link(True)
            hosts.wait_until_workers_hold({2, 3}, "both workers to hold exactly versions 2 and 3")
            # Both workers now serve the rolled-back default.
            time.sleep(1)
        versions = check_answers(report["replies"], references)
        assert {1, 2} <= set(versions) <= {1, 2, 3}, set(versions)
        assert versions[-1] == 2, "after the rollback the default is version 2"
        # Each worker's cache holds exactly the server's set (v1's file went with v1).
        for cache in hosts.caches:
            assert cached(cache) == {digests[2], digests[3]}, cached(cache)
        assert "broker silent; reconnecting" in hosts.worker_log(0)
        assert "version unloaded (no server lists it)" in hosts.worker_log(0)


def test_a_slow_link_delivers_a_large_version_without_false_deaths(tmp_path):
    """worker2's link runs at 8 Mbit/s both ways: a 4.5 MB version takes seconds to reach it, while requests and
    heartbeats share the link; nobody is declared dead, nothing fails, and it ends up serving the new version."""
    models = {1: ctr_mlp(seed=1), 2: ctr_mlp(seed=2, hidden=LARGE_HIDDEN)}
    references = {version: reference(model) for version, model in models.items()}
    files = model_files(tmp_path, models)
    repository = tmp_path / "repository"
    write_version(repository, 1, models[1])

    with cluster(tmp_path, repository, before_workers=lambda hosts: hosts[1].limit_rate("8mbit")) as hosts:
        hosts.wait_until_workers_hold({1}, "both workers to fetch version 1")
        with hosts.load() as report:
            hosts.admin_call("push_model", MODEL, f"@{files[2]}")
            hosts.wait_until_workers_hold({2}, "both workers to hold version 2")
            time.sleep(1)
        versions = check_answers(report["replies"], references)
        assert set(versions) == {1, 2} and versions[-1] == 2
        server_log = open(hosts.log.path).read()
        assert "declared dead" not in server_log and "remote worker left" not in server_log
        assert "broker silent" not in hosts.worker_log(1)
        assert "fetch stalled" not in hosts.worker_log(1)


def test_heartbeats_tolerate_a_high_latency_link(tmp_path):
    """300 ms each way on worker2's link (netem): no false deaths and nothing fails. Skipped where the kernel has no
    netem qdisc (these development machines)."""
    repository = tmp_path / "repository"
    write_version(repository, 1, ctr_mlp(seed=1))

    def delay(hosts):
        try:
            hosts[1].delay(300)
        except QdiscUnavailable as error:
            pytest.skip(f"no netem on this kernel: {error}")

    with cluster(tmp_path, repository, before_workers=delay) as hosts:
        hosts.wait_until_workers_hold({1}, "both workers to fetch version 1")
        with hosts.load() as report:
            time.sleep(8)
        check_answers(report["replies"], {1: reference(ctr_mlp(seed=1))})
        assert "declared dead" not in open(hosts.log.path).read()
        assert "broker silent" not in hosts.worker_log(1)
