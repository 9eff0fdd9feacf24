"""Pytest setup for the Python client's own suite.

zserve_client is imported from an installed copy of Clients/python (Tests/python/installed_client.py), never from
the source tree; servers are real `zserve serve` processes on loopback ephemeral ports (Tests/python/zserve_testing.py).
"""

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
