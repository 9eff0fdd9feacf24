"""Faults injected into a real server (issue 14): SIGKILL at chosen points of a push, the repository's file system
full or read-only during a push, warm-ups that throw or outgrow the session memory limit, and malformed requests to
every RPC of both services while a well-behaved client keeps being answered.

Every server runs the `ctr` models of test_hot_swap (x float32 [batch, 16] -> probability float32 [batch, 1]) over a
temporary repository; a bystander thread predicts throughout and checks every reply against onnxruntime. File-system
faults mount a small tmpfs or a read-only bind mount, which needs root (CAP_SYS_ADMIN); without it those tests skip
saying so. Nothing binds beyond 127.0.0.1.
"""

import contextlib
import dataclasses
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zmq
from onnx import TensorProto, helper, numpy_helper

import zserve_testing
from test_hot_swap import (
    FEATURES, INPUT, LARGE_HIDDEN, MODEL, OUTPUT, THREAD_JOIN_TIMEOUT_S, UPLOADS, X, Observed, assert_complete_versions,
    assert_no_temporaries, assert_only_failed_push_shown, assert_serves, clients, ctr_mlp, make_repository,
    push_all_but_commit, reference, req_traffic, serve, start_traffic, states, tree, upload_files, wait_for,
    write_version,
)
from test_wire import assert_code, connect, receive
from zserve_client import AdminClient, Client, ZServeError
from zserve_client.protos import inference_pb2, model_control_pb2, status_pb2, tensor_pb2

zserve_testing.skip_without_binary()

FLOAT32 = tensor_pb2.DATA_TYPE_FLOAT32
V1 = ctr_mlp(seed=1)
# The session memory limit every warm-up runs under (VersionLoader: makeSession(memoryLimit: 1 << 30)).
SESSION_MEMORY_LIMIT = 1 << 30
CHUNK_SIZE = 64 << 10
PAGE = 4096


# ---------------------------------------------------------------------------------------------------------------------
# The bystander: a well-behaved client predicting throughout


class Bystander:
    """A REQ client predicting on a thread (test_hot_swap's req_traffic), every reply checked against onnxruntime for
    the version it names; `expected` is {version: model bytes}."""

    def __init__(self, endpoint: str, expected: dict):
        self.observed = Observed({version: reference(model) for version, model in expected.items()})
        self.stop = threading.Event()
        self.thread = start_traffic(req_traffic, endpoint, self.observed, self.stop)

    def wait_for_replies(self, server: zserve_testing.Server, more: int = 2) -> None:
        """Waits until `more` further replies came back, and asserts none of them (nor any before) failed."""
        target = self.observed.replies + more
        wait_for(lambda: self.observed.replies >= target or self.observed.failures,
                 f"{more} more bystander replies", server)
        assert self.observed.failures == [], self.observed.failures[:5]

    def finish(self) -> None:
        """Stops the thread and asserts every reply it got was correct."""
        self.stop.set()
        self.thread.join(THREAD_JOIN_TIMEOUT_S)
        assert not self.thread.is_alive(), "the bystander did not finish"
        assert self.observed.failures == [], self.observed.failures[:5]
        assert self.observed.replies > 0


@contextlib.contextmanager
def bystander(server: zserve_testing.Server, expected: dict):
    """A Bystander for the duration of the block; on a clean exit asserts it was answered correctly throughout."""
    traffic = Bystander(server.listen, expected)
    try:
        traffic.wait_for_replies(server)
        yield traffic
        traffic.wait_for_replies(server)
    finally:
        traffic.stop.set()
    traffic.finish()


# ---------------------------------------------------------------------------------------------------------------------
# Models that fail their warm-up


def model_of(nodes, initializers: dict, output_shape=("batch", 1)) -> bytes:
    """An opset-13 model with the ctr signature: x float32 [batch, 16] -> probability float32 output_shape."""
    graph = helper.make_graph(
        nodes, MODEL,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, list(output_shape))],
        [numpy_helper.from_array(array, name) for name, array in initializers.items()],
    )
    return helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def lookup_model() -> bytes:
    """Uses x's values as row indices of a [16, 1] table (Cast -> Gather -> ReduceSum): fine on the generated warm-up
    inputs (ones), a run-time error on an x holding an index past the table."""
    nodes = [
        helper.make_node("Cast", [INPUT], ["indices"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "indices"], ["gathered"], axis=0),
        helper.make_node("ReduceSum", ["gathered", "axes"], ["summed"], keepdims=0),
        helper.make_node("Sigmoid", ["summed"], [OUTPUT]),
    ]
    table = np.linspace(-1, 1, FEATURES, dtype=np.float32).reshape(FEATURES, 1)
    return model_of(nodes, {"table": table, "axes": np.array([1], dtype=np.int64)})


