"""End-to-end tests of the model lifecycle (issue 4): pushes, hot swaps, labels, rollback, polling, version policy.

Every test runs `zserve serve` (path in ZSERVE_BIN) with an admin endpoint over a temporary repository of `ctr`
models built here with onnx.helper: x float32 [batch, 16] -> Gemm -> Relu -> Gemm -> Sigmoid -> probability
float32 [batch, 1], whose weights are drawn from a seed, so each version computes different outputs. Outputs are
checked against onnxruntime on the version the response names. Every receive has a timeout; waits for an event
poll with a generous timeout and assert nothing about how long it took.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import zserve_testing
from zserve_client import AdminClient, Client, PipelinedClient, ZServeError
from zserve_client.protos import model_control_pb2
from zserve_testing import run_server

zserve_testing.skip_without_binary()

MODEL = "ctr"
INPUT = "x"
OUTPUT = "probability"
FEATURES = 16
HIDDEN = 32
# A model of a few MB, so that an upload of it takes several chunks.
LARGE_HIDDEN = 65_536
LARGE_CHUNK_SIZE = 1 << 20
SMALL_CHUNK_SIZE = 1024
MAX_PUSH_SIZE = 1 << 20
SWAPS = 20
PIPELINE_DEPTH = 4
CANARY_REQUESTS = 2000
CANARY_WEIGHT = 30
CANARY_TOLERANCE = 0.05
REPLY_TIMEOUT_MS = 10_000
CLI_TIMEOUT_S = 120
WAIT_TIMEOUT_S = 30
WAIT_POLL_S = 0.05
THREAD_JOIN_TIMEOUT_S = 30
RTOL = 1e-4
ATOL = 1e-6
UPLOADS = ".zserve-uploads"
X = np.random.default_rng(0).standard_normal((4, FEATURES), dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------------------
# Models


def serialized_model(nodes, initializers: dict, output_shape=("batch", 1)) -> bytes:
    """An opset-13 model with input x float32 [batch, 16], the given output shape and float32 initializers."""
    graph = helper.make_graph(
        nodes, MODEL,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, list(output_shape))],
        [numpy_helper.from_array(array, name) for name, array in initializers.items()],
    )
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model.SerializeToString()


def ctr_weights(seed: int, hidden: int) -> dict:
    """The two Gemm layers' weights and biases, drawn from seed and scaled so the sigmoid does not saturate."""
    rng = np.random.default_rng(seed)
    return {
        "w1": rng.standard_normal((FEATURES, hidden), dtype=np.float32) / FEATURES ** 0.5,
        "b1": rng.standard_normal(hidden, dtype=np.float32),
        "w2": rng.standard_normal((hidden, 1), dtype=np.float32) / hidden ** 0.5,
        "b2": rng.standard_normal(1, dtype=np.float32),
    }


def ctr_mlp(seed: int, hidden: int = HIDDEN) -> bytes:
    """The CTR MLP: Gemm -> Relu -> Gemm -> Sigmoid, weights drawn from seed."""
    nodes = [
        helper.make_node("Gemm", [INPUT, "w1", "b1"], ["hidden"]),
        helper.make_node("Relu", ["hidden"], ["activated"]),
        helper.make_node("Gemm", ["activated", "w2", "b2"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], [OUTPUT]),
    ]
    return serialized_model(nodes, ctr_weights(seed, hidden))


def unsupported_operator_model() -> bytes:
    """A valid model that uses RandomUniformLike, an operator the runtime does not implement and is not meant to
    (random outputs cannot be reproduced; docs/operators.md lists what is missing and why)."""
    nodes = [
        helper.make_node("Gemm", [INPUT, "w", "b"], ["logit"]),
        helper.make_node("RandomUniformLike", ["logit"], [OUTPUT]),
    ]
    weights = ctr_weights(0, HIDDEN)
    return serialized_model(nodes, {"w": weights["w2"][:FEATURES], "b": weights["b2"]})


def failing_warmup_model() -> bytes:
    """A valid model that fails at run time: it reshapes [batch, 16] into [3, 7], which no batch size fits."""
    shape = np.array([3, 7], dtype=np.int64)
    nodes = [helper.make_node("Reshape", [INPUT, "shape"], [OUTPUT])]
    graph = helper.make_graph(
        nodes, MODEL,
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [3, 7])],
        [numpy_helper.from_array(shape, "shape")],
    )
    return helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def reference(model: bytes, x: np.ndarray = X) -> np.ndarray:
    """The model's output on x, computed by onnxruntime."""
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {INPUT: x})[0]


