"""What an operator relies on: the config file (`--config`, `--print-config`, errors naming key and line), JSON logs
with one line per lifecycle event, and a graceful stop under load (SIGTERM answers every accepted request and exits
0; a second signal exits at once)."""

import json
import os
import re
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import zserve_testing
from zserve_client import AdminClient, Client, PipelinedClient, ZServeError
from zserve_testing import EXAMPLE_REPOSITORY, REPO_ROOT, STOP_TIMEOUT_S, run_server

zserve_testing.skip_without_binary()

MODEL = "purchase_propensity"
MODEL_FILE = EXAMPLE_REPOSITORY / MODEL / "1" / "model.onnx"
FIXTURES = os.environ.get("ZSERVE_FIXTURES")


def zserve(*args) -> subprocess.CompletedProcess:
    """Runs a zserve command that ends by itself (errors, --print-config)."""
    return subprocess.run([os.environ["ZSERVE_BIN"], *args], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)


def rows(count: int) -> np.ndarray:
    return np.random.default_rng(count).normal(size=(count, 8)).astype(np.float32)


def settings(printed: str) -> dict:
    """`--print-config` output as {key: (value text, source)}."""
    result = {}
    for line in printed.splitlines():
        key, rest = line.split(":", 1)
        value, source = rest.rsplit("  # ", 1)
        result[key] = (value.strip(), source)
    return result


# MARK: Config file

def test_config_file_sets_the_server_and_flags_override_it(tmp_path):
    (tmp_path / "models").symlink_to(EXAMPLE_REPOSITORY)
    config = tmp_path / "zserve.yaml"
    config.write_text("# serving the example model\n"
                      "model-repository: models   # relative to this file\n"
                      "workers: 1\n"
                      "max-batch-size: 4\n"
                      "admin: null\n")
    printed = settings(zserve("serve", "--config", str(config), "--workers", "2", "--print-config").stdout)
    assert printed["model-repository"] == (json.dumps(str(tmp_path / "models")), f"{config}:2")
    assert printed["workers"] == ("2", "flag")
    assert printed["max-batch-size"] == ("4", f"{config}:4")
    assert printed["queue-capacity"] == ("4096", "default")
    with run_server(None, "--config", str(config), "--workers", "2") as server:
        assert server.admin is None
        with Client(server.listen) as client:
            version, outputs = client.predict(MODEL, {"features": rows(3)})
        assert version == 1 and next(iter(outputs.values())).shape[0] == 3


def test_print_config_output_reads_back_as_a_config_file(tmp_path):
    first = zserve("serve", "--model-repository", str(EXAMPLE_REPOSITORY), "--workers", "3", "--autoscale", "1:3",
                   "--poll-interval", "0.5", "--log-format", "json", "--print-config")
    assert first.returncode == 0, first.stderr
    config = tmp_path / "printed.yaml"
    config.write_text(first.stdout)
    again = zserve("serve", "--config", str(config), "--print-config")
    assert again.returncode == 0, again.stderr
    assert {key: value for key, (value, _) in settings(again.stdout).items()} == \
        {key: value for key, (value, _) in settings(first.stdout).items()}
    assert all(source.startswith(f"{config}:") for _, source in settings(again.stdout).values())


@pytest.mark.parametrize("text, line, key, reason", [
    pytest.param("workers: 1\nwrokers: 2\n", 2, "wrokers", "unknown key", id="unknown-key"),
    pytest.param("listen: tcp://127.0.0.1:0\nworkers: two\n", 2, "workers", "expected an integer, got 'two'",
                 id="not-an-integer"),
    pytest.param("workers: 1\n\nworkers: 2\n", 3, "workers", "set twice (first on line 1)", id="repeated"),
    pytest.param("admin:\n  host: 127.0.0.1\n", 1, "admin", "expected a single value, got a mapping", id="nested"),
    pytest.param("workers: 1\nblas-threads: 0\n", 2, "blas-threads", "must be at least 1", id="out-of-range"),
    pytest.param("log-format: xml\n", 1, "log-format", "must be text or json", id="bad-choice"),
    pytest.param("autoscale: 3:1\n", 1, "autoscale", "MIN:MAX", id="bad-bounds"),
    pytest.param("workers: 1\n  bad: : x\n", 2, "config", "not valid YAML", id="not-yaml"),
])
def test_a_bad_config_file_is_refused_naming_key_and_line(tmp_path, text, line, key, reason):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    result = zserve("serve", "--config", str(config), "--model-repository", str(EXAMPLE_REPOSITORY))
    assert result.returncode != 0
    assert f"{config}:{line}: {key}: " in result.stderr and reason in result.stderr, result.stderr
    assert "ready" not in result.stdout


