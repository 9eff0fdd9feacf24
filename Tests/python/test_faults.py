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
from onnx import TensorProto, helper

import zserve_testing
from test_hot_swap import (
    FEATURES, INPUT, LARGE_HIDDEN, MODEL, OUTPUT, THREAD_JOIN_TIMEOUT_S, UPLOADS, X, Observed, assert_complete_versions,
    assert_no_temporaries, assert_only_failed_push_shown, assert_serves, clients, ctr_mlp, make_repository,
    push_all_but_commit, reference, req_traffic, serialized_model, serve, start_traffic, states, tree, upload_files,
    wait_for, write_version,
)
from test_wire import assert_code, connect, receive
from zserve_client import AdminClient, Client, ZServeError
from zserve_client.calls import METHODS
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
    return serialized_model(nodes, {"table": table, "axes": np.array([1], dtype=np.int64)})


def expanding_model() -> bytes:
    """Broadcasts x to [2^24 + 1, 16] float32 (just over 1 GiB) before reducing it: past the session memory limit on
    any input, the generated warm-up inputs included."""
    rows = SESSION_MEMORY_LIMIT // (FEATURES * 4) + 1
    nodes = [
        helper.make_node("Expand", [INPUT, "shape"], ["expanded"]),
        helper.make_node("ReduceMean", ["expanded"], ["mean"], axes=[0, 1], keepdims=1),
        helper.make_node("Sigmoid", ["mean"], [OUTPUT]),
    ]
    return serialized_model(nodes, {"shape": np.array([rows, FEATURES], dtype=np.int64)}, output_shape=(1, 1))


def slow_warmup_model(size: int = 1024, squarings: int = 48) -> bytes:
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
    return serialized_model(nodes, weights)


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
    the repository; returns how to repair it), the model pushed, and the status and words of the refusal (which
    name the step that failed: staging, writing or storing)."""

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
                                 "writing the upload failed: the model repository's file system is full"),
                 id="full-mid-upload"),
    pytest.param(FileSystemFault(no_inode_for_metadata, ctr_mlp(seed=2), "RESOURCE_EXHAUSTED",
                                 "storing the version failed: the model repository's file system is full",
                                 metadata={"trainer": "nightly"}), id="no-inode-left-at-commit"),
    pytest.param(FileSystemFault(read_only_repository, ctr_mlp(seed=2), "UNAVAILABLE",
                                 "cannot stage the upload: the model repository's file system is read-only"),
                 id="read-only-repository"),
    pytest.param(FileSystemFault(read_only_model_directory, ctr_mlp(seed=2), "UNAVAILABLE",
                                 "storing the version failed: the model repository's file system is read-only"),
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


# ---------------------------------------------------------------------------------------------------------------------
# 4. Malformed requests to every RPC of both services, with a bystander predicting throughout
#
# Kinds test_wire (frames, Predict) and test_hot_swap (PushModel, mutations on the frontend) already cover are not
# repeated here. Each request goes out as raw frames from a DEALER socket; the reply must carry exactly the status
# listed, the server's listing must not change, and the bystander must keep being answered correctly.

FRONTEND, ADMIN = "frontend", "admin"
# On disk but not loadable: a truncated model, left FAILED at start while version 1 serves.
BROKEN_VERSION = 7
ABSENT_VERSION = 9


@dataclasses.dataclass(frozen=True)
class Malformed:
    """Frames sent to an endpoint and the status they must get; `routing` frames come back before the delimiter, and
    `response` checks the response of a request answered OK."""

    endpoint: str
    frames: list
    code: str
    routing: int = 0
    response: Callable | None = None


def method(name: str) -> bytes:
    return METHODS[name].encode()


def call(name: str, payload, endpoint: str = FRONTEND, code: str = "INVALID_ARGUMENT", **options) -> Malformed:
    """A request to method `name` (a message, or raw payload bytes)."""
    data = payload if isinstance(payload, bytes) else payload.SerializeToString()
    return Malformed(endpoint, [b"", method(name), data], code, **options)


def admin_call(name: str, payload, code: str = "INVALID_ARGUMENT") -> Malformed:
    return call(name, payload, ADMIN, code)


def predict(code: str = "INVALID_ARGUMENT", model: str = MODEL, version: int = 0, inputs=None, **fields) -> Malformed:
    """A Predict of the ctr model on X, with any field replaced."""
    inputs = [tensor_pb2.Tensor(name=INPUT, dtype=FLOAT32, shape=X.shape, raw_data=X.tobytes())] if inputs is None \
        else inputs
    request = inference_pb2.PredictRequest(id="malformed", model=inference_pb2.ModelSpec(name=model, version=version),
                                           inputs=inputs, **fields)
    return call("Predict", request, code=code)


def x_tensor(**fields) -> tensor_pb2.Tensor:
    """The tensor x of X with any field replaced."""
    tensor = {"name": INPUT, "dtype": FLOAT32, "shape": X.shape, "raw_data": X.tobytes()} | fields
    return tensor_pb2.Tensor(**tensor)


def spec(name: str = MODEL, version: int = 0, label: str = "") -> inference_pb2.ModelSpec:
    return inference_pb2.ModelSpec(name=name, version=version, label=label)


def opening(**fields) -> model_control_pb2.PushModelRequest:
    """The opening chunk of a push of V1's bytes, with any field replaced."""
    request = {"model": MODEL, "sha256": bytes(32), "total_size": len(V1)} | fields
    return model_control_pb2.PushModelRequest(**request)


