"""Limits with safe defaults, each a flag: rows and elements per input, models served, graph nodes and initializer
bytes of a model, uploads in flight. Each is answered RESOURCE_EXHAUSTED naming the limit, before anything the size
of the offender is set aside, and the server keeps serving everyone else."""

import hashlib
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import zserve_testing
from test_hot_swap import ctr_mlp
from zserve_client import AdminClient, Client, ZServeError
from zserve_testing import EXAMPLE_REPOSITORY, run_server

zserve_testing.skip_without_binary()

MODEL = "purchase_propensity"
MODEL_FILE = EXAMPLE_REPOSITORY / MODEL / "1" / "model.onnx"


def rows(count: int) -> dict:
    return {"features": np.ones((count, 8), dtype=np.float32)}


def identity_chain(nodes: int) -> bytes:
    """A model of `nodes` Identity nodes in a row on a float [N, 8] input."""
    names = ["features"] + [f"x{i}" for i in range(1, nodes)] + ["probability"]
    graph = helper.make_graph(
        [helper.make_node("Identity", [names[i]], [names[i + 1]]) for i in range(nodes)], "chain",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 8])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def refused(call) -> ZServeError:
    with pytest.raises(ZServeError) as error:
        call()
    assert error.value.code_name == "RESOURCE_EXHAUSTED", error.value
    return error.value


@pytest.fixture
def repository(tmp_path):
    copy = tmp_path / "repository"
    shutil.copytree(EXAMPLE_REPOSITORY, copy)
    return copy


def test_request_limits(repository):
    with run_server(repository, "--workers", "1", "--max-batch-rows", "4", "--max-tensor-elements", "24") as server, \
            Client(server.listen) as client:
        assert client.predict(MODEL, rows(3))[1]["probability"].shape == (3, 1)
        assert "over the --max-batch-rows limit of 4" in refused(lambda: client.predict(MODEL, rows(5))).message
        assert "32 elements, over the --max-tensor-elements limit of 24" in \
            refused(lambda: client.predict(MODEL, rows(4))).message
        assert client.predict(MODEL, rows(3))[0] == 1, "the server keeps serving"


def test_model_limits(repository):
    # The limit is the example model's own node count: it is still served, a chain one node longer is not.
    nodes = len(onnx.load(MODEL_FILE).graph.node)
    with run_server(repository, "--workers", "1", "--admin", "tcp://127.0.0.1:0", "--max-models", "1",
                    "--max-graph-nodes", str(nodes), "--max-uploads", "1") as server, \
            AdminClient(server.admin) as admin, Client(server.listen) as client:
        assert "--max-models limit" in refused(lambda: admin.push_model("second_model", MODEL_FILE.read_bytes())).message
        assert f"{nodes + 1} graph nodes, over the --max-graph-nodes limit of {nodes}" in \
            refused(lambda: admin.push_model(MODEL, identity_chain(nodes + 1))).message
        # One upload may be open; a second waits its turn.
        data = MODEL_FILE.read_bytes()
        opening = {"model": MODEL, "sha256": hashlib.sha256(data).digest(), "total_size": len(data), "offset": 0}
        first = admin.push_chunk(**opening)
        assert "uploads are already in progress" in refused(lambda: admin.push_chunk(**opening)).message
        admin.push_chunk(upload_id=first.upload_id, offset=0, data=data, commit=True)
        assert admin.push_model(MODEL, data)[0] == 3, "uploads open again once the first finished"
        assert client.predict(MODEL, rows(2))[0] == 3
        assert [model.name for model in client.list_models().models] == [MODEL]


def test_initializer_bytes_limit_and_models_on_disk_beyond_the_limit(repository):
    (repository / "big" / "1").mkdir(parents=True)
    (repository / "big" / "1" / "model.onnx").write_bytes(ctr_mlp(seed=2, hidden=256))  # 18 kB of weights
    (repository / "zz_over_limit" / "1").mkdir(parents=True)
    shutil.copy(MODEL_FILE, repository / "zz_over_limit" / "1" / "model.onnx")
    with run_server(repository, "--workers", "1", "--max-models", "2", "--max-initializer-bytes", "4096") as server, \
            Client(server.listen) as client:
        models = {model.name: model for model in client.list_models().models}
        assert set(models) == {"big", MODEL}, "the first two by name are served"
        assert "over the --max-initializer-bytes limit of 4096" in models["big"].versions[0].error
        assert client.predict(MODEL, rows(1))[0] == 1
        assert "more models on disk than --max-models" in server.log_tail()