def test_a_bad_flag_value_is_named_as_the_flag():
    result = zserve("serve", "--model-repository", str(EXAMPLE_REPOSITORY), "--max-batch-size", "0")
    assert result.returncode != 0 and "--max-batch-size: must be at least 1" in result.stderr, result.stderr


# MARK: Logs

def log_lines(server) -> list[dict]:
    """Every line of the server's stderr, each of which must be one JSON object."""
    os.fsync(server.log.fileno())
    text = os.pread(server.log.fileno(), os.fstat(server.log.fileno()).st_size, 0).decode()
    lines = [json.loads(line) for line in text.splitlines()]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
    return lines


def test_json_logs_report_each_lifecycle_event(tmp_path):
    repository = tmp_path / "repository"
    (repository / MODEL / "1").mkdir(parents=True)
    (repository / MODEL / "1" / "model.onnx").write_bytes(MODEL_FILE.read_bytes())
    with run_server(repository, "--workers", "1", "--admin", "tcp://127.0.0.1:0", "--log-format", "json",
                    "--log-level", "info") as server:
        with AdminClient(server.admin) as admin:
            assert admin.push_model(MODEL, MODEL_FILE.read_bytes())[0] == 2
            with pytest.raises(ZServeError) as refused:
                admin.push_model(MODEL, b"not an onnx file")
            assert refused.value.code_name == "INVALID_ARGUMENT"
            admin.rollback(MODEL)
        lines = log_lines(server)
        changes = [(line["from"], line["to"]) for line in lines if line["message"] == "default version changed"]
        assert changes == [("none", "1"), ("1", "2"), ("2", "1")], lines
        refusals = [line for line in lines if line["message"] == "push refused"]
        assert len(refusals) == 1 and refusals[0]["code"] == "INVALID_ARGUMENT" and refusals[0]["model"] == MODEL
        assert any(line["message"] == "model version failed to load" and line["level"] == "error" for line in lines)
        assert all(line["level"] != "debug" for line in lines)


# MARK: Graceful stop

def cnn_images(count: int) -> np.ndarray:
    return np.random.default_rng(count).normal(size=(count, 1, 14, 14)).astype(np.float32)


@pytest.fixture
def cnn_repository():
    if not FIXTURES:
        pytest.skip("ZSERVE_FIXTURES is not set (scripts/make_test_models.py builds zoo_seed_cnn)")
    return os.path.join(FIXTURES, "repository")


def send_load(server, count: int):
    """Pipelines `count` Predicts of the seed CNN (256 images each) and waits for the first reply, so the worker is
    busy and the rest are queued; returns the client, the ids sent and that first reply."""
    client = PipelinedClient(server.listen, timeout_ms=30_000)
    ids = [client.send_predict("zoo_seed_cnn", {"image": cnn_images(256)}, request_id=f"r{i}") for i in range(count)]
    request_id, result = client.receive()
    return client, ids, {request_id: result}


def test_sigterm_under_load_answers_every_accepted_request_and_exits_0(cnn_repository):
    # The queued work takes ≈ 10 s in a debug build on a slow machine: a drain timeout well past it, so that the test
    # is about answering everything accepted, not about how fast this machine computes.
    with run_server(cnn_repository, "--workers", "1", "--drain-timeout", "120") as server:
        client, ids, answered = send_load(server, 40)
        server.process.send_signal(signal.SIGTERM)
        answered.update(client.gather(set(ids) - answered.keys()))
        client.close()
        assert server.process.wait(timeout=STOP_TIMEOUT_S) == 0, server.log_tail()
        server.killed = True  # stopped here; run_server must not signal it again
    assert answered.keys() == set(ids)
    refused = [result for result in answered.values() if isinstance(result, ZServeError)]
    assert all(error.code_name == "UNAVAILABLE" for error in refused), refused
    # Everything sent before the signal was accepted (the queue holds 4096), so every request computed.
    assert not refused, f"{len(refused)} accepted requests were not computed"