def not_ready(response: bytes) -> None:
    assert inference_pb2.ModelReadyResponse.FromString(response).ready is False


GOOD_PREDICT = predict().frames[2]
GARBAGE = b"\xff\xff\xff"
Load, Unload = model_control_pb2.LoadModelRequest, model_control_pb2.UnloadModelRequest
Label, Rollback = model_control_pb2.SetLabelRequest, model_control_pb2.RollbackRequest
Scale = model_control_pb2.ScaleWorkersRequest

MALFORMED = [
    # Frames and method paths
    pytest.param(Malformed(FRONTEND, [b"", b"", GOOD_PREDICT], "UNIMPLEMENTED"), id="method-empty"),
    pytest.param(Malformed(FRONTEND, [b"", b"Predict", GOOD_PREDICT], "UNIMPLEMENTED"), id="method-without-service"),
    pytest.param(Malformed(FRONTEND, [b"", b"zserve.v1.inference/predict", GOOD_PREDICT], "UNIMPLEMENTED"),
                 id="method-in-lower-case"),
    pytest.param(Malformed(FRONTEND, [b"", b"/" + method("Predict") + b"/", GOOD_PREDICT], "UNIMPLEMENTED"),
                 id="method-with-trailing-slash"),
    pytest.param(Malformed(FRONTEND, [b"", method("Predict") + b"\0", GOOD_PREDICT], "UNIMPLEMENTED"),
                 id="method-with-trailing-nul"),
    pytest.param(Malformed(FRONTEND, [b"", b"\xff\xfe/\x80", GOOD_PREDICT], "UNIMPLEMENTED"), id="method-not-utf8"),
    pytest.param(Malformed(FRONTEND, [b"", b"zserve.v1.Inference/" + b"x" * 10_000, GOOD_PREDICT], "UNIMPLEMENTED"),
                 id="method-of-10k-bytes"),
    pytest.param(Malformed(FRONTEND, [b""], "INVALID_ARGUMENT"), id="delimiter-only"),
    pytest.param(Malformed(FRONTEND, [b"", method("Predict")] + [GOOD_PREDICT] * 1000, "INVALID_ARGUMENT"),
                 id="thousand-payload-frames"),
    pytest.param(Malformed(FRONTEND, [b"hop"] * 8 + [b"", method("Predict"), GOOD_PREDICT], "INVALID_ARGUMENT",
                           routing=8), id="routing-frames-past-the-limit"),
    pytest.param(Malformed(ADMIN, [b"", method("Predict"), GOOD_PREDICT], "UNIMPLEMENTED"), id="predict-on-admin"),
    # Payloads that are not their request message
    pytest.param(call("Predict", b"\x0a\x02\xff\xfe" + GOOD_PREDICT), id="string-not-utf8"),
    pytest.param(call("Predict", b"\x00\x01" + GOOD_PREDICT), id="field-number-zero"),
    pytest.param(call("Predict", b"\x28" + b"\xff" * 10 + b"\x01"), id="varint-of-11-bytes"),
    pytest.param(call("Predict", b"\xfb\x07" * 100_000), id="groups-nested-100k-deep"),
    pytest.param(call("ListModels", b"\x0a\x80\x80\x40" + bytes(1 << 20)), id="control-payload-over-1MiB"),
    pytest.param(call("ServerReady", GARBAGE), id="ServerReady-not-protobuf"),
    pytest.param(call("ListModels", GARBAGE), id="ListModels-not-protobuf"),
    # Predict
    pytest.param(predict(inputs=[x_tensor(dtype=tensor_pb2.DATA_TYPE_UNSPECIFIED)]), id="dtype-unspecified"),
    pytest.param(predict(inputs=[x_tensor(dtype=99)]), id="dtype-outside-the-enum"),
    pytest.param(predict(inputs=[x_tensor(shape=[-4, -16])]), id="negative-dimensions"),
    pytest.param(predict(inputs=[x_tensor(shape=[1 << 40, 1 << 40, 16])]), id="shape-overflowing-int64"),
    pytest.param(predict(inputs=[x_tensor(name="")]), id="input-name-empty"),
    pytest.param(predict(version=-1), id="negative-version"),
    pytest.param(predict("NOT_FOUND", model=f"../{MODEL}"), id="model-name-escaping-the-repository"),
    pytest.param(predict("NOT_FOUND", model="m" * 10_000), id="model-name-of-10k-chars"),
    # ModelMetadata
    pytest.param(call("ModelMetadata", inference_pb2.ModelMetadataRequest()), id="ModelMetadata-name-empty"),
    pytest.param(call("ModelMetadata", inference_pb2.ModelMetadataRequest(model=spec(version=ABSENT_VERSION)),
                      code="NOT_FOUND"), id="ModelMetadata-unknown-version"),
    pytest.param(call("ModelMetadata", inference_pb2.ModelMetadataRequest(model=spec(label="nope")), code="NOT_FOUND"),
                 id="ModelMetadata-unknown-label"),
    pytest.param(call("ModelMetadata", GARBAGE), id="ModelMetadata-not-protobuf"),
    # ModelReady: an unknown model is simply not ready
    pytest.param(call("ModelReady", inference_pb2.ModelReadyRequest(model=spec("nope")), code="OK", response=not_ready),
                 id="ModelReady-unknown-model"),
    pytest.param(call("ModelReady", inference_pb2.ModelReadyRequest()), id="ModelReady-name-empty"),
    pytest.param(call("ModelReady", GARBAGE), id="ModelReady-not-protobuf"),
    # ModelStatus
    pytest.param(call("ModelStatus", model_control_pb2.ModelStatusRequest(model="nope"), code="NOT_FOUND"),
                 id="ModelStatus-unknown-model"),
    pytest.param(call("ModelStatus", model_control_pb2.ModelStatusRequest()), id="ModelStatus-name-empty"),
    pytest.param(admin_call("ModelStatus", GARBAGE), id="ModelStatus-not-protobuf"),
    # LoadModel
    pytest.param(admin_call("LoadModel", Load(model="nope", version=1), "NOT_FOUND"), id="LoadModel-unknown-model"),
    pytest.param(admin_call("LoadModel", Load(model=MODEL, version=ABSENT_VERSION), "NOT_FOUND"),
                 id="LoadModel-version-not-on-disk"),
    pytest.param(admin_call("LoadModel", Load(model=MODEL, version=0)), id="LoadModel-version-0"),
    pytest.param(admin_call("LoadModel", Load(model=MODEL, version=-1)), id="LoadModel-negative-version"),
    pytest.param(admin_call("LoadModel", Load(model="", version=1)), id="LoadModel-name-empty"),
    pytest.param(admin_call("LoadModel", Load(model=f"../repository/{MODEL}", version=1), "NOT_FOUND"),
                 id="LoadModel-name-escaping-the-repository"),
    pytest.param(admin_call("LoadModel", Load(model=MODEL, version=BROKEN_VERSION)), id="LoadModel-version-that-fails"),
    pytest.param(admin_call("LoadModel", GARBAGE), id="LoadModel-not-protobuf"),
    # UnloadModel
    pytest.param(admin_call("UnloadModel", Unload(model="nope", version=1), "NOT_FOUND"), id="UnloadModel-unknown-model"),
    pytest.param(admin_call("UnloadModel", Unload(model=MODEL, version=BROKEN_VERSION), "NOT_FOUND"),
                 id="UnloadModel-version-not-loaded"),
    pytest.param(admin_call("UnloadModel", Unload(model=MODEL, version=0)), id="UnloadModel-version-0"),
    pytest.param(admin_call("UnloadModel", Unload(model="", version=1)), id="UnloadModel-name-empty"),
    pytest.param(admin_call("UnloadModel", GARBAGE), id="UnloadModel-not-protobuf"),
    # SetLabel
    pytest.param(admin_call("SetLabel", Label(model="nope", label="canary", version=1), "NOT_FOUND"),
                 id="SetLabel-unknown-model"),
    pytest.param(admin_call("SetLabel", Label(model="", label="canary", version=1)), id="SetLabel-name-empty"),
    pytest.param(admin_call("SetLabel", Label(model=MODEL, label="", version=1)), id="SetLabel-label-empty"),
    pytest.param(admin_call("SetLabel", Label(model=MODEL, label="has space", version=1)),
                 id="SetLabel-label-with-space"),
    pytest.param(admin_call("SetLabel", Label(model=MODEL, label="l" * 65, version=1)), id="SetLabel-label-of-65-chars"),
    pytest.param(admin_call("SetLabel", Label(model=MODEL, label="canary", version=1, weight=101)),
                 id="SetLabel-weight-over-100"),
    pytest.param(admin_call("SetLabel", Label(model=MODEL, label="canary", version=-1)), id="SetLabel-negative-version"),
    pytest.param(admin_call("SetLabel", Label(model=MODEL, label="canary", version=BROKEN_VERSION), "FAILED_PRECONDITION"),
                 id="SetLabel-version-not-loaded"),
    pytest.param(admin_call("SetLabel", GARBAGE), id="SetLabel-not-protobuf"),
    # Rollback
    pytest.param(admin_call("Rollback", Rollback(model="nope"), "NOT_FOUND"), id="Rollback-unknown-model"),
    pytest.param(admin_call("Rollback", Rollback()), id="Rollback-name-empty"),
    pytest.param(admin_call("Rollback", Rollback(model=MODEL), "FAILED_PRECONDITION"), id="Rollback-no-earlier-version"),
    pytest.param(admin_call("Rollback", GARBAGE), id="Rollback-not-protobuf"),
    # ScaleWorkers
    pytest.param(admin_call("ScaleWorkers", Scale(workers=-1)), id="ScaleWorkers-negative"),
    pytest.param(admin_call("ScaleWorkers", Scale(workers=257)), id="ScaleWorkers-over-256"),
    pytest.param(admin_call("ScaleWorkers", GARBAGE), id="ScaleWorkers-not-protobuf"),
    pytest.param(call("ScaleWorkers", Scale(workers=3), code="PERMISSION_DENIED"), id="ScaleWorkers-on-the-frontend"),
    # PushModel (the upload protocol's own faults are test_hot_swap's)
    pytest.param(admin_call("PushModel", GARBAGE), id="PushModel-not-protobuf"),
    pytest.param(admin_call("PushModel", opening(total_size=0)), id="PushModel-total-size-0"),
    pytest.param(admin_call("PushModel", opening(version=-3)), id="PushModel-negative-version"),
    pytest.param(admin_call("PushModel", opening(labels=["has space"])), id="PushModel-bad-label"),
    pytest.param(admin_call("PushModel", opening(offset=5, data=V1[5:]), "OUT_OF_RANGE"),
                 id="PushModel-opening-at-offset-5"),
]


