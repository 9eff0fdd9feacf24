"""The package installs from a fresh clone and works: committed modules match Protos/, pip install, the README example."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import zserve.v1.inference_pb2
import zserve_client
from installed_client import CLIENT_DIR, REPO_ROOT, copy_client_sources, install_client

GENERATED = CLIENT_DIR / "zserve" / "v1"
# The README's install command and the Python example right after it.
README_EXAMPLE = re.compile(r"```sh\npip install \./Clients/python\n```\n+```python\n(.*?)```", re.DOTALL)
README_ENDPOINT = "tcp://127.0.0.1:7070"
PIP_TIMEOUT_S = 300


def generated_files(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*_pb2.py*"))}


def test_committed_modules_equal_what_generate_sh_makes_from_protos(tmp_path):
    subprocess.run([str(CLIENT_DIR / "generate.sh"), str(tmp_path)], check=True, timeout=120)
    fresh = generated_files(tmp_path / "zserve" / "v1")
    protos = sorted(path.stem for path in (REPO_ROOT / "Protos" / "zserve" / "v1").glob("*.proto"))
    assert sorted(fresh) == sorted([f"{stem}_pb2.py" for stem in protos] + [f"{stem}_pb2.pyi" for stem in protos])
    committed = generated_files(GENERATED)
    stale = sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))
    assert not stale, f"{stale} differ from what generate.sh makes from Protos/: run Clients/python/generate.sh"
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", *committed], cwd=GENERATED, capture_output=True)
    if tracked.returncode != 0 and b"not a git repository" not in tracked.stderr.lower():
        pytest.fail(f"generated modules not in git: {tracked.stderr.decode()}")


def test_the_suite_imports_the_installed_package_not_the_source_tree():
    installed = install_client()
    for module in (zserve_client, zserve.v1.inference_pb2):
        assert Path(module.__file__).is_relative_to(installed), module.__file__


def readme_example(readme: Path) -> str:
    match = README_EXAMPLE.search(readme.read_text())
    assert match, f"{readme} has no `pip install ./Clients/python` followed by a Python example"
    return match.group(1)


def test_fresh_venv_pip_install_runs_the_readme_example(frontend, tmp_path):
    example = readme_example(REPO_ROOT / "README.md")
    assert readme_example(CLIENT_DIR / "README.md") == example, "the two READMEs show different examples"
    assert len(example.splitlines()) <= 5 and README_ENDPOINT in example
    # What a user does on a fresh clone: a new venv, `pip install ./Clients/python` (dependencies resolved from the
    # pyproject's declaration), then the example.
    clone = copy_client_sources(tmp_path / "clone" / "Clients" / "python")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=PIP_TIMEOUT_S)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(clone)],
                   check=True, timeout=PIP_TIMEOUT_S)
    run = subprocess.run([str(venv / "bin" / "python"), "-c", example.replace(README_ENDPOINT, frontend)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"1 \[\[0\.\d+\]\]\n", run.stdout), run.stdout
