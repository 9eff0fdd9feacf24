"""The C client's failover (Clients/c, issue 13): one client connected to several servers resends a Predict whose
connection was lost while it waited, so a server killed mid-call costs no failed call.

Tests/c/failover_loop.c, built against the library here, makes the calls: it reads a number N per stdin line and
prints one "CODE_NAME: message" line per call. Against two real `zserve serve` processes, one is stopped (SIGSTOP) so
that the loop's next call to it hangs, then killed with SIGKILL; every call must still succeed. Against stand-in
servers (a ROUTER that closes its socket while it holds a request, next to one that answers), the same happens with
the default retries and not with retries 0, which shows the resend is what saves the call.
"""

import os
import select
import subprocess
import threading
import time

import numpy as np
import pytest
import zmq

import zserve_testing
from test_c_client import C_CLIENT_DIR, MODEL, NOWHERE, cli, run_cli  # noqa: F401 (cli is a fixture)
from test_clients_agree import FakeServer
from zserve_testing import EXAMPLE_REPOSITORY, REPO_ROOT, run_server

zserve_testing.skip_without_binary()

BUILD_TIMEOUT_S = 300
# Long enough that a call still waiting on a killed server without being resent fails the test only after a while,
# short enough that a broken resend fails it in seconds rather than minutes.
REAL_TIMEOUT_MS = 10_000
FAKE_TIMEOUT_MS = 1000
# How long the loop must print nothing to count as waiting on the stopped server.
QUIET_S = 0.5
LINE_TIMEOUT_S = 30
# An upper bound on waiting for the stand-in to receive a request (the loop reaches it within two calls once both
# connections are up).
HOLD_WAIT_S = 10
OK = "OK: version 1"