def sha256(data: bytes) -> bytes:
    """The SHA-256 digest of data, 32 raw bytes."""
    return hashlib.sha256(data).digest()


# ---------------------------------------------------------------------------------------------------------------------
# Repository and server state


def write_version(repository: Path, version: int, model: bytes, name: str = MODEL) -> None:
    """Writes <repository>/<name>/<version>/model.onnx."""
    directory = repository / name / str(version)
    directory.mkdir(parents=True)
    (directory / "model.onnx").write_bytes(model)


def make_repository(root: Path, versions: dict, config: dict | None = None) -> Path:
    """A repository under root holding MODEL at {version: model bytes}, with an optional config.json."""
    repository = root / "repository"
    for version, model in versions.items():
        write_version(repository, version, model)
    if config is not None:
        (repository / MODEL / "config.json").write_text(json.dumps(config))
    return repository


def tree(root: Path, skip: str = "") -> dict:
    """Every directory (size None) and file (its size) under root, by relative path, leaving out the folder skip."""
    listing = {}
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(folder for folder in folders if Path(directory, folder) != root / skip)
        for folder in folders:
            listing[os.path.relpath(Path(directory, folder), root)] = None
        for file in files:
            listing[os.path.relpath(Path(directory, file), root)] = Path(directory, file).stat().st_size
    return listing


def upload_files(repository: Path) -> list:
    """The files left in the repository's uploads folder (none when the folder is absent)."""
    return sorted(tree(repository / UPLOADS)) if (repository / UPLOADS).exists() else []


def states(info: model_control_pb2.ModelInfo) -> dict:
    """{version: state name without its prefix, e.g. "AVAILABLE"}."""
    return {status.version: model_control_pb2.VersionState.Name(status.state).removeprefix("VERSION_STATE_")
            for status in info.versions}


def wait_for(condition: Callable, what: str, server: zserve_testing.Server):
    """Polls condition until it returns something true, and returns that; fails the test after WAIT_TIMEOUT_S."""
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {what} after {WAIT_TIMEOUT_S} s\n{server.log_tail()}")
        time.sleep(WAIT_POLL_S)
    return result


def wait_for_states(admin: AdminClient, expected: dict, server: zserve_testing.Server) -> None:
    """Waits until MODEL's versions are in exactly the expected {version: state name}."""
    wait_for(lambda: states(admin.model_status(MODEL)) == expected, f"{MODEL} versions in states {expected}", server)


def assert_serves(client: Client, expected_version: int, model: bytes, **selector) -> None:
    """Asserts that a Predict (selector: an optional version or label) is computed by expected_version's model."""
    served, outputs = client.predict(MODEL, {INPUT: X}, **selector)
    assert served == expected_version
    np.testing.assert_allclose(outputs[OUTPUT], reference(model), rtol=RTOL, atol=ATOL)