def expanding_model() -> bytes:
    """Broadcasts x to [2^24 + 1, 16] float32 (just over 1 GiB) before reducing it: past the session memory limit on
    any input, the generated warm-up inputs included."""
    rows = SESSION_MEMORY_LIMIT // (FEATURES * 4) + 1
    nodes = [
        helper.make_node("Expand", [INPUT, "shape"], ["expanded"]),
        helper.make_node("ReduceMean", ["expanded"], ["mean"], axes=[0, 1], keepdims=1),
        helper.make_node("Sigmoid", ["mean"], [OUTPUT]),
    ]
    return model_of(nodes, {"shape": np.array([rows, FEATURES], dtype=np.int64)}, output_shape=(1, 1))


def slow_warmup_model(size: int = 1024, squarings: int = 12) -> bytes:
    """A model whose warm-up takes a while whatever the batch: x -> Gemm to [batch, size] -> its Gram matrix
    [size, size], squared `squarings` times (2·size³ flops each) -> Gemm back to [batch, 1] -> Sigmoid."""
    rng = np.random.default_rng(7)
    nodes = [
        helper.make_node("Gemm", [INPUT, "w1"], ["h"]),
        helper.make_node("Gemm", ["h", "h"], ["g0"], transA=1),
    ]
    for i in range(squarings):
        nodes.append(helper.make_node("MatMul", [f"g{i}", f"g{i}"], [f"g{i + 1}"]))
    nodes += [
        helper.make_node("MatMul", ["h", f"g{squarings}"], ["mixed"]),
        helper.make_node("Gemm", ["mixed", "w2"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], [OUTPUT]),
    ]
    weights = {"w1": rng.standard_normal((FEATURES, size), dtype=np.float32) / 100,
               "w2": rng.standard_normal((size, 1), dtype=np.float32) / 100}
    return model_of(nodes, weights)


# ---------------------------------------------------------------------------------------------------------------------
# 1. SIGKILL during a push (mid-upload and during the commit are test_hot_swap's)


def kill_while_loading(server: zserve_testing.Server, repository: Path, model: bytes) -> None:
    """Pushes model from a thread and kills the server once ModelStatus shows version 2 LOADING (parse, plan,
    warm-up), i.e. after every byte arrived and before the version is stored."""
    def push():
        # The reply never comes: the pusher gives up a few seconds after the kill, on its own.
        with contextlib.suppress(ZServeError), AdminClient(server.admin, timeout_ms=5000) as admin:
            admin.push_model(MODEL, model, chunk_size=CHUNK_SIZE)

    with Client(server.listen) as client:
        threading.Thread(target=push, name="killed-push", daemon=True).start()
        wait_for(lambda: states(client.model_status(MODEL)).get(2) == "LOADING", "version 2 LOADING", server)
    assert upload_files(repository), "the loading upload is not staged under the uploads folder"
    server.kill()


def kill_after_upload_before_commit(server: zserve_testing.Server, repository: Path, model: bytes) -> None:
    """Sends every byte of model but does not commit: a complete, checksummed model.onnx sits in the uploads folder
    when the server is killed; the next start must not serve it."""
    with AdminClient(server.admin) as admin:
        upload_id, offset = push_all_but_commit(admin, model)
        admin.push_chunk(upload_id=upload_id, offset=offset, data=model[offset:])
    [staged] = [path for path in upload_files(repository) if path.endswith("model.onnx")]
    assert (repository / UPLOADS / staged).read_bytes() == model
    server.kill()


@pytest.mark.parametrize("kill", [kill_while_loading, kill_after_upload_before_commit],
                         ids=["during-warm-up", "all-bytes-sent-not-committed"])
def test_sigkill_during_a_push_serves_the_last_complete_version_on_restart(tmp_path, kill):
    pushed = slow_warmup_model() if kill is kill_while_loading else ctr_mlp(seed=2, hidden=LARGE_HIDDEN)
    repository = make_repository(tmp_path, {1: V1})
    with serve(repository) as server:
        kill(server, repository, pushed)
    # Only version 1 was ever complete: no version 2 directory, and a start clears the staged upload unserved.
    assert_complete_versions(repository, {1: V1})
    with serve(repository) as server, clients(server) as (client, admin):
        assert_no_temporaries(repository)
        assert not (repository / UPLOADS).exists()
        assert states(admin.model_status(MODEL)) == {1: "AVAILABLE"}
        assert_serves(client, 1, V1)
        # The repository takes the next push as version 2, as if the killed one had never started.
        assert admin.push_model(MODEL, ctr_mlp(seed=3), chunk_size=CHUNK_SIZE)[0] == 2
        assert_serves(client, 2, ctr_mlp(seed=3))
    assert_complete_versions(repository, {1: V1, 2: ctr_mlp(seed=3)})


