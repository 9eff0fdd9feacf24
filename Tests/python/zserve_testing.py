"""Helpers for tests that run the zserve binary, whose path is in the environment variable ZSERVE_BIN."""

import contextlib
import dataclasses
import json
import os
import re
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_REPOSITORY = REPO_ROOT / "Examples" / "model-repository"
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10
# A local TCP endpoint with the real port the server bound.
LOCAL_ENDPOINT = r"tcp://127\.0\.0\.1:[1-9][0-9]*"


def skip_without_binary() -> None:
    """Skips the calling test module when ZSERVE_BIN is not set."""
    if not os.environ.get("ZSERVE_BIN"):
        pytest.skip("ZSERVE_BIN is not set: point it at a built zserve binary to run these tests",
                    allow_module_level=True)


@dataclasses.dataclass
class Server:
    """A running `zserve serve`: the endpoints of its ready line (admin is None without --admin) and its process."""

    listen: str
    admin: str | None
    process: subprocess.Popen
    log: BinaryIO
    killed: bool = False
    # Where `zserve worker` processes connect, when the server was started with --worker-endpoint.
    worker_endpoint: str | None = None
    # HOST:PORT of /metrics, /healthz and /readyz, when the server was started with --metrics-listen.
    metrics: str | None = None

    def kill(self) -> None:
        """Ends the server with SIGKILL and reaps it; run_server then skips its clean-shutdown checks."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)
        self.killed = True

    def log_tail(self) -> str:
        """The end of the server's stderr, for assertion messages."""
        return _log_tail(self.log)


@contextlib.contextmanager
def run_server(repository, *extra_args):
    """Runs `zserve serve` on a model repository (None: no flag, e.g. one from --config), listening on a free local
    TCP port; yields a Server.

    Waits for the ready line on stdout; on exit, unless the test ended the server with Server.kill(), asserts the
    server is still running, sends SIGTERM and asserts it exits with code 0 within 10 s; when the block raised, kills
    the server and lets that error through instead. The server's stderr is kept in a temporary file and shown when an
    assertion fails.
    """
    command = [os.environ["ZSERVE_BIN"], "serve", *(["--model-repository", str(repository)] if repository else []),
               "--listen", "tcp://127.0.0.1:0", *extra_args]
    with tempfile.TemporaryFile() as log, \
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, cwd=REPO_ROOT) as process:
        try:
            ready = _wait_until_ready(process, log)
        except BaseException:
            process.kill()
            raise
        server = Server(listen=ready["listen"], admin=ready.get("admin"), process=process, log=log,
                        worker_endpoint=ready.get("worker_endpoint"), metrics=ready.get("metrics"))
        try:
            yield server
        except BaseException:
            # The test failed (or skipped): its own error is the one to see, not what stopping the server says.
            if not server.killed:
                process.kill()
            raise
        if not server.killed:
            _stop(process, log)


@contextlib.contextmanager
def start_server(repository, *extra_args):
    """Like run_server, yielding only the listen endpoint."""
    with run_server(repository, *extra_args) as server:
        yield server.listen


def suspend(pid: int, timeout_s: float = 10) -> None:
    """SIGSTOPs process `pid` and returns once every one of its threads is stopped: kill() returns before the signal
    reached them all (tens of milliseconds on a busy machine), and a thread still running answers what is sent."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout_s
    while not all(_thread_state(pid, thread) in ("T", "t", "") for thread in os.listdir(f"/proc/{pid}/task")):
        assert time.monotonic() < deadline, f"process {pid} did not stop"
        time.sleep(0.001)


def _thread_state(pid: int, thread: str) -> str:
    """A thread's state letter from /proc (R, S, T, ...); "" once it is gone."""
    try:
        with open(f"/proc/{pid}/task/{thread}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return ""


def _wait_until_ready(process: subprocess.Popen, log) -> dict:
    """Reads and returns the ready line, {"event": "ready", "listen": "tcp://127.0.0.1:PORT", "admin": ..., ...}."""
    line = _read_line(process.stdout, READY_TIMEOUT_S)
    assert line.endswith(b"\n"), (
        f"no ready line within {READY_TIMEOUT_S} s (exit code {process.poll()}), stdout {line!r}\n{_log_tail(log)}"
    )
    ready = json.loads(line)
    assert ready.get("event") == "ready", f"unexpected first stdout line {line!r}"
    assert re.fullmatch(LOCAL_ENDPOINT, ready.get("listen") or ""), f"bad listen in {line!r}"
    assert ready.get("admin") is None or re.fullmatch(LOCAL_ENDPOINT, ready["admin"]), f"bad admin in {line!r}"
    return ready


def _read_line(stream, timeout_s: float) -> bytes:
    """Reads from a pipe up to and including the first newline; stops early at end of file or at the deadline."""
    deadline = time.monotonic() + timeout_s
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
            break
        byte = os.read(stream.fileno(), 1)
        if not byte:
            break
        line += byte
    return line


def _stop(process: subprocess.Popen, log) -> None:
    """Asserts the server is still running, sends SIGTERM and asserts it exits with code 0 in time."""
    assert process.poll() is None, f"zserve exited with code {process.returncode} before SIGTERM\n{_log_tail(log)}"
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"zserve still running {STOP_TIMEOUT_S} s after SIGTERM\n{_log_tail(log)}") from None
    assert code == 0, f"zserve exited with code {code} after SIGTERM\n{_log_tail(log)}"


def _log_tail(log, limit: int = 4000) -> str:
    """The end of the server's stderr; pread leaves the file offset the server shares with us untouched."""
    size = os.fstat(log.fileno()).st_size
    start = max(0, size - limit)
    return "zserve stderr:\n" + os.pread(log.fileno(), size - start, start).decode(errors="replace")
