"""Workers in other processes: they join over tcp, add capacity, and a worker killed under load loses no request.

Runs `zserve serve --workers 0 --worker-endpoint tcp://127.0.0.1:0` and `zserve worker --connect ...` processes.
"""

import contextlib
import os
import signal
import subprocess
import threading
import time

import numpy as np

from zserve_client import Client, PipelinedClient, ZServeError
from zserve_testing import EXAMPLE_REPOSITORY, run_server, skip_without_binary

skip_without_binary()

MODEL = "purchase_propensity"
FEATURES = np.array([[30, 5, 900, 180, 40, 300, 0.1, 1]] * 4, dtype=np.float32)
# Generous: the broker gives a silent worker up after 3 s and re-queues its request.
REPLY_TIMEOUT_MS = 20_000
WAIT_S = 30


@contextlib.contextmanager
def worker_process(endpoint: str, *extra_args):
    """Runs `zserve worker` connected to `endpoint`; yields the process, killed on exit if still running."""
    command = [os.environ["ZSERVE_BIN"], "worker", "--connect", endpoint,
               "--model-repository", str(EXAMPLE_REPOSITORY), *extra_args]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def wait_for_workers(client: Client, count: int) -> None:
    """Waits until the server reports `count` workers."""
    deadline = time.monotonic() + WAIT_S
    while client.list_models().workers != count:
        assert time.monotonic() < deadline, f"the server never reported {count} workers"
        time.sleep(0.05)


class Traffic:
    """Pipelined predictions (8 in flight) on a thread until stopped; records every outcome."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list = []
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        with PipelinedClient(self.endpoint, timeout_ms=REPLY_TIMEOUT_MS) as client:
            outstanding = set()
            while not self.stop.is_set() or outstanding:
                while not self.stop.is_set() and len(outstanding) < 8:
                    outstanding.add(client.send_predict(MODEL, {"features": FEATURES}))
                try:
                    request_id, (_, outputs) = client.receive()
                    assert outputs["probability"].shape == (4, 1)
                    self.ok += 1
                except TimeoutError as error:
                    self.failures.append(f"timeout with {len(outstanding)} outstanding: {error}")
                    return
                except ZServeError as error:
                    request_id = error.request_id
                    self.failures.append(f"{error.code_name}: {error}")
                outstanding.discard(request_id)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=REPLY_TIMEOUT_MS / 1000 + 10)
        assert not self.thread.is_alive(), "the traffic thread did not finish"


def test_remote_workers_join_add_capacity_and_a_killed_one_loses_no_request():
    with run_server(EXAMPLE_REPOSITORY, "--workers", "0", "--worker-endpoint", "tcp://127.0.0.1:0") as server, \
            Client(server.listen) as client:
        assert server.worker_endpoint
        with worker_process(server.worker_endpoint) as first, worker_process(server.worker_endpoint):
            wait_for_workers(client, 2)
            traffic = Traffic(server.listen)
            try:
                served_before = wait_for_progress(traffic, 200)
                os.kill(first.pid, signal.SIGKILL)
                first.wait(timeout=10)
                # Detection takes three heartbeat intervals; keep the load on past it.
                wait_for_workers(client, 1)
                wait_for_progress(traffic, served_before + 200)
                with worker_process(server.worker_endpoint):
                    wait_for_workers(client, 2)
                    wait_for_progress(traffic, traffic.ok + 200)
            finally:
                traffic.finish()
            assert traffic.failures == []
            assert traffic.ok > 600
            version, outputs = client.predict(MODEL, {"features": FEATURES})
            assert version == 1 and outputs["probability"].shape == (4, 1)


def wait_for_progress(traffic: Traffic, replies: int) -> int:
    """Waits until the traffic thread has `replies` successful replies; returns the count."""
    deadline = time.monotonic() + WAIT_S
    while traffic.ok < replies:
        assert not traffic.failures, traffic.failures[:5]
        assert time.monotonic() < deadline, f"only {traffic.ok} replies"
        time.sleep(0.02)
    return traffic.ok