# ---------------------------------------------------------------------------------------------------------------------
# 2. The repository's file system full or read-only during a push


def run_mount(*args: str) -> None:
    """Runs mount(8); skips the test when mounting is not permitted here."""
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount ({' '.join(args)}): {result.stderr.strip() or result.returncode}; "
                    "the file-system fault tests need root with CAP_SYS_ADMIN")


@contextlib.contextmanager
def tmpfs(directory: Path, size: int, inodes: int = 1000):
    """A tmpfs of `size` bytes and `inodes` inodes mounted on directory for the block; unmounted after."""
    directory.mkdir()
    run_mount("-t", "tmpfs", "-o", f"size={size},nr_inodes={inodes},mode=0755", "tmpfs", str(directory))
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)


@contextlib.contextmanager
def read_only_bind(directory: Path):
    """directory bind-mounted read-only onto itself for the block."""
    run_mount("--bind", str(directory), str(directory))
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], check=True)
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def free_inodes(path: Path) -> int:
    return os.statvfs(path).f_favail


def fill(mount: Path, leave_bytes: int = 0, leave_inodes: int | None = None) -> list:
    """Fills the file system under mount outside the repository until leave_bytes bytes (rounded down to pages) and,
    when given, leave_inodes inodes are free; returns the filler files."""
    blob = mount / "blob"
    blob.write_bytes(bytes(max(0, free_bytes(mount) - leave_bytes)))
    fillers = [blob]
    assert free_bytes(mount) <= leave_bytes + PAGE
    if leave_inodes is not None:
        while free_inodes(mount) > leave_inodes:
            fillers.append(mount / f"inode-{len(fillers)}")
            fillers[-1].touch()
        assert free_inodes(mount) == leave_inodes
    return fillers


@dataclasses.dataclass
class FileSystemFault:
    """A push that a full or read-only repository refuses: how to break the file system (given the mount point and
    the repository; returns how to repair it), the model pushed, and the status and words of the refusal."""

    breaks: Callable
    model: bytes
    code: str
    mentions: str
    metadata: dict = dataclasses.field(default_factory=dict)


def full_at_upload(mount: Path, _repository: Path):
    """Leaves 256 KiB free, far less than the 4 MB model."""
    fillers = fill(mount, leave_bytes=256 << 10)
    return lambda: [filler.unlink() for filler in fillers]


def no_inode_for_metadata(mount: Path, _repository: Path):
    """Leaves three inodes: the uploads folder, the upload's folder and its model.onnx fit, metadata.json (written
    at commit, after the warm-up) does not."""
    fillers = fill(mount, leave_bytes=1 << 20, leave_inodes=3)
    return lambda: [filler.unlink() for filler in fillers]


def read_only_repository(mount: Path, _repository: Path):
    """Remounts the whole file system read-only before the push opens."""
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    return lambda: subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)


def read_only_model_directory(_mount: Path, repository: Path):
    """Makes <repository>/ctr read-only (a read-only bind mount) while the uploads folder stays writable: the upload
    and warm-up succeed, storing the version fails."""
    stack = contextlib.ExitStack()
    stack.enter_context(read_only_bind(repository / MODEL))
    return stack.close


FILE_SYSTEM_FAULTS = [
    pytest.param(FileSystemFault(full_at_upload, ctr_mlp(seed=2, hidden=LARGE_HIDDEN), "RESOURCE_EXHAUSTED",
                                 "file system is full"), id="full-mid-upload"),
    pytest.param(FileSystemFault(no_inode_for_metadata, ctr_mlp(seed=2), "RESOURCE_EXHAUSTED", "file system is full",
                                 metadata={"trainer": "nightly"}), id="no-inode-left-at-commit"),
    pytest.param(FileSystemFault(read_only_repository, ctr_mlp(seed=2), "UNAVAILABLE", "read-only"),
                 id="read-only-repository"),
    pytest.param(FileSystemFault(read_only_model_directory, ctr_mlp(seed=2), "UNAVAILABLE", "read-only"),
                 id="read-only-model-directory-at-commit"),
]