@pytest.fixture(scope="module")
def malformed_target(tmp_path_factory):
    """A server over ctr version 1 and a broken version 7, with a bystander predicting for the whole module.

    Yields (server, repository, admin client, bystander, the listing every case must leave as it was).
    """
    repository = make_repository(tmp_path_factory.mktemp("malformed"), {1: V1})
    write_version(repository, BROKEN_VERSION, V1[: len(V1) // 2])
    with serve(repository) as server, AdminClient(server.admin) as admin, bystander(server, {1: V1}) as traffic:
        listing = admin.list_models()
        assert states(listing.models[0]) == {1: "AVAILABLE", BROKEN_VERSION: "FAILED"}
        yield server, repository, admin, traffic, listing


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_request_gets_its_status_and_harms_no_one(malformed_target, case):
    server, repository, admin, traffic, listing = malformed_target
    with connect(server.listen if case.endpoint == FRONTEND else server.admin, zmq.DEALER) as socket:
        socket.send_multipart(case.frames)
        reply = receive(socket)
    assert reply[:case.routing] == case.frames[:case.routing], "the routing frames did not come back"
    delimiter, status, response = reply[case.routing:]
    assert delimiter == b""
    assert_code(status_pb2.Status.FromString(status), case.code)
    if case.response:
        case.response(response)
    else:
        assert response == b""
    traffic.wait_for_replies(server)
    assert admin.list_models() == listing
    assert upload_files(repository) == []


def test_the_table_covers_every_rpc_with_at_least_50_kinds():
    """Every method of both services gets malformed requests, and the table holds at least 50 distinct kinds."""
    cases = [param.values[0] for param in MALFORMED]
    methods = {case.frames[case.routing + 1] for case in cases if len(case.frames) > case.routing + 1}
    assert {path.decode(errors="replace") for path in methods} >= set(METHODS.values())
    assert len({case.id for case in MALFORMED}) == len(MALFORMED) >= 50
