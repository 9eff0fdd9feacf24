"""Pytest setup for the Python client's own suite.

zserve_client is imported from an installed copy of Clients/python (Tests/python/installed_client.py), never from
the source tree; servers are real `zserve serve` processes on loopback ephemeral ports (Tests/python/zserve_testing.py).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "Tests" / "python"))

from installed_client import install_client  # noqa: E402

install_client()  # before anything imports zserve_client (client_testing does)

import zserve_testing  # noqa: E402
from client_testing import MODEL_FILE  # noqa: E402


@pytest.fixture(scope="session")
def frontend():
    """The frontend endpoint of a server on the example repository (read-only use: no admin endpoint)."""
    zserve_testing.skip_without_binary()
    with zserve_testing.start_server(zserve_testing.EXAMPLE_REPOSITORY) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def reference():
    """onnxruntime's outputs of the example model: reference(features) -> probabilities."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(MODEL_FILE), providers=["CPUExecutionProvider"])
    return lambda features: session.run(["probability"], {"features": features})[0]


@pytest.fixture
def features():
    """features(rows): distinct rows of the example model's 8 features, so results put in the wrong order differ."""
    generator = np.random.default_rng(12)
    scale = np.array([400, 20, 5000, 800, 60, 400, 1, 1], dtype=np.float32)
    return lambda rows: (generator.random((rows, 8), dtype=np.float32) * scale).astype(np.float32)


@pytest.fixture(scope="session")
def curve_keys(tmp_path_factory):
    """A directory of `zserve keygen` key pairs: server, client, stranger; allowed/ holds client.pub and
    strangers/ holds stranger.pub (a server's --frontend-keys)."""
    zserve_testing.skip_without_binary()
    keys = tmp_path_factory.mktemp("keys")
    for name in ["server", "client", "stranger"]:
        made = subprocess.run([os.environ["ZSERVE_BIN"], "keygen", "--out", str(keys / name)], capture_output=True,
                              text=True, timeout=30)
        assert made.returncode == 0, made.stderr
    for folder, name in [("allowed", "client"), ("strangers", "stranger")]:
        (keys / folder).mkdir()
        shutil.copy(keys / f"{name}.pub", keys / folder)
    return keys


@pytest.fixture(scope="session")
def curve_servers(curve_keys):
    """(allowing, refusing): the frontend endpoints of two servers requiring CURVE with the same server key; the
    first allows the client's key, the second only the stranger's."""
    with zserve_testing.run_server(zserve_testing.EXAMPLE_REPOSITORY, "--workers", "1", "--server-key",
                                   str(curve_keys / "server.key"), "--frontend-keys", str(curve_keys / "allowed")) \
            as allowing, \
            zserve_testing.run_server(zserve_testing.EXAMPLE_REPOSITORY, "--workers", "1", "--server-key",
                                      str(curve_keys / "server.key"), "--frontend-keys",
                                      str(curve_keys / "strangers")) \
            as refusing:
        yield allowing.listen, refusing.listen
