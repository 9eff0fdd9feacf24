"""Pytest setup for Tests/python: imports zserve_client from an installed copy of Clients/python."""

from installed_client import install_client


def pytest_configure():
    """Installs the Python client before any test module imports it (see installed_client.py)."""
    install_client()
