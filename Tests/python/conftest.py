"""Pytest setup for Tests/python: generates the protobuf stubs and makes the Python client importable."""

import subprocess
import sys
from pathlib import Path

CLIENT_DIR = Path(__file__).resolve().parents[2] / "Clients" / "python"


def pytest_configure():
    """Runs Clients/python/generate.sh and puts Clients/python on sys.path, before any test module is imported."""
    subprocess.run([str(CLIENT_DIR / "generate.sh")], check=True)
    sys.path.insert(0, str(CLIENT_DIR))
