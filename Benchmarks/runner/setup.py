"""What Benchmarks/run installs and builds before measuring: apt wrk, the venv, the release build, stubs, models."""

import hashlib
import os
import shutil
import subprocess
import sys
import time
import types
import zlib
from pathlib import Path

BUILD_LOG = Path("/tmp") / f"zserve-bench-release-{os.getuid()}.log"
MODELS = {"ctr": "zoo_ctr_mlp", "two_tower": "zoo_two_tower"}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def start_release_build(root: Path) -> subprocess.Popen:
    """Starts `swift build -c release --product zserve` under the shared build lock, output to a log file."""
    log(f"release build of zserve started (log: {BUILD_LOG})")
    with open(BUILD_LOG, "wb") as out:
        return subprocess.Popen(["flock", "/tmp/zserve-swift-build.lock", "swift", "build", "-c", "release",
                                 "--product", "zserve"], cwd=root, stdout=out, stderr=subprocess.STDOUT)


def wait_for_build(root: Path) -> Path:
    """Waits for the build started by the bootstrap (its pid in BENCH_BUILD_PID), or builds now; the binary."""
    pid = int(os.environ.get("BENCH_BUILD_PID", "0"))
    if pid:
        # The build is a child of this process (exec keeps children): reap it for its exit status.
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    else:
        code = start_release_build(root).wait()
    if code != 0:
        sys.exit(f"release build failed ({code}):\n" + BUILD_LOG.read_text()[-3000:])
    log("release build done")
    return root / ".build" / "release" / "zserve"


def ensure_venv(root: Path, venv: Path) -> None:
    """Makes .bench-venv from Benchmarks/requirements.txt unless it is already current (hash stamp)."""
    requirements = root / "Benchmarks" / "requirements.txt"
    stamp = venv / ".requirements.sha256"
    want = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if (venv / "bin" / "python").exists() and stamp.exists() and stamp.read_text().strip() == want:
        return
    log("preparing the benchmark venv at .bench-venv (onnxruntime, pyzmq, grpcio, ray[serve], matplotlib)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", str(requirements)], check=True)
    stamp.write_text(want)


def ensure_wrk() -> str | None:
    """The wrk binary, installed from Debian if missing; None when it cannot be had."""
    if shutil.which("wrk"):
        return shutil.which("wrk")
    log("installing wrk (apt)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "install", "-y", "-qq", "wrk"], ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(sudo + command, env=env, capture_output=True)
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


def generate_stubs(root: Path, out: Path) -> None:
    """zserve.v1 message modules and gRPC stubs from Protos/, by grpcio-tools' protoc."""
    if (out / "zserve" / "v1" / "inference_pb2_grpc.py").exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    protos = sorted(str(path) for path in (root / "Protos" / "zserve" / "v1").glob("*.proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{root / 'Protos'}", f"--python_out={out}",
                    f"--grpc_python_out={out}", *protos], check=True)


def model_files(root: Path, out: Path) -> dict[str, Path]:
    """The model files by serving name: .fixtures' (scripts/test.sh) when present, else built into `out` by the
    zoo builders of scripts/make_test_models.py (same seeds, so the same models)."""
    files = {}
    for name, zoo in MODELS.items():
        fixture = root / ".fixtures" / "reference" / zoo / "model.onnx"
        built = out / "reference" / zoo / "model.onnx"
        if fixture.exists():
            files[name] = fixture
            continue
        if not built.exists():
            build_zoo_model(root, out, zoo)
        files[name] = built
    return files


def build_zoo_model(root: Path, out: Path, zoo: str) -> None:
    """Builds one zoo model with make_test_models.py's builder. Its ai.onnx.ml part (scikit-learn, LightGBM, not in
    this venv) is not needed for the zoo: an empty stand-in module takes its place for the import."""
    import numpy as np
    if "ml_models" not in sys.modules:
        stand_in = types.ModuleType("ml_models")
        stand_in.LIBRARY_MODELS, stand_in.ML_BUILDERS = {}, {}
        sys.modules["ml_models"] = stand_in
    sys.path.insert(0, str(root / "scripts"))
    import make_test_models
    log(f"building {zoo}")
    built = make_test_models.BUILDERS[zoo](np.random.default_rng(zlib.crc32(zoo.encode())))
    model, feeds = built[0], built[1]
    model.graph.name = zoo
    for tree in ("repository", "reference"):
        shutil.rmtree(out / tree / zoo, ignore_errors=True)
    make_test_models.write_model(out, zoo, model, feeds)
