"""Pushed versions reach workers on other hosts without shared storage: a client host, a server host and two worker
hosts in network namespaces (netns.py). Workers start with an empty cache and no repository of their own; every
version they serve comes from the server over the worker socket. Under load from the client host, with zero failed
requests: a push reaches both workers; a worker host whose link is down while versions are pushed and the default is
rolled back catches up to exactly the server's set when the link returns."""

import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

import zserve_testing
from installed_client import install_client
from netns import Network, skip_unless_possible
from test_hosts import ready_line
from test_hot_swap import INPUT, MODEL, OUTPUT, X, ctr_mlp, write_version

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


def test_pushed_and_rolled_back_versions_reach_every_worker_host_with_nothing_failed(tmp_path):
    binary = os.environ["ZSERVE_BIN"]
    models = {version: ctr_mlp(seed=version) for version in (1, 2, 3)}
    references = {version: reference(model) for version, model in models.items()}
    files = {}
    for version, model in models.items():
        files[version] = tmp_path / f"v{version}.onnx"
        files[version].write_bytes(model)
    digests = {version: hashlib.sha256(model).hexdigest() + ".onnx" for version, model in models.items()}
    repository = tmp_path / "repository"
    write_version(repository, 1, models[1])
    # Two versions serve at once, so a rollback has a previous version to go to.
    (repository / MODEL / "config.json").write_text(json.dumps({"version_policy": {"latest": 2}}))
    client_path = install_client()

    with Network() as network:
        client, server_host = network.add_host("client"), network.add_host("server")
        worker_hosts = [network.add_host("worker1"), network.add_host("worker2")]
        frontend = f"tcp://{server_host.address}:7070"
        admin = f"tcp://{server_host.address}:7071"
        worker_endpoint = f"tcp://{server_host.address}:7072"
        log = ServerLog(tmp_path / "server.log")
        caches = [tmp_path / f"{host.name}-cache" for host in worker_hosts]
        stop_file = tmp_path / "stop"

        def admin_call(method: str, *arguments) -> None:
            result = client.run("env", f"PYTHONPATH={client_path}", sys.executable, "-c", ADMIN_SCRIPT, admin, method,
                                json.dumps(list(arguments)))
            assert result.returncode == 0, result.stderr + log.tail()

        server = server_host.popen(
            binary, "serve", "--model-repository", str(repository), "--listen", frontend, "--admin", admin,
            "--insecure-admin", "--workers", "0", "--worker-endpoint", worker_endpoint, "--log-format", "json",
            stdout=subprocess.PIPE, stderr=open(log.path, "w"), text=True)
        workers, load = [], None
        try:
            ready_line(server, log.path)
            workers = [host.popen(binary, "worker", "--connect", worker_endpoint, "--cache", str(cache),
                                  "--log-format", "json", stderr=open(tmp_path / f"{host.name}.log", "w"))
                       for host, cache in zip(worker_hosts, caches)]
            # An empty cache: version 1 comes from the server.
            wait_for(lambda: [f"{MODEL} v1"] * 2 == [",".join(sorted(v)) for v in log.ready_by_worker().values()],
                     "both workers to fetch version 1", log)
            load = client.popen("env", f"PYTHONPATH={client_path}", sys.executable, "-c", LOAD_SCRIPT, frontend,
                                str(stop_file), json.dumps(X.tolist()), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
            time.sleep(1)

            # A push reaches both workers while they serve.
            admin_call("push_model", MODEL, f"@{files[2]}")
            wait_for(lambda: all(f"{MODEL} v2" in v for v in log.ready_by_worker().values())
                     and len(log.ready_by_worker()) == 2, "both workers to report version 2 ready", log)
            time.sleep(1)

            # worker1's link is down while version 3 is pushed (v1 leaves the server) and the default rolled back
            # to version 2; worker2 serves meanwhile.
            worker_hosts[0].set_link(False)
            admin_call("push_model", MODEL, f"@{files[3]}")
            admin_call("rollback", MODEL)
            # Long enough for both sides to give the other up (three silent heartbeat intervals).
            time.sleep(4)
            worker_hosts[0].set_link(True)
            expected = {f"{MODEL} v2", f"{MODEL} v3"}
            wait_for(lambda: len(log.ready_by_worker()) == 2
                     and all(v == expected for v in log.ready_by_worker().values()),
                     "both workers to hold exactly versions 2 and 3", log)
            # Both workers now serve the rolled-back default.
            time.sleep(1)
            stop_file.touch()
            out, err = load.communicate(timeout=60)
            report = json.loads(out.strip().splitlines()[-1])
        finally:
            stop_file.touch()
            if load is not None and load.poll() is None:
                load.kill()
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=10)
            server.terminate()
            assert server.wait(timeout=15) == 0, log.tail()

    assert report["failed"] == [], (report["failed"][:5], err)
    replies = report["replies"]
    assert len(replies) > 100, len(replies)
    versions = [version for version, _ in replies]
    assert set(versions) <= {1, 2, 3} and 1 in versions and 2 in versions, set(versions)
    # Every answer is the computation of the version that says it answered.
    for version, outputs in replies:
        np.testing.assert_allclose(outputs, references[version], rtol=RTOL, atol=ATOL)
    assert versions[-1] == 2, "after the rollback the default is version 2"
    # Each worker's cache holds exactly the server's set (v1's file went with v1).
    for cache in caches:
        assert cached(cache) == {digests[2], digests[3]}, cached(cache)
    worker1_log = open(tmp_path / "worker1.log").read()
    assert "broker silent; reconnecting" in worker1_log
    assert "version unloaded (no server lists it)" in worker1_log