@pytest.mark.parametrize("fault", FILE_SYSTEM_FAULTS)
def test_a_full_or_read_only_repository_refuses_the_push_and_keeps_serving(tmp_path, fault):
    with tmpfs(tmp_path / "mount", size=16 << 20) as mount:
        repository = make_repository(mount, {1: V1})
        repaired = ctr_mlp(seed=3)
        with serve(repository) as server, clients(server) as (client, admin), \
                bystander(server, {1: V1, 2: repaired}) as traffic:
            tree_before, listing_before = tree(repository), admin.list_models()
            repair = fault.breaks(mount, repository)
            free_before = free_bytes(mount)
            try:
                with pytest.raises(ZServeError) as refused:
                    admin.push_model(MODEL, fault.model, metadata=fault.metadata, chunk_size=CHUNK_SIZE)
                assert refused.value.code_name == fault.code, refused.value.message
                assert fault.mentions in refused.value.message
                traffic.wait_for_replies(server)
                # Nothing of the push is left: no file, no space taken, and nothing served changed.
                assert tree(repository) == tree_before
                assert free_bytes(mount) == free_before
                assert_only_failed_push_shown(listing_before, admin.list_models(), refused.value.message)
                assert_serves(client, 1, V1)
            finally:
                repair()
            # Once the file system is repaired, the next push goes through as version 2.
            assert admin.push_model(MODEL, repaired, chunk_size=CHUNK_SIZE)[0] == 2
            assert_serves(client, 2, repaired)
        assert_complete_versions(repository, {1: V1, 2: repaired})
        assert not (repository / UPLOADS).exists()


# ---------------------------------------------------------------------------------------------------------------------
# 3. Warm-ups that throw or outgrow the session memory limit (a failure on generated inputs is test_hot_swap's)


@dataclasses.dataclass
class FailingWarmup:
    model: bytes
    warmup_inputs: dict | None
    mentions: str


WARMUP_FAILURES = [
    pytest.param(FailingWarmup(lookup_model(), {INPUT: np.full((2, FEATURES), 99, np.float32)}, "Gather"),
                 id="shipped-inputs-make-the-run-throw"),
    pytest.param(FailingWarmup(expanding_model(), None, "memory limit"),
                 id="over-the-memory-limit-on-generated-inputs"),
    pytest.param(FailingWarmup(ctr_mlp(seed=2, hidden=LARGE_HIDDEN),
                               {INPUT: np.ones((SESSION_MEMORY_LIMIT // (LARGE_HIDDEN * 4) + 1, FEATURES), np.float32)},
                               "memory limit"),
                 id="over-the-memory-limit-on-shipped-inputs"),
]


@pytest.mark.parametrize("failing", WARMUP_FAILURES)
def test_a_failing_warm_up_is_refused_and_the_old_version_keeps_serving(tmp_path, failing):
    repository = make_repository(tmp_path, {1: V1})
    with serve(repository) as server, clients(server) as (client, admin), bystander(server, {1: V1}) as traffic:
        listing_before = admin.list_models()
        with pytest.raises(ZServeError) as refused:
            admin.push_model(MODEL, failing.model, warmup_inputs=failing.warmup_inputs, chunk_size=1 << 20)
        assert refused.value.code_name == "INVALID_ARGUMENT", refused.value.message
        assert "warm-up failed" in refused.value.message and failing.mentions in refused.value.message
        traffic.wait_for_replies(server)
        assert_only_failed_push_shown(listing_before, admin.list_models(), refused.value.message)
        assert admin.model_status(MODEL).default_version == 1
        assert_serves(client, 1, V1)
    assert sorted(os.listdir(repository / MODEL)) == ["1"]
    assert not (repository / UPLOADS).exists()


def test_shipped_inputs_that_fit_pass_the_same_model(tmp_path):
    """The counterpart of the refused lookup model: with in-range indices its warm-up passes and it serves."""
    repository = make_repository(tmp_path, {1: V1})
    indices = np.arange(2 * FEATURES, dtype=np.float32).reshape(2, FEATURES) % FEATURES
    with serve(repository) as server, clients(server) as (client, admin):
        assert admin.push_model(MODEL, lookup_model(), warmup_inputs={INPUT: indices})[0] == 2
        version, outputs = client.predict(MODEL, {INPUT: indices})
    assert version == 2
    np.testing.assert_allclose(outputs[OUTPUT], reference(lookup_model(), indices), rtol=1e-5, atol=1e-6)
