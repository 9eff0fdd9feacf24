"""The Swift, Python and C clients name methods and failures the same way.

A pyzmq ROUTER stands in for a server that answers with a status code zserve.v1 does not define, or never answers;
each client (the Python library, `zserve predict`, the C example CLI) must report the same code name.
"""

import os
import re
import subprocess
import threading

import numpy as np
import pytest
import zmq

import zserve_testing
from zserve_client import METHODS, Client, ZServeError, ZServeTimeout
from zserve_client.protos import status_pb2
from zserve_testing import REPO_ROOT

zserve_testing.skip_without_binary()

C_CLIENT_DIR = REPO_ROOT / "Clients" / "c"
TIMEOUT_MS = 300


class FakeServer:
    """A ROUTER on an ephemeral loopback port that answers every request with `code`, or never (code None)."""

    def __init__(self, code):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.code = code
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            if not self.socket.poll(50):
                continue
            frames = self.socket.recv_multipart()
            if self.code is None:
                continue
            delimiter = frames.index(b"")
            status = status_pb2.Status(code=self.code, message="from the fake server").SerializeToString()
            self.socket.send_multipart(frames[:delimiter + 1] + [status, b""])

    def close(self):
        self.stop.set()
        self.thread.join()
        self.socket.close(linger=0)
        self.context.term()


@pytest.fixture(scope="module")
def c_cli():
    build = subprocess.run(["make", "-C", str(C_CLIENT_DIR)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    return C_CLIENT_DIR / "build" / "zserve-c-predict"


def failure_names(endpoint: str, c_cli) -> dict:
    """The code name each client reports for one Predict against endpoint."""
    names = {}
    try:
        with Client(endpoint, timeout_ms=TIMEOUT_MS) as client:
            client.predict("m", {"x": np.ones((1, 1), dtype=np.float32)})
        names["python"] = "OK"
    except ZServeError as error:
        names["python"] = error.code_name
    swift = subprocess.run(
        [os.environ["ZSERVE_BIN"], "predict", "--endpoint", endpoint, "--model", "m", "--timeout-ms", str(TIMEOUT_MS),
         "--json", '{"x": {"dtype": "float32", "shape": [1, 1], "data": [1]}}'],
        capture_output=True, text=True, timeout=30)
    names["swift"] = swift.stderr.strip().split(":")[0] if swift.returncode else "OK"
    c = subprocess.run([str(c_cli), endpoint, "m", "1", "1", "1"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "ZSERVE_TIMEOUT_MS": str(TIMEOUT_MS)})
    names["c"] = c.stderr.strip().split(":")[0] if c.returncode else "OK"
    return names


def test_a_timeout_is_deadline_exceeded_in_every_client(c_cli):
    fake = FakeServer(code=None)
    try:
        assert failure_names(fake.endpoint, c_cli) == {"python": "DEADLINE_EXCEEDED", "swift": "DEADLINE_EXCEEDED",
                                                       "c": "DEADLINE_EXCEEDED"}
        with Client(fake.endpoint, timeout_ms=TIMEOUT_MS) as client, pytest.raises(TimeoutError) as raised:
            client.server_ready()
        assert isinstance(raised.value, ZServeTimeout)
    finally:
        fake.close()


@pytest.mark.parametrize("code, name", [(5, "NOT_FOUND"), (99, "CODE_99")])
def test_status_codes_are_named_alike(c_cli, code, name):
    fake = FakeServer(code=code)
    try:
        assert failure_names(fake.endpoint, c_cli) == {"python": name, "swift": name, "c": name}
    finally:
        fake.close()


def test_method_names_come_from_the_protos_and_the_c_client_uses_them():
    proto_methods = set()
    for proto in (REPO_ROOT / "Protos" / "zserve" / "v1").glob("*.proto"):
        text = proto.read_text()
        package = re.search(r"^package\s+([\w.]+);", text, re.M).group(1)
        for service, body in re.findall(r"service\s+(\w+)\s*\{(.*?)\n\}", text, re.S):
            proto_methods |= {f"{package}.{service}/{rpc}" for rpc in re.findall(r"rpc\s+(\w+)\s*\(", body)}
    assert set(METHODS.values()) == proto_methods
    c_source = (C_CLIENT_DIR / "zserve_client.c").read_text()
    used = set(re.findall(r'"(zserve\.v1\.\w+/\w+)"', c_source))
    assert used and used <= proto_methods