def zserve(*args: str) -> subprocess.CompletedProcess:
    """Runs a zserve subcommand to completion, capturing its output."""
    return subprocess.run([os.environ["ZSERVE_BIN"], *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def zserve_json(*args: str):
    """Runs a zserve subcommand, asserts it succeeded and returns the JSON it printed."""
    result = zserve(*args)
    assert result.returncode == 0, f"zserve {' '.join(args)} exited with {result.returncode}:\n{result.stderr}"
    return json.loads(result.stdout)


def serve(repository: Path, *extra_args: str):
    """run_server with an admin endpoint and 2 workers."""
    return run_server(repository, "--admin", "tcp://127.0.0.1:0", "--workers", "2", *extra_args)


@contextlib.contextmanager
def clients(server: zserve_testing.Server):
    """A frontend Client and an AdminClient of the server."""
    with Client(server.listen, timeout_ms=REPLY_TIMEOUT_MS) as client, AdminClient(server.admin) as admin:
        yield client, admin


# ---------------------------------------------------------------------------------------------------------------------
# 1. Zero failed requests during 20 swaps


@dataclasses.dataclass
class Observed:
    """What one traffic thread saw: replies checked, the newest version so far, and every failure."""

    expected: dict
    replies: int = 0
    newest: int = 0
    failures: list = dataclasses.field(default_factory=list)

    def check(self, version: int, outputs: dict, newest_when_sent: int) -> None:
        """Checks one reply: no older than what the client had seen when it sent the request, outputs of its version."""
        if version < newest_when_sent:
            self.failures.append(f"version {version} after the client had seen {newest_when_sent}")
        elif version not in self.expected:
            self.failures.append(f"reply from version {version}, which was never pushed")
        elif not np.allclose(outputs[OUTPUT], self.expected[version], rtol=RTOL, atol=ATOL):
            self.failures.append(f"outputs of a reply naming version {version} are not that version's")
        self.replies += 1
        self.newest = max(self.newest, version)


def req_traffic(endpoint: str, observed: Observed, stop: threading.Event) -> None:
    """Predicts over a REQ Client, one request at a time, until stop is set."""
    with Client(endpoint, timeout_ms=REPLY_TIMEOUT_MS) as client:
        while not stop.is_set():
            newest = observed.newest
            try:
                version, outputs = client.predict(MODEL, {INPUT: X})
            except (ZServeError, TimeoutError) as error:
                observed.failures.append(repr(error))
                continue
            observed.check(version, outputs, newest)


def pipelined_traffic(endpoint: str, observed: Observed, stop: threading.Event) -> None:
    """Keeps PIPELINE_DEPTH Predicts in flight over a DEALER socket until stop is set, then drains the replies."""
    newest_when_sent = {}
    with PipelinedClient(endpoint, timeout_ms=REPLY_TIMEOUT_MS) as pipelined:
        while not stop.is_set() or newest_when_sent:
            while not stop.is_set() and len(newest_when_sent) < PIPELINE_DEPTH:
                newest_when_sent[pipelined.send_predict(MODEL, {INPUT: X})] = observed.newest
            try:
                request_id, (version, outputs) = pipelined.receive()
            except TimeoutError as error:
                observed.failures.append(f"timeout with {len(newest_when_sent)} outstanding: {error!r}")
                return
            except ZServeError as error:
                newest_when_sent.pop(error.request_id, None)
                observed.failures.append(repr(error))
                continue
            observed.check(version, outputs, newest_when_sent.pop(request_id))


def start_traffic(body: Callable, endpoint: str, observed: Observed, stop: threading.Event) -> threading.Thread:
    """Runs a traffic function in a thread; an exception that ends it is recorded as a failure."""
    def run():
        try:
            body(endpoint, observed, stop)
        except Exception as error:  # any crash, so that the test reports it instead of waiting
            observed.failures.append(f"{body.__name__} ended: {error!r}")

    thread = threading.Thread(target=run, name=body.__name__, daemon=True)
    thread.start()
    return thread


def push_with_cli(server: zserve_testing.Server, model: bytes, path: Path) -> int:
    """Pushes with `zserve push` in small chunks; checks what it prints and returns the version assigned."""
    path.write_bytes(model)
    printed = zserve_json("push", "--endpoint", server.admin, "--model", MODEL, str(path),
                          "--chunk-size", str(SMALL_CHUNK_SIZE))
    assert printed == {"model": MODEL, "version": printed["version"], "state": "AVAILABLE", "bytes": len(model),
                       "sha256": hashlib.sha256(model).hexdigest()}
    return printed["version"]


def push_with_client(admin: AdminClient, model: bytes) -> int:
    """Pushes with the AdminClient in small chunks; checks the state and returns the version assigned."""
    version, state = admin.push_model(MODEL, model, chunk_size=SMALL_CHUNK_SIZE)
    assert state == model_control_pb2.VERSION_STATE_AVAILABLE
    return version


def test_twenty_swaps_under_traffic_fail_no_request(tmp_path):
    models = {version: ctr_mlp(seed=version) for version in range(1, SWAPS + 2)}
    expected = {version: reference(model) for version, model in models.items()}
    repository = make_repository(tmp_path, {1: models[1]})
    stop = threading.Event()
    observed = {body: Observed(expected) for body in (req_traffic, pipelined_traffic)}
    with serve(repository) as server, clients(server) as (client, admin):
        threads = [start_traffic(body, server.listen, seen, stop) for body, seen in observed.items()]
        try:
            for version in range(2, SWAPS + 2):
                pushed = (push_with_cli(server, models[version], tmp_path / f"v{version}.onnx") if version % 2
                          else push_with_client(admin, models[version]))
                assert pushed == version
                wait_for(lambda: all(seen.newest >= version or seen.failures for seen in observed.values()),
                         f"both clients to be served by version {version}", server)
        finally:
            stop.set()
            for thread in threads:
                thread.join(THREAD_JOIN_TIMEOUT_S)
        assert not any(thread.is_alive() for thread in threads), "a traffic thread did not finish"
        for body, seen in observed.items():
            assert seen.failures == [], f"{body.__name__}: {seen.replies} replies, failures: {seen.failures[:10]}"
            assert seen.newest == SWAPS + 1
        assert_serves(client, SWAPS + 1, models[SWAPS + 1])


# ---------------------------------------------------------------------------------------------------------------------
# 2. Bad pushes are refused and change nothing


GOOD_MODEL = ctr_mlp(seed=99)
HALF = len(GOOD_MODEL) // 2


def open_upload(admin: AdminClient, **overrides) -> model_control_pb2.PushModelResponse:
    """Opens an upload of GOOD_MODEL for MODEL (no data unless overridden); returns the server's response."""
    fields = {"model": MODEL, "sha256": sha256(GOOD_MODEL), "total_size": len(GOOD_MODEL), "offset": 0}
    return admin.push_chunk(**(fields | overrides))


def half_uploaded(admin: AdminClient) -> str:
    """Opens an upload of GOOD_MODEL carrying its first half; returns the upload id."""
    return open_upload(admin, data=GOOD_MODEL[:HALF]).upload_id


@dataclasses.dataclass(frozen=True)
class BadPush:
    """A push that must be refused: the calls it makes, the code, a word the message must name.

    An upload refused at a chunk whose offset is wrong may stay open (the client may resume it), so its file may
    remain in the uploads folder; any other refused push leaves no new file there.
    """

    calls: Callable
    code: str
    mentions: str = ""
    may_stay_open: bool = False


def bad_name(name: str) -> BadPush:
    """A push of GOOD_MODEL under a model name that is not a plain name."""
    return BadPush(lambda admin: admin.push_model(name, GOOD_MODEL), "INVALID_ARGUMENT")


BAD_PUSHES = [
    pytest.param(BadPush(lambda admin: open_upload(admin, sha256=sha256(b"other"), data=GOOD_MODEL, commit=True),
                         "DATA_LOSS"), id="checksum-mismatch"),
    pytest.param(BadPush(lambda admin: admin.push_chunk(upload_id=half_uploaded(admin), offset=HALF, commit=True),
                         "DATA_LOSS"), id="truncated-transfer"),
    pytest.param(BadPush(lambda admin: admin.push_chunk(upload_id=half_uploaded(admin), offset=HALF + 1,
                                                        data=GOOD_MODEL[HALF + 1:]),
                         "OUT_OF_RANGE", may_stay_open=True), id="chunk-after-a-gap"),
    pytest.param(BadPush(lambda admin: admin.push_chunk(upload_id=half_uploaded(admin), offset=0, data=GOOD_MODEL),
                         "OUT_OF_RANGE", may_stay_open=True), id="chunk-rewinding"),
    pytest.param(BadPush(lambda admin: admin.push_chunk(upload_id=half_uploaded(admin), offset=HALF,
                                                        data=GOOD_MODEL[HALF:] + b"\0"),
                         "OUT_OF_RANGE", may_stay_open=True), id="chunk-past-total-size"),
    pytest.param(BadPush(lambda admin: admin.push_chunk(upload_id="no-such-upload", offset=0, data=GOOD_MODEL),
                         "NOT_FOUND"), id="unknown-upload-id"),
    pytest.param(BadPush(lambda admin: open_upload(admin, total_size=MAX_PUSH_SIZE + 1), "RESOURCE_EXHAUSTED"),
                 id="over-max-push-size"),
    pytest.param(BadPush(lambda admin: admin.push_model(MODEL, b"not an ONNX model\n" * 64), "INVALID_ARGUMENT"),
                 id="not-onnx"),
    pytest.param(BadPush(lambda admin: admin.push_model(MODEL, unsupported_operator_model()), "INVALID_ARGUMENT",
                         mentions="RandomUniformLike"), id="unsupported-operator"),
    pytest.param(BadPush(lambda admin: admin.push_model(
        MODEL, GOOD_MODEL, warmup_inputs={INPUT: np.zeros((2, FEATURES - 1), np.float32)}), "INVALID_ARGUMENT"),
        id="warmup-input-of-wrong-shape"),
    pytest.param(BadPush(lambda admin: admin.push_model(
        MODEL, GOOD_MODEL, warmup_inputs={INPUT: np.zeros((2, FEATURES), np.int64)}), "INVALID_ARGUMENT"),
        id="warmup-input-of-wrong-dtype"),
    pytest.param(BadPush(lambda admin: admin.push_model(
        MODEL, GOOD_MODEL, warmup_inputs={"y": np.zeros((2, FEATURES), np.float32)}), "INVALID_ARGUMENT"),
        id="warmup-input-of-unknown-name"),
    pytest.param(BadPush(lambda admin: admin.push_model(MODEL, failing_warmup_model()), "INVALID_ARGUMENT"),
                 id="warmup-fails-on-generated-inputs"),
    pytest.param(BadPush(lambda admin: admin.push_model(MODEL, GOOD_MODEL, version=1), "ALREADY_EXISTS"),
                 id="version-exists"),
    pytest.param(BadPush(lambda admin: open_upload(admin, sha256=sha256(GOOD_MODEL)[:16], data=GOOD_MODEL,
                                                   commit=True), "INVALID_ARGUMENT"), id="sha256-of-16-bytes"),
    pytest.param(bad_name(""), id="name-empty"),
    pytest.param(bad_name("../x"), id="name-parent"),
    pytest.param(bad_name("/abs"), id="name-absolute"),
    pytest.param(bad_name("a/b"), id="name-with-slash"),
    pytest.param(bad_name("a" * 129), id="name-of-129-chars"),
    pytest.param(bad_name(".hidden"), id="name-starting-with-dot"),
    pytest.param(bad_name("has space"), id="name-with-space"),
    pytest.param(bad_name("semi;colon"), id="name-with-semicolon"),
    pytest.param(bad_name("caf\u00e9"), id="name-not-ascii"),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A server for the module over a repository holding MODEL version 1, with a 1 MiB push limit.

    Yields (server, repository).
    """
    repository = make_repository(tmp_path_factory.mktemp("shared"), {1: ctr_mlp(seed=1)})
    with serve(repository, "--max-push-size", str(MAX_PUSH_SIZE)) as server:
        yield server, repository


@pytest.mark.parametrize("bad", BAD_PUSHES)
def test_bad_push_is_refused_and_changes_nothing(shared, bad):
    server, repository = shared
    with clients(server) as (client, admin):
        tree_before, listing_before = tree(repository, skip=UPLOADS), admin.list_models()
        uploads_before = set(upload_files(repository))
        with pytest.raises(ZServeError) as refused:
            bad.calls(admin)
        assert refused.value.code_name == bad.code, refused.value.message
        assert bad.mentions in refused.value.message
        assert tree(repository, skip=UPLOADS) == tree_before
        assert bad.may_stay_open or set(upload_files(repository)) <= uploads_before
        assert_only_failed_push_shown(listing_before, admin.list_models(), refused.value.message)
        assert_serves(client, 1, ctr_mlp(seed=1))


def assert_only_failed_push_shown(before, after, reason: str) -> None:
    """Nothing served changed; a push refused while loading shows its version FAILED with the reason."""
    def states(listing):
        return {(model.name, version.version): (version.state, version.error)
                for model in listing.models for version in model.versions}

    def served(listing):
        return [(model.name, model.default_version, [(label.name, label.version, label.weight) for label in model.labels])
                for model in listing.models]

    assert served(after) == served(before)
    old, new = states(before), states(after)
    for key, (state, error) in new.items():
        if old.get(key, (None, None))[0] != state or (state == model_control_pb2.VERSION_STATE_FAILED and key not in old):
            assert state == model_control_pb2.VERSION_STATE_FAILED, f"{key} became {state}"
            assert error == reason, f"{key} failed with {error!r}, the push was refused with {reason!r}"
    assert set(old) <= set(new)


@pytest.mark.parametrize("name", ["a" * 128, "Ab-c_9.x"], ids=["name-of-128-chars", "name-of-every-class"])
def test_plain_names_are_accepted(shared, name):
    server, repository = shared
    with clients(server) as (client, admin):
        assert admin.push_model(name, GOOD_MODEL) == (1, model_control_pb2.VERSION_STATE_AVAILABLE)
        assert (repository / name / "1" / "model.onnx").read_bytes() == GOOD_MODEL
        version, outputs = client.predict(name, {INPUT: X})
    assert version == 1
    np.testing.assert_allclose(outputs[OUTPUT], reference(GOOD_MODEL), rtol=RTOL, atol=ATOL)


def test_metadata_is_stored_next_to_the_version(tmp_path):
    repository = make_repository(tmp_path, {1: ctr_mlp(seed=1)})
    with serve(repository) as server, clients(server) as (_, admin):
        assert admin.push_model(MODEL, ctr_mlp(seed=2), metadata={"trainer": "nightly", "auc": "0.81"})[0] == 2
    assert json.loads((repository / MODEL / "2" / "metadata.json").read_text()) == {"trainer": "nightly",
                                                                                    "auc": "0.81"}


# ---------------------------------------------------------------------------------------------------------------------
# 3. SIGKILL mid-push


def push_all_but_commit(admin: AdminClient, model: bytes) -> tuple:
    """Uploads all of model but its last chunk; returns (upload id, the last chunk's offset)."""
    upload_id, offset = "", 0
    while len(model) - offset > LARGE_CHUNK_SIZE:
        opening = {} if upload_id else {"model": MODEL, "sha256": sha256(model), "total_size": len(model)}
        response = admin.push_chunk(upload_id=upload_id, offset=offset,
                                    data=model[offset:offset + LARGE_CHUNK_SIZE], **opening)
        upload_id, offset = response.upload_id, response.received
    return upload_id, offset


def kill_mid_upload(server: zserve_testing.Server, repository: Path, model: bytes) -> None:
    """Uploads all of model but its last chunk, checks the partial upload is on disk, and kills the server."""
    with AdminClient(server.admin) as admin:
        push_all_but_commit(admin, model)
    assert upload_files(repository), f"no upload in progress under {repository / UPLOADS}"
    server.kill()


def kill_during_commit(server: zserve_testing.Server, _repository: Path, model: bytes) -> None:
    """Uploads model, sends the committing chunk and kills the server without waiting for it to finish."""
    with AdminClient(server.admin) as admin:
        upload_id, offset = push_all_but_commit(admin, model)
        admin.timeout_ms = 50
        with contextlib.suppress(TimeoutError):
            admin.push_chunk(upload_id=upload_id, offset=offset, data=model[offset:], commit=True)
    server.kill()


def assert_complete_versions(repository: Path, models: dict) -> None:
    """Asserts every version directory of MODEL holds exactly one of the complete models, under its version."""
    for entry in os.listdir(repository / MODEL):
        if entry.isdigit():
            assert os.listdir(repository / MODEL / entry) == ["model.onnx"]
            assert (repository / MODEL / entry / "model.onnx").read_bytes() == models[int(entry)]


def assert_no_temporaries(repository: Path) -> None:
    """Asserts the repository holds MODEL's versions and serving.json only, the uploads folder being empty if any."""
    assert set(os.listdir(repository)) <= {MODEL, UPLOADS}
    assert upload_files(repository) == []
    for entry in os.listdir(repository / MODEL):
        assert entry.isdigit() or entry == "serving.json", f"left behind: {repository / MODEL / entry}"


@pytest.mark.parametrize("kill", [kill_mid_upload, kill_during_commit], ids=["mid-upload", "during-commit"])
def test_sigkill_mid_push_leaves_complete_versions_only(tmp_path, kill):
    models = {1: ctr_mlp(seed=1), 2: ctr_mlp(seed=2, hidden=LARGE_HIDDEN)}
    repository = make_repository(tmp_path, {1: models[1]})
    with serve(repository) as server:
        kill(server, repository, models[2])
    assert_complete_versions(repository, models)
    with serve(repository) as server, clients(server) as (client, admin):
        assert_no_temporaries(repository)
        assert_complete_versions(repository, models)
        newest = 2 if (repository / MODEL / "2").exists() else 1
        assert admin.model_status(MODEL).default_version == newest
        assert states(admin.model_status(MODEL))[newest] == "AVAILABLE"
        assert_serves(client, newest, models[newest])


# ---------------------------------------------------------------------------------------------------------------------
# 4. Canary split


def predict_each(endpoint: str, request_ids: list) -> dict:
    """Predicts once per request id, PIPELINE_DEPTH * 8 at a time; returns {request id: (version, outputs)}."""
    results = {}
    window = PIPELINE_DEPTH * 8
    with PipelinedClient(endpoint, timeout_ms=REPLY_TIMEOUT_MS) as pipelined:
        for start in range(0, len(request_ids), window):
            sent = [pipelined.send_predict(MODEL, {INPUT: X}, request_id=request_id)
                    for request_id in request_ids[start:start + window]]
            results |= pipelined.gather(sent)
    failures = {request_id: result for request_id, result in results.items() if isinstance(result, ZServeError)}
    assert failures == {}
    return results


def test_canary_label_takes_its_weight_of_unpinned_traffic(tmp_path):
    models = {1: ctr_mlp(seed=1), 2: ctr_mlp(seed=2)}
    expected = {version: reference(model) for version, model in models.items()}
    repository = make_repository(tmp_path, models, config={"version_policy": {"all": True}})
    with serve(repository, "--canary-seed", "1234") as server, clients(server) as (client, admin):
        rolled_back = admin.rollback(MODEL)
        assert (rolled_back.from_version, rolled_back.to_version) == (2, 1)
        result = zserve("label", "--endpoint", server.admin, "--model", MODEL, "--label", "canary", "--version", "2",
                        "--weight", str(CANARY_WEIGHT))
        assert result.returncode == 0, result.stderr
        [listed] = zserve_json("models", "--endpoint", server.listen)
        assert (listed["name"], listed["default_version"]) == (MODEL, 1)
        assert listed["labels"] == [{"name": "canary", "version": 2, "weight": CANARY_WEIGHT}]

        request_ids = [f"canary-{i}" for i in range(CANARY_REQUESTS)]
        first = predict_each(server.listen, request_ids)
        again = predict_each(server.listen, request_ids)
        assert_serves(client, 2, models[2], label="canary")
    for version, outputs in first.values():
        np.testing.assert_allclose(outputs[OUTPUT], expected[version], rtol=RTOL, atol=ATOL)
    versions = {request_id: version for request_id, (version, _) in first.items()}
    assert set(versions.values()) == {1, 2}
    share = sum(version == 2 for version in versions.values()) / CANARY_REQUESTS
    assert abs(share - CANARY_WEIGHT / 100) <= CANARY_TOLERANCE, f"canary share {share:.3f}"
    assert {request_id: version for request_id, (version, _) in again.items()} == versions


# ---------------------------------------------------------------------------------------------------------------------
# 5. Rollback


def rollback_with_client(server: zserve_testing.Server) -> tuple:
    """Rolls MODEL back with the AdminClient; returns (from version, to version)."""
    with AdminClient(server.admin) as admin:
        response = admin.rollback(MODEL)
    assert response.model.default_version == response.to_version
    return response.from_version, response.to_version


def rollback_with_cli(server: zserve_testing.Server) -> tuple:
    """Rolls MODEL back with `zserve rollback`; returns (from version, to version) as printed."""
    printed = zserve_json("rollback", "--endpoint", server.admin, "--model", MODEL)
    assert printed["model"] == MODEL
    return printed["from_version"], printed["to_version"]


@pytest.mark.parametrize("rollback", [rollback_with_client, rollback_with_cli], ids=["admin-client", "cli"])
def test_rollback_restores_the_previous_version(tmp_path, rollback):
    models = {1: ctr_mlp(seed=1), 2: ctr_mlp(seed=2)}
    repository = make_repository(tmp_path, {1: models[1]})
    with serve(repository) as server, clients(server) as (client, admin):
        assert admin.push_model(MODEL, models[2]) == (2, model_control_pb2.VERSION_STATE_AVAILABLE)
        assert admin.model_status(MODEL).default_version == 2
        assert_serves(client, 2, models[2])
        wait_for(lambda: states(admin.model_status(MODEL))[1] == "END", "version 1 unloaded (latest 1)", server)

        assert rollback(server) == (2, 1)
        status = admin.model_status(MODEL)
        assert status.default_version == 1 and states(status)[1] == "AVAILABLE"
        assert_serves(client, 1, models[1])


# ---------------------------------------------------------------------------------------------------------------------
# 6. Versions dropped into the repository by other tools


def drop_version(repository: Path, version: int, model: bytes) -> None:
    """Writes a version directory next to the repository, then renames it into place, as rsync or CI would."""
    staging = repository.parent / f"staging-{version}"
    (staging / "model.onnx").parent.mkdir()
    (staging / "model.onnx").write_bytes(model)
    os.rename(staging, repository / MODEL / str(version))


def test_versions_dropped_into_the_repository_are_polled(tmp_path):
    models = {1: ctr_mlp(seed=1), 2: ctr_mlp(seed=2)}
    repository = make_repository(tmp_path, {1: models[1]})
    with serve(repository, "--poll-interval", "0.2") as server, clients(server) as (client, admin):
        drop_version(repository, 2, models[2])
        wait_for(lambda: admin.model_status(MODEL).default_version == 2, "dropped version 2 to serve", server)
        assert states(admin.model_status(MODEL))[2] == "AVAILABLE"
        assert_serves(client, 2, models[2])

        truncated = ctr_mlp(seed=3)
        drop_version(repository, 3, truncated[:len(truncated) // 2])
        wait_for(lambda: states(admin.model_status(MODEL)).get(3) not in (None, "LOADING"),
                 "truncated version 3 to be loaded or refused", server)
        [failed] = [status for status in admin.model_status(MODEL).versions if status.version == 3]
        assert failed.state == model_control_pb2.VERSION_STATE_FAILED and failed.error
        assert admin.model_status(MODEL).default_version == 2
        assert_serves(client, 2, models[2])


# ---------------------------------------------------------------------------------------------------------------------
# 7. Version policy, load and unload


def test_latest_two_policy_keeps_labelled_versions(tmp_path):
    models = {version: ctr_mlp(seed=version) for version in range(1, 5)}
    repository = make_repository(tmp_path, {1: models[1]}, config={"version_policy": {"latest": 2}})
    with serve(repository) as server, clients(server) as (client, admin):
        admin.push_model(MODEL, models[2])
        admin.push_model(MODEL, models[3])
        wait_for_states(admin, {1: "END", 2: "AVAILABLE", 3: "AVAILABLE"}, server)

        admin.set_label(MODEL, "stable", 2)
        admin.push_model(MODEL, models[4])
        wait_for_states(admin, {1: "END", 2: "AVAILABLE", 3: "AVAILABLE", 4: "AVAILABLE"}, server)
        assert_serves(client, 2, models[2], label="stable")
        assert_serves(client, 4, models[4])


def test_load_and_unload_a_version(tmp_path):
    models = {1: ctr_mlp(seed=1), 2: ctr_mlp(seed=2)}
    repository = make_repository(tmp_path, {1: models[1]})
    with serve(repository) as server, clients(server) as (client, admin):
        admin.push_model(MODEL, models[2])
        wait_for_states(admin, {1: "END", 2: "AVAILABLE"}, server)

        result = zserve("load", "--endpoint", server.admin, "--model", MODEL, "--version", "1")
        assert result.returncode == 0, result.stderr
        assert states(admin.model_status(MODEL)) == {1: "AVAILABLE", 2: "AVAILABLE"}
        assert_serves(client, 1, models[1], version=1)
        assert_serves(client, 2, models[2])

        admin.unload_model(MODEL, 1)
        wait_for_states(admin, {1: "END", 2: "AVAILABLE"}, server)
        assert (repository / MODEL / "1" / "model.onnx").read_bytes() == models[1]
        assert_serves(client, 2, models[2])


# ---------------------------------------------------------------------------------------------------------------------
# 8. Mutating methods on the frontend


MUTATIONS = [
    pytest.param(lambda frontend: open_upload(frontend, data=GOOD_MODEL, commit=True), id="PushModel"),
    pytest.param(lambda frontend: frontend.load_model(MODEL, 1), id="LoadModel"),
    pytest.param(lambda frontend: frontend.unload_model(MODEL, 1), id="UnloadModel"),
    pytest.param(lambda frontend: frontend.set_label(MODEL, "canary", 1, 50), id="SetLabel"),
    pytest.param(lambda frontend: frontend.rollback(MODEL), id="Rollback"),
]


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_mutating_method_on_the_frontend_is_denied(shared, mutation):
    server, repository = shared
    with clients(server) as (client, admin), AdminClient(server.listen) as frontend:
        tree_before, listing_before = tree(repository, skip=UPLOADS), admin.list_models()
        with pytest.raises(ZServeError) as denied:
            mutation(frontend)
        assert denied.value.code_name == "PERMISSION_DENIED", denied.value.message
        assert frontend.model_status(MODEL) == admin.model_status(MODEL)
        assert tree(repository, skip=UPLOADS) == tree_before
        assert admin.list_models() == listing_before
        assert_serves(client, 1, ctr_mlp(seed=1))
