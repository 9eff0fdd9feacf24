"""`zserve bench` spreading its load over several sockets and threads against a real server: every request is
counted once, under the status the server gave it."""

import json
import subprocess

from zserve_testing import EXAMPLE_REPOSITORY, run_server, skip_without_binary

skip_without_binary()

import os  # noqa: E402

MODEL = "purchase_propensity"


def bench(endpoint: str, *args: str) -> dict:
    completed = subprocess.run(
        [os.environ["ZSERVE_BIN"], "bench", "--endpoint", endpoint, "--connections", "2", "--threads", "2",
         "--duration", "1", "--json", *args], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_two_connections_on_two_threads_count_every_reply_by_status():
    with run_server(EXAMPLE_REPOSITORY, "--workers", "2") as server:
        ok = bench(server.listen, "--model", MODEL, "--concurrency", "8")
        assert ok["connections"] == 2 and ok["threads"] == 2, ok
        assert ok["requests"] > 0 and ok["status"] == {"OK": ok["requests"]}, ok

        # An unknown model: the broker answers NOT_FOUND itself; the inputs come from the model file, not metadata.
        missing = bench(server.listen, "--model", "nope", "--model-file",
                        str(EXAMPLE_REPOSITORY / MODEL / "1" / "model.onnx"), "--concurrency", "4")
        assert missing["requests"] > 0 and missing["status"] == {"NOT_FOUND": missing["requests"]}, missing

        # Open loop on two threads: the rate is split between them and each sends on its own schedule.
        paced = bench(server.listen, "--model", MODEL, "--rate", "400")
        assert paced["status"] == {"OK": paced["requests"]} and 398 <= paced["requests"] <= 402, paced


def test_echo_ceiling_is_measured_with_the_same_settings():
    with run_server(EXAMPLE_REPOSITORY) as server:
        report = bench(server.listen, "--model", MODEL, "--concurrency", "4", "--echo-ceiling")
        ceiling = report["echo_ceiling"]
        assert ceiling["connections"] == 2 and ceiling["threads"] == 2, ceiling
        assert ceiling["requests"] > 0 and ceiling["status"] == {"OK": ceiling["requests"]}, ceiling
        assert report["status"] == {"OK": report["requests"]}, report
