"""Installs Clients/python as pip would from a fresh clone, so the tests import zserve_client from an installed copy.

`install_client()` copies the files a clone of the repository has under Clients/python (tracked and not ignored:
`git ls-files`; the whole folder outside a git checkout) to a scratch folder, `pip install`s that copy into another
(`--no-deps`: numpy, pyzmq and protobuf come from the running environment) and puts it first on sys.path. Once per
process; both Tests/python and Clients/python/tests call it from their conftest, so a session running both imports
one copy. A module missing from the clone, or left out of the package, fails the import.
"""

import atexit
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT_DIR = REPO_ROOT / "Clients" / "python"
_installed: Path | None = None


def install_client() -> Path:
    """Installs the client once per process (see the module doc); returns the folder it was installed into."""
    global _installed
    if _installed is None:
        scratch = Path(tempfile.mkdtemp(prefix="zserve-client-"))
        atexit.register(shutil.rmtree, scratch, True)
        source = copy_client_sources(scratch / "source")
        target = scratch / "site-packages"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(source)], check=True)
        sys.path.insert(0, str(target))
        _installed = target
    return _installed


def copy_client_sources(destination: Path) -> Path:
    """Copies what a fresh clone has under Clients/python to destination; returns destination."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "."],
                            cwd=CLIENT_DIR, capture_output=True)
    if listed.returncode != 0:
        shutil.copytree(CLIENT_DIR, destination,
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".generate.*"))
        return destination
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = CLIENT_DIR / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination
