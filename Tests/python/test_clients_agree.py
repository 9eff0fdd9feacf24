"""The Swift, Python and C clients name methods and failures the same way.

A pyzmq ROUTER stands in for a server that answers with a status code zserve.v1 does not define, or never answers,
or requires CURVE (allowing one key); each client (the Python library, `zserve predict`, the
C example CLI) must report the same code name.
"""

import os
import re
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest
import zmq
import zmq.auth
import zmq.utils.z85

import zserve_testing
from zserve_client import METHODS, Client, CurveKeys, ZServeError, ZServeTimeout
from zserve_client.protos import status_pb2
from zserve_testing import REPO_ROOT

zserve_testing.skip_without_binary()

C_CLIENT_DIR = REPO_ROOT / "Clients" / "c"
TIMEOUT_MS = 300
# Against the CURVE fake: long enough that its delayed refusal (REFUSAL_DELAY_S) arrives well within it.
CURVE_TIMEOUT_MS = 1500


# A ZAP handler's endpoint in the server's context (ZeroMQ RFC 27).
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
# How long the fake's ZAP handler waits before refusing a key (see FakeServer).
REFUSAL_DELAY_S = 0.2


class FakeServer:
    """A ROUTER on an ephemeral loopback port that answers every request with `code`, or never (code None); the first
    `ignore` requests get no answer either.

    With `keys` (a directory of `zserve keygen` files), it is a CURVE server with server.key whose ZAP handler allows
    the public keys of keys/allowed/*.pub. It refuses other keys only after REFUSAL_DELAY_S: libzmq drops a connection
    whose handshake failed together with its queue, so a request sent after the refusal has nowhere to go, and
    clients differ there (the C client still reports UNAUTHENTICATED, the Swift client DEADLINE_EXCEEDED). The delay
    makes every client send first, so the test compares
    what each reports for a refused connection, not how fast a process starts."""

    def __init__(self, code, keys=None, ignore=0):
        self.context = zmq.Context()
        self.stop = threading.Event()
        self.threads = []
        self.socket = self.context.socket(zmq.ROUTER)
        if keys:
            self.allowed = {zmq.auth.load_certificate(str(path))[0] for path in (keys / "allowed").glob("*.pub")}
            self.zap = self.context.socket(zmq.REP)
            self.zap.bind(ZAP_ENDPOINT)
            self.threads.append(threading.Thread(target=self._authenticate, daemon=True))
            self.socket.curve_publickey, self.socket.curve_secretkey = zmq.auth.load_certificate(
                str(keys / "server.key"))
            self.socket.curve_server = True
        self.ignore = ignore
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.code = code
        self.threads.append(threading.Thread(target=self._serve, daemon=True))
        for thread in self.threads:
            thread.start()

    def _authenticate(self):
        """Answers ZAP requests [version, id, domain, address, identity, mechanism, public key]."""
        while not self.stop.is_set():
            if not self.zap.poll(50):
                continue
            version, request_id, _, _, _, _, public_key = self.zap.recv_multipart()
            allowed = zmq.utils.z85.encode(public_key) in self.allowed
            if not allowed:
                time.sleep(REFUSAL_DELAY_S)
            status = [b"200", b"OK"] if allowed else [b"400", b"key not allowed"]
            self.zap.send_multipart([version, request_id, *status, b"", b""])

    def _serve(self):
        while not self.stop.is_set():
            if not self.socket.poll(50):
                continue
            frames = self.socket.recv_multipart()
            if self.code is None or self.ignore > 0:
                self.ignore -= 1
                continue
            delimiter = frames.index(b"")
            status = status_pb2.Status(code=self.code, message="from the fake server").SerializeToString()
            self.socket.send_multipart(frames[:delimiter + 1] + [status, b""])

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join()
        self.socket.close(linger=0)
        if len(self.threads) > 1:
            self.zap.close(linger=0)
        self.context.term()


@pytest.fixture(scope="module")
def c_cli():
    build = subprocess.run(["make", "-C", str(C_CLIENT_DIR)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    return C_CLIENT_DIR / "build" / "zserve-c-predict"


@pytest.fixture
def keys(tmp_path):
    """`zserve keygen` key pairs for the fake server, a client it allows (its .pub in allowed/) and a stranger."""
    for name in ["server", "client", "stranger"]:
        made = subprocess.run([os.environ["ZSERVE_BIN"], "keygen", "--out", str(tmp_path / name)], capture_output=True,
                              text=True, timeout=30)
        assert made.returncode == 0, made.stderr
    (tmp_path / "allowed").mkdir()
    shutil.copy(tmp_path / "client.pub", tmp_path / "allowed")
    return tmp_path


def failures(endpoint: str, c_cli, key_files=(), timeout_ms=TIMEOUT_MS) -> dict:
    """"CODE_NAME: message" (or "OK") from each client for one Predict against endpoint; key_files: the server's
    public key file and the client's secret key file, for CURVE."""
    lines = {}
    options = ["--server-public-key", str(key_files[0]), "--client-key", str(key_files[1])] if key_files else []
    curve = CurveKeys.from_files(*map(str, key_files)) if key_files else None
    try:
        with Client(endpoint, timeout_ms=timeout_ms, curve=curve) as client:
            client.predict("m", {"x": np.ones((1, 1), dtype=np.float32)})
        lines["python"] = "OK"
    except ZServeError as error:
        lines["python"] = f"{error.code_name}: {error.message}"
    swift = subprocess.run(
        [os.environ["ZSERVE_BIN"], "predict", "--endpoint", endpoint, "--model", "m", "--timeout-ms", str(timeout_ms),
         "--json", '{"x": {"dtype": "float32", "shape": [1, 1], "data": [1]}}', *options],
        capture_output=True, text=True, timeout=30)
    lines["swift"] = swift.stderr.strip() if swift.returncode else "OK"
    c = subprocess.run([str(c_cli), *options, endpoint, "m", "1", "1", "1"], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "ZSERVE_TIMEOUT_MS": str(timeout_ms)})
    lines["c"] = c.stderr.strip() if c.returncode else "OK"
    return lines


def failure_names(endpoint: str, c_cli, key_files=()) -> dict:
    """The code name each client reports for one Predict against endpoint."""
    return {client: line.split(":")[0] for client, line in failures(endpoint, c_cli, key_files).items()}


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


@pytest.mark.parametrize("client_key, name, reason", [
    pytest.param("client", "NOT_FOUND", "from the fake server", id="allowed"),
    pytest.param("stranger", "UNAUTHENTICATED", "refused this client's key", id="stranger"),
])
def test_curve_keys_work_and_refusals_are_named_alike(c_cli, keys, client_key, name, reason):
    fake = FakeServer(code=5, keys=keys)
    try:
        key_files = (keys / "server.pub", keys / f"{client_key}.key") if client_key else ()
        lines = failures(fake.endpoint, c_cli, key_files, timeout_ms=CURVE_TIMEOUT_MS)
    finally:
        fake.close()
    assert {client: line.split(":")[0] for client, line in lines.items()} == dict.fromkeys(lines, name), lines
    assert all(reason in line for line in lines.values()), lines


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