def stop_with_req_clients_waiting(repository: str, clients: int) -> list:
    """Starts a server, has `clients` blocking REQ clients (one thread each) send a Predict that waits in the queue,
    sends SIGTERM and returns each client's result once the server has exited (0 asserted)."""
    with run_server(repository, "--workers", "1", "--max-batch-size", str(clients), "--max-queue-delay-us",
                    "200000") as server:
        warm = Client(server.listen, timeout_ms=30_000)
        warm.predict("zoo_seed_cnn", {"image": cnn_images(1)})
        warm.close()
        results = [None] * clients
        started = threading.Barrier(clients + 1)

        def call(index: int) -> None:
            client = Client(server.listen, timeout_ms=15_000)
            started.wait()
            try:
                results[index] = client.predict("zoo_seed_cnn", {"image": cnn_images(8)}, request_id=f"r{index}")
            except ZServeError as error:
                results[index] = error
            finally:
                client.close()

        threads = [threading.Thread(target=call, args=(index,)) for index in range(clients)]
        for thread in threads:
            thread.start()
        started.wait()
        time.sleep(0.1)  # every request sent and queued behind the batch delay
        server.process.send_signal(signal.SIGTERM)
        # Busy here until the server has exited: the clients' threads get the interpreter lock a few milliseconds at a
        # time, so they read their replies late, as clients on a loaded machine do.
        stop_by = time.monotonic() + STOP_TIMEOUT_S
        while server.process.poll() is None and time.monotonic() < stop_by:
            pass
        for thread in threads:
            thread.join()
        assert server.process.wait(timeout=STOP_TIMEOUT_S) == 0, server.log_tail()
        server.killed = True
    return results


def test_sigterm_answers_reach_req_clients_that_are_waiting_for_them(cnn_repository):
    """Blocking REQ clients (ZMQ_IMMEDIATE, which drops a received reply not yet read when its connection closes)
    wait for their Predicts when the server is told to stop: the drain computes them in one batch and answers all at
    once, and every client must read its reply — the server must not close the connections under replies it has just
    sent. Three stops, since whether a client reads before the close reaches it is a race."""
    for round_ in range(3):
        results = stop_with_req_clients_waiting(cnn_repository, 24)
        failed = {index: result for index, result in enumerate(results) if isinstance(result, ZServeError)}
        assert not failed, f"stop {round_ + 1}: {len(failed)} of {len(results)} waiting clients got no answer: {failed}"


def test_a_second_signal_exits_at_once(cnn_repository):
    with run_server(cnn_repository, "--workers", "1") as server:
        client, ids, answered = send_load(server, 200)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # two signals sent back to back may be handled in either order; the exit code names the second
        server.process.send_signal(signal.SIGINT)
        code = server.process.wait(timeout=STOP_TIMEOUT_S)
        server.killed = True
        assert code == 128 + signal.SIGINT, server.log_tail()
        while True:
            try:
                request_id, result = client.receive(timeout_ms=200)
            except ZServeError as error:
                if error.code_name == "DEADLINE_EXCEEDED":
                    break
                request_id, result = error.request_id, error
            answered[request_id] = result
        client.close()
        assert len(answered) < len(ids), "the process exited before finishing the queued requests"
        assert "second signal" in server.log_tail()


# MARK: zserve top

def tmux(socket: str, *args) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], check=True, capture_output=True, text=True).stdout


def test_top_shows_live_traffic_in_a_terminal():
    """`zserve top` in a real terminal (tmux), as an operator would watch it while clients send requests."""
    with run_server(EXAMPLE_REPOSITORY, "--workers", "1", "--metrics-listen", "127.0.0.1:0") as server, \
            Client(server.listen) as client:
        socket = f"zserve-top-{os.getpid()}"
        command = f"{os.environ['ZSERVE_BIN']} top --metrics {server.metrics} --endpoint {server.listen} --interval 0.5"
        tmux(socket, "new-session", "-d", "-x", "140", "-y", "20", command)
        try:
            screen, deadline = "", time.monotonic() + 20
            model_row = version_row = unknown_row = None
            while time.monotonic() < deadline and not (model_row and version_row and unknown_row):
                for _ in range(50):
                    client.predict(MODEL, {"features": rows(2)})
                with pytest.raises(ZServeError):
                    client.predict("no_such_model", {"features": rows(2)})
                screen = tmux(socket, "capture-pane", "-p")
                model_row = re.search(rf"^{MODEL} +all +([0-9.]+) +([0-9.]+)% +([0-9.]+) +([0-9.]+)", screen, re.M)
                version_row = re.search(r"^ +1 +AVAILABLE +([0-9.]+) +0\.0% +([0-9.]+) +([0-9.]+)$", screen, re.M)
                unknown_row = re.search(r"^no_such_model +all +([0-9.]+) +100\.0%", screen, re.M)
                time.sleep(0.3)
            assert model_row and version_row and unknown_row, screen
            assert screen.startswith(f"zserve top — http://{server.metrics}/metrics"), screen
            assert "MODEL" in screen and "P99 ms" in screen and "queue " in screen
            rate, errors, p50, p99 = map(float, model_row.groups())
            assert rate > 0 and errors == 0 and 0 < p50 <= p99, screen
            assert float(version_row.group(1)) > 0, screen
        finally:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
