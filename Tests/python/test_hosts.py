"""Across hosts, not loopback: a client host, a server host and two worker hosts in network namespaces of their own
(netns.py), running the real binaries. A worker host whose link is cut under load loses no request (the server
re-queues what it held) and rejoins by itself when the link comes back."""

import json
import os
import select
import subprocess
import sys
import threading
import time

import zserve_testing
from installed_client import install_client
from netns import Network, skip_unless_possible
from zserve_testing import EXAMPLE_REPOSITORY

zserve_testing.skip_without_binary()
skip_unless_possible()

MODEL = "purchase_propensity"
READY_TIMEOUT_S = 60


def ready_line(process, log_path) -> dict:
    """The server's ready line (stdout), or a failure with its log."""
    readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_S)
    line = process.stdout.readline() if readable else ""
    assert line, f"no ready line: {open(log_path).read()[-3000:]}"
    return json.loads(line)


def workers_seen(client_host, endpoint: str) -> int:
    """The workers the server reports (ListModels), asked by the Python client from the client host."""
    script = f"from zserve_client import Client; print(Client({endpoint!r}, timeout_ms=2000).list_models().workers)"
    listing = client_host.run("env", f"PYTHONPATH={install_client()}", sys.executable, "-c", script)
    assert listing.returncode == 0, listing.stderr
    return int(listing.stdout)


def test_a_partitioned_worker_host_loses_nothing_and_rejoins(tmp_path):
    binary = os.environ["ZSERVE_BIN"]
    with Network() as network:
        client, server_host = network.add_host("client"), network.add_host("server")
        worker_hosts = [network.add_host("worker1"), network.add_host("worker2")]
        frontend = f"tcp://{server_host.address}:7070"
        worker_endpoint = f"tcp://{server_host.address}:7072"
        log_path = tmp_path / "server.log"
        with open(log_path, "w") as log, server_host.popen(
                binary, "serve", "--model-repository", str(EXAMPLE_REPOSITORY), "--listen", frontend, "--workers", "0",
                "--worker-endpoint", worker_endpoint, stdout=subprocess.PIPE, stderr=log,
                text=True) as server:
            workers = []
            try:
                assert ready_line(server, log_path)["listen"] == frontend
                workers = [host.popen(binary, "worker", "--connect", worker_endpoint, "--model-repository",
                                      str(EXAMPLE_REPOSITORY), stderr=open(tmp_path / f"{host.name}.log", "w"))
                           for host in worker_hosts]
                deadline = time.monotonic() + 30
                while workers_seen(client, frontend) != 2:
                    assert time.monotonic() < deadline, open(log_path).read()[-3000:]
                    time.sleep(0.2)

                # Load from the client host for 10 s; worker1's link is down from 2 s to 6 s.
                def partition() -> None:
                    time.sleep(2)
                    worker_hosts[0].set_link(False)
                    time.sleep(4)
                    worker_hosts[0].set_link(True)

                cutter = threading.Thread(target=partition)
                cutter.start()
                bench = client.run(binary, "bench", "--endpoint", frontend, "--model", MODEL, "--concurrency", "8",
                                   "--duration", "10", "--json")
                cutter.join()
                assert bench.returncode == 0, bench.stderr
                report = json.loads(bench.stdout.strip().splitlines()[-1])
                assert report["status"] == {"OK": report["requests"]} and report["requests"] > 100, report

                deadline = time.monotonic() + 30
                while workers_seen(client, frontend) != 2:
                    assert time.monotonic() < deadline, "worker1 did not rejoin\n" + open(log_path).read()[-3000:]
                    time.sleep(0.2)
                log = open(log_path).read()
                assert "remote worker declared dead" in log and log.count("remote worker joined") >= 3, log[-3000:]
                assert "broker silent; reconnecting" in open(tmp_path / "worker1.log").read()
            finally:
                for worker in workers:
                    worker.terminate()
                    worker.wait(timeout=10)
                server.terminate()
                assert server.wait(timeout=15) == 0, open(log_path).read()[-3000:]


CLIENT_SCRIPT = """
import json, sys, time
import numpy as np
from zserve_client import Client
endpoints = sys.argv[1:]
features = {"features": np.ones((2, 8), dtype=np.float32)}
answered, failed, started = 0, [], time.monotonic()
with Client(endpoints, timeout_ms=15000) as client:
    while time.monotonic() - started < 8:
        try:
            client.predict("purchase_propensity", features)
            answered += 1
        except Exception as error:
            failed.append(repr(error))
print(json.dumps({"answered": answered, "failed": failed}))
"""


def test_clients_finish_every_request_via_the_other_server_when_one_is_killed(tmp_path):
    """Two server hosts without local workers, one worker host serving both (`--connect` twice), a client host with
    both frontends: server1 is SIGKILLed under load and every request is still answered."""
    binary = os.environ["ZSERVE_BIN"]
    with Network() as network:
        client = network.add_host("client")
        server_hosts = [network.add_host("server1"), network.add_host("server2")]
        worker_host = network.add_host("worker")
        frontends = [f"tcp://{host.address}:7070" for host in server_hosts]
        worker_endpoints = [f"tcp://{host.address}:7072" for host in server_hosts]
        servers, worker = [], None
        try:
            for host, frontend, worker_endpoint in zip(server_hosts, frontends, worker_endpoints):
                log_path = tmp_path / f"{host.name}.log"
                server = host.popen(binary, "serve", "--model-repository", str(EXAMPLE_REPOSITORY), "--listen", frontend,
                                    "--workers", "0", "--worker-endpoint", worker_endpoint,
                                    stdout=subprocess.PIPE, stderr=open(log_path, "w"), text=True)
                servers.append(server)
                assert ready_line(server, log_path)["listen"] == frontend
            # The worker has no repository: it fetches what each server serves into one cache (the servers serve
            # the same file, so it is fetched once and reported ready to both).
            worker = worker_host.popen(binary, "worker", "--connect", worker_endpoints[0], "--connect", worker_endpoints[1],
                                       "--cache", str(tmp_path / "worker-cache"),
                                       stderr=open(tmp_path / "worker.log", "w"))
            deadline = time.monotonic() + 30
            while not all(workers_seen(client, frontend) == 1 for frontend in frontends):
                assert time.monotonic() < deadline, "the worker did not join both servers"
                time.sleep(0.2)
            load = client.popen("env", f"PYTHONPATH={install_client()}", sys.executable, "-c", CLIENT_SCRIPT, *frontends,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(3)
            servers[0].kill()  # SIGKILL under load
            out, err = load.communicate(timeout=60)
            report = json.loads(out.strip().splitlines()[-1])
            assert report["failed"] == [] and report["answered"] > 50, (report, err)
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=10)
            for server in servers:
                if server.poll() is None:
                    server.terminate()
                    assert server.wait(timeout=15) == 0