@pytest.fixture(scope="module")
def failover_loop(cli):  # noqa: F811 (the imported fixture)
    """Builds Tests/c/failover_loop.c against the library `cli` built; returns the program's path."""
    program = C_CLIENT_DIR / "build" / "failover_loop"
    libraries = subprocess.run(["pkg-config", "--libs", "libzmq"], capture_output=True, text=True, check=True)
    build = subprocess.run(
        ["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(C_CLIENT_DIR),
         str(REPO_ROOT / "Tests" / "c" / "failover_loop.c"), str(C_CLIENT_DIR / "build" / "libzserve_client.a"),
         *libraries.stdout.split(), "-lprotobuf-c", "-o", str(program)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert build.returncode == 0, build.stderr
    return program


class Loop:
    """A running failover_loop: `calls(n)` asks for n more calls, `line(timeout_s)` reads one result line."""

    def __init__(self, program, retries: str, timeout_ms: int, model: str, input_name: str, cols: int, endpoints):
        self.process = subprocess.Popen(
            [str(program), retries, str(timeout_ms), model, input_name, str(cols), *endpoints],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        self._pending = b""

    def calls(self, count: int) -> None:
        self.process.stdin.write(f"{count}\n".encode())

    def line(self, timeout_s: float = LINE_TIMEOUT_S) -> str | None:
        """The next line without its newline, or None when none is complete within timeout_s."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.process.stdout], [], [], remaining)[0]:
                return None
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                return None
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode()

    def lines(self, count: int) -> list[str | None]:
        return [self.line() for _ in range(count)]

    def finish(self) -> None:
        """Ends stdin and asserts the loop exits 0."""
        self.process.stdin.close()
        assert self.process.wait(timeout=LINE_TIMEOUT_S) == 0, self.process.stderr.read().decode()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_every_call_succeeds_when_a_server_is_killed_while_it_holds_one(failover_loop, cli):  # noqa: F811
    with run_server(EXAMPLE_REPOSITORY, "--workers", "1") as doomed, \
            run_server(EXAMPLE_REPOSITORY, "--workers", "1") as survivor:
        loop = Loop(failover_loop, "-", REAL_TIMEOUT_MS, MODEL, "features", 8, [doomed.listen, survivor.listen])
        try:
            loop.calls(20)
            assert loop.lines(20) == [OK] * 20
            # Stopped, the server keeps its connection but answers nothing, so the loop soon waits on it.
            zserve_testing.suspend(doomed.process.pid)
            loop.calls(20)
            before_kill = []
            while (line := loop.line(QUIET_S)) is not None:
                before_kill.append(line)
            assert len(before_kill) < 20, "the loop never sent a call to the stopped server"
            doomed.kill()  # SIGKILL, mid-call
            after_kill = loop.lines(20 - len(before_kill))
            assert before_kill + after_kill == [OK] * 20, doomed.log_tail()
            loop.calls(20)
            assert loop.lines(20) == [OK] * 20
            loop.finish()
        finally:
            loop.kill()
        # The CLI takes the same list; the dead server's endpoint first costs it nothing (ZMQ_IMMEDIATE).
        result = run_cli(cli, f"{doomed.listen},{survivor.listen}", MODEL, np.ones((2, 8), dtype=np.float32),
                         "--retries", "1")
        assert result.returncode == 0, result.stderr


class HoldingServer:
    """A ROUTER on an ephemeral loopback port that takes one request and, without answering it, closes its socket:
    the connection the request went out on is lost while the client waits."""

    def __init__(self):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.endpoint = f"tcp://127.0.0.1:{self.socket.bind_to_random_port('tcp://127.0.0.1')}"
        self.held = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)
        self.thread.start()

    def _hold(self):
        while not self.stop.is_set():
            if self.socket.poll(50):
                self.socket.recv_multipart()
                self.socket.close(linger=0)
                self.held.set()
                return
        self.socket.close(linger=0)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.context.term()


@pytest.mark.parametrize("retries, last_line", [
    pytest.param("-", "NOT_FOUND: from the fake server", id="default-retries"),
    pytest.param("0", "DEADLINE_EXCEEDED: waiting for the reply from", id="no-retries"),
])
def test_a_call_whose_connection_is_lost_is_resent_to_the_other_server(failover_loop, retries, last_line):
    holder, answerer = HoldingServer(), FakeServer(code=5)
    loop = Loop(failover_loop, retries, FAKE_TIMEOUT_MS, "m", "x", 1, [holder.endpoint, answerer.endpoint])
    try:
        answered = []
        deadline = time.monotonic() + HOLD_WAIT_S
        # One call at a time until the holder has taken one (round-robin reaches it once both connections are up).
        while not holder.held.is_set() and time.monotonic() < deadline:
            loop.calls(1)
            answered.append(loop.line())
        assert holder.held.is_set(), "no call reached the holding server"
        assert answered[:-1] == ["NOT_FOUND: from the fake server"] * (len(answered) - 1)
        assert answered[-1].startswith(last_line), answered[-1]
        # Either way the client stays usable and goes on with the server that is left.
        loop.calls(3)
        assert loop.lines(3) == ["NOT_FOUND: from the fake server"] * 3
        loop.finish()
    finally:
        loop.kill()
        holder.close()
        answerer.close()


@pytest.mark.parametrize("arguments, problem", [
    pytest.param([f"{NOWHERE},,{NOWHERE}"], "an empty endpoint in", id="empty-endpoint"),
    pytest.param([f"{NOWHERE},"], "an empty endpoint in", id="trailing-comma"),
    pytest.param(["--retries", "-1", NOWHERE], "--retries: not a whole number from 0", id="negative-retries"),
])
def test_a_malformed_endpoint_list_or_retries_is_a_usage_error(cli, arguments, problem):  # noqa: F811
    result = subprocess.run([str(cli), *arguments, MODEL, "1", "1", "0"], capture_output=True, text=True,
                            timeout=LINE_TIMEOUT_S)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.startswith(f"zserve-c-predict: {problem}: "), result.stderr
