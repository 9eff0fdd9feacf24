#!/usr/bin/env python3
"""Builds small ONNX test models and their onnxruntime reference outputs.

Every model uses only operators the ZServe runtime supports (docs/operators.md): single-operator models of the core
operators (Gemm, MatMul, element-wise arithmetic, activations, Softmax, shape operators), small whole models, and the
e-commerce model zoo `zoo_*` (CTR MLP, two-tower retrieval with TopK, the seed article's CNN, a GRU session model, a
Transformer block) that `Benchmarks/runtime_vs_onnxruntime.py` also times. For each model `NAME` this writes

    <out>/repository/NAME/1/model.onnx                       a ZServe model repository
    <out>/reference/NAME/model.onnx                          the same model
    <out>/reference/NAME/test_data_set_0/input_<i>.pb        one TensorProto per graph input, in graph order
    <out>/reference/NAME/test_data_set_0/output_<i>.pb       one TensorProto per graph output, from onnxruntime

The reference layout is the one of ONNX's backend node tests (onnx/backend/test/data/node/*). Inputs are random but
deterministic: each model draws from its own generator, seeded from its name.

Usage: make_test_models.py [--out DIR] [--only PREFIX]
    --out     default: .fixtures under the repository root
    --only    build only the models whose names start with PREFIX (e.g. zoo_)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = Path(__file__).resolve().parent.parent
FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64

Feeds = dict[str, np.ndarray]
Builder = Callable[[np.random.Generator], tuple[onnx.ModelProto, Feeds]]

BUILDERS: dict[str, Builder] = {}


def register(builder: Builder) -> Builder:
    """Registers a model builder; the model is named after the function."""
    BUILDERS[builder.__name__] = builder
    return builder


# ---------------------------------------------------------------------------------------------------------------------
# Building blocks


def randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Standard-normal float32 values of the given shape."""
    return rng.standard_normal(shape).astype(np.float32)


def randint(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Small signed int64 values of the given shape."""
    return rng.integers(-20, 21, size=shape, dtype=np.int64)


def raw(name: str, array: np.ndarray) -> TensorProto:
    """An initializer stored in `raw_data`."""
    return numpy_helper.from_array(array, name)


def typed(name: str, array: np.ndarray) -> TensorProto:
    """An initializer stored in the typed field (`float_data`, `int64_data`)."""
    data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
    return helper.make_tensor(name, data_type, array.shape, array.flatten().tolist(), raw=False)


def graph_input(name: str, array: np.ndarray, symbolic_batch: bool) -> onnx.ValueInfoProto:
    """The graph input that `array` feeds; its first dimension is named "batch" when `symbolic_batch` is set."""
    shape: list[int | str] = list(array.shape)
    if symbolic_batch:
        shape[0] = "batch"
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(array.dtype), shape)


def build(
    nodes: Sequence[onnx.NodeProto],
    feeds: Feeds,
    outputs: Sequence[str],
    initializers: Sequence[TensorProto] = (),
    opset: int = 13,
    symbolic_batch: bool = False,
) -> tuple[onnx.ModelProto, Feeds]:
    """Assembles a model whose graph inputs are `feeds` (in order) and returns it with its feeds.

    Output types and shapes come from ONNX shape inference (strict), so a malformed graph fails here.
    """
    graph = helper.make_graph(
        list(nodes),
        "test_graph",
        [graph_input(name, array, symbolic_batch) for name, array in feeds.items()],
        [helper.make_tensor_value_info(name, TensorProto.UNDEFINED, None) for name in outputs],
        list(initializers),
    )
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", opset)])
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    model.graph.ClearField("output")
    model.graph.output.extend(inferred.graph.output)
    onnx.checker.check_model(model, full_check=True)
    return model, feeds


# ---------------------------------------------------------------------------------------------------------------------
# Gemm


@register
def gemm_no_bias(rng):
    """Gemm with both operands as graph inputs and C absent."""
    return build([helper.make_node("Gemm", ["a", "b"], ["y"])], {"a": randn(rng, 6, 10), "b": randn(rng, 10, 5)}, ["y"])


@register
def gemm_alpha_beta_scalar_bias(rng):
    """Gemm with alpha, negative beta and a 0-d C."""
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=0.25, beta=-1.5)
    inits = [raw("b", randn(rng, 7, 3)), raw("c", np.array(0.75, dtype=np.float32))]
    return build([node], {"a": randn(rng, 4, 7)}, ["y"], inits)


@register
def gemm_transb_bias_row(rng):
    """Gemm with transB and C of shape [N] (raw initializers), as a linear layer."""
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
    inits = [raw("w", randn(rng, 8, 16)), raw("b", randn(rng, 8))]
    return build([node], {"x": randn(rng, 5, 16)}, ["y"], inits, opset=17)


@register
def gemm_transa_bias_col(rng):
    """Gemm with transA and C of shape [M, 1] (initializers in float_data)."""
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1)
    inits = [typed("b", randn(rng, 9, 6)), typed("c", randn(rng, 4, 1))]
    return build([node], {"a": randn(rng, 9, 4)}, ["y"], inits)


@register
def gemm_transab_bias_full(rng):
    """Gemm with transA, transB, alpha, beta and a full [M, N] C, all three as graph inputs."""
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1, alpha=1.5, beta=0.5)
    feeds = {"a": randn(rng, 7, 3), "b": randn(rng, 5, 7), "c": randn(rng, 3, 5)}
    return build([node], feeds, ["y"], opset=21)


# ---------------------------------------------------------------------------------------------------------------------
# MatMul


@register
def matmul_2d(rng):
    """MatMul of two matrices."""
    feeds = {"a": randn(rng, 32, 64), "b": randn(rng, 64, 16)}
    return build([helper.make_node("MatMul", ["a", "b"], ["y"])], feeds, ["y"])


@register
def matmul_batched_3d(rng):
    """MatMul of two stacks of matrices with equal batch dimensions."""
    feeds = {"a": randn(rng, 3, 4, 5), "b": randn(rng, 3, 5, 6)}
    return build([helper.make_node("MatMul", ["a", "b"], ["y"])], feeds, ["y"])


@register
def matmul_broadcast_batch(rng):
    """MatMul broadcasting batch dimensions: [2, 1, 3, 4] x [5, 4, 6] -> [2, 5, 3, 6]."""
    feeds = {"a": randn(rng, 2, 1, 3, 4), "b": randn(rng, 5, 4, 6)}
    return build([helper.make_node("MatMul", ["a", "b"], ["y"])], feeds, ["y"], opset=17)


@register
def matmul_1d_left(rng):
    """MatMul with a 1-D left operand (prepended 1 removed): [4] x [2, 4, 3] -> [2, 3]."""
    feeds = {"a": randn(rng, 4), "b": randn(rng, 2, 4, 3)}
    return build([helper.make_node("MatMul", ["a", "b"], ["y"])], feeds, ["y"])


@register
def matmul_1d_right(rng):
    """MatMul with a 1-D right operand (an initializer, appended 1 removed): [2, 3, 4] x [4] -> [2, 3]."""
    node = helper.make_node("MatMul", ["a", "w"], ["y"])
    return build([node], {"a": randn(rng, 2, 3, 4)}, ["y"], [raw("w", randn(rng, 4))])


# ---------------------------------------------------------------------------------------------------------------------
# Element-wise arithmetic


@register
def add_broadcast(rng):
    """Add with multidirectional broadcasting: [2, 1, 4] + [3, 1] -> [2, 3, 4]."""
    feeds = {"a": randn(rng, 2, 1, 4), "b": randn(rng, 3, 1)}
    return build([helper.make_node("Add", ["a", "b"], ["y"])], feeds, ["y"], opset=14)


@register
def sub_broadcast_scalar(rng):
    """Sub with a 0-d initializer on either side: x - c and c - x."""
    nodes = [helper.make_node("Sub", ["x", "c"], ["x_minus_c"]), helper.make_node("Sub", ["c", "x"], ["c_minus_x"])]
    inits = [raw("c", np.array(1.25, dtype=np.float32))]
    return build(nodes, {"x": randn(rng, 3, 4)}, ["x_minus_c", "c_minus_x"], inits, opset=14)


@register
def mul_broadcast(rng):
    """Mul where both operands broadcast: [4, 1, 5] * [1, 3, 1] -> [4, 3, 5]."""
    feeds = {"a": randn(rng, 4, 1, 5), "b": randn(rng, 1, 3, 1)}
    return build([helper.make_node("Mul", ["a", "b"], ["y"])], feeds, ["y"])


@register
def div_broadcast(rng):
    """Div by a broadcast divisor kept away from zero: [2, 3, 4] / [3, 1]."""
    divisor = (rng.uniform(0.5, 2.0, size=(3, 1)) * rng.choice([-1.0, 1.0], size=(3, 1))).astype(np.float32)
    feeds = {"a": randn(rng, 2, 3, 4), "b": divisor}
    return build([helper.make_node("Div", ["a", "b"], ["y"])], feeds, ["y"], opset=14)


@register
def add_int64_broadcast(rng):
    """Add of int64 tensors: [3, 4] + [4]."""
    feeds = {"a": randint(rng, 3, 4), "b": randint(rng, 4)}
    return build([helper.make_node("Add", ["a", "b"], ["y"])], feeds, ["y"], opset=14)


@register
def mul_int64_initializer(rng):
    """Mul of an int64 input by an int64 initializer in int64_data: [2, 1, 3] * [4, 1] -> [2, 4, 3]."""
    node = helper.make_node("Mul", ["a", "w"], ["y"])
    return build([node], {"a": randint(rng, 2, 1, 3)}, ["y"], [typed("w", randint(rng, 4, 1))])


# ---------------------------------------------------------------------------------------------------------------------
# Activations and Softmax


@register
def activations_relu_sigmoid_tanh(rng):
    """Relu, Sigmoid and Tanh of the same input, one output each."""
    nodes = [helper.make_node(op, ["x"], [op.lower()]) for op in ("Relu", "Sigmoid", "Tanh")]
    return build(nodes, {"x": 3 * randn(rng, 4, 8)}, ["relu", "sigmoid", "tanh"], opset=14)


@register
def softmax_opset13_axes(rng):
    """Softmax (opset 13 semantics: one axis) along axis -1 and along axis 1 of a 3-D input."""
    nodes = [
        helper.make_node("Softmax", ["x"], ["y_last"], axis=-1),
        helper.make_node("Softmax", ["x"], ["y_axis1"], axis=1),
    ]
    return build(nodes, {"x": 2 * randn(rng, 2, 3, 5)}, ["y_last", "y_axis1"])


@register
def softmax_opset11_flatten(rng):
    """Softmax (opset 11: input coerced to 2-D at `axis`) with the default axis, axis=1 and axis=2 on a 4-D input."""
    nodes = [
        helper.make_node("Softmax", ["x"], ["y_default"]),
        helper.make_node("Softmax", ["x"], ["y_axis1"], axis=1),
        helper.make_node("Softmax", ["x"], ["y_axis2"], axis=2),
    ]
    return build(nodes, {"x": 2 * randn(rng, 2, 3, 2, 4)}, ["y_default", "y_axis1", "y_axis2"], opset=11)


# ---------------------------------------------------------------------------------------------------------------------
# Shape operators, Identity, Concat, Constant


@register
def flatten_axes(rng):
    """Flatten of a 4-D input at axis 0, 1, 2 and -1."""
    axes = {"y_axis0": 0, "y_axis1": 1, "y_axis2": 2, "y_axis_neg1": -1}
    nodes = [helper.make_node("Flatten", ["x"], [name], axis=axis) for name, axis in axes.items()]
    return build(nodes, {"x": randn(rng, 2, 3, 4, 5)}, list(axes), opset=21)


@register
def reshape_zero_and_minus_one(rng):
    """Reshape to [0, -1, 2] (shape as a raw initializer): [2, 3, 4] -> [2, 6, 2]."""
    node = helper.make_node("Reshape", ["x", "shape"], ["y"])
    inits = [raw("shape", np.array([0, -1, 2], dtype=np.int64))]
    return build([node], {"x": randn(rng, 2, 3, 4)}, ["y"], inits, opset=21)


@register
def reshape_batch_symbolic(rng):
    """Reshape to [0, -1] (shape in int64_data) of an input whose first dimension is symbolic."""
    node = helper.make_node("Reshape", ["x", "shape"], ["y"])
    inits = [typed("shape", np.array([0, -1], dtype=np.int64))]
    return build([node], {"x": randn(rng, 5, 3, 4)}, ["y"], inits, symbolic_batch=True)


@register
def identity_input_and_initializer(rng):
    """Identity of a graph input and of an initializer."""
    nodes = [helper.make_node("Identity", ["x"], ["y"]), helper.make_node("Identity", ["w"], ["w_copy"])]
    return build(nodes, {"x": randn(rng, 3, 4)}, ["y", "w_copy"], [raw("w", randn(rng, 2, 5))], opset=21)


@register
def concat_axis0_three_inputs(rng):
    """Concat of three graph inputs along axis 0: [1, 3, 4], [2, 3, 4], [3, 3, 4]."""
    feeds = {"a": randn(rng, 1, 3, 4), "b": randn(rng, 2, 3, 4), "c": randn(rng, 3, 3, 4)}
    return build([helper.make_node("Concat", ["a", "b", "c"], ["y"], axis=0)], feeds, ["y"])


@register
def concat_axis1_with_initializer(rng):
    """Concat along axis 1 of input, initializer, input: [2, 2, 3], [2, 4, 3], [2, 1, 3]."""
    node = helper.make_node("Concat", ["a", "w", "b"], ["y"], axis=1)
    feeds = {"a": randn(rng, 2, 2, 3), "b": randn(rng, 2, 1, 3)}
    return build([node], feeds, ["y"], [raw("w", randn(rng, 2, 4, 3))])


@register
def concat_axis_neg1_three_inputs(rng):
    """Concat of three graph inputs along axis -1: [3, 2], [3, 5], [3, 1]."""
    feeds = {"a": randn(rng, 3, 2), "b": randn(rng, 3, 5), "c": randn(rng, 3, 1)}
    return build([helper.make_node("Concat", ["a", "b", "c"], ["y"], axis=-1)], feeds, ["y"], opset=17)


@register
def constant_value_forms(rng):
    """Constant with value_ints (a Reshape shape), value_float and a value tensor in float_data."""
    nodes = [
        helper.make_node("Constant", [], ["shape"], value_ints=[3, 4]),
        helper.make_node("Constant", [], ["scale"], value_float=2.5),
        helper.make_node("Constant", [], ["offset"], value=typed("offset_value", randn(rng, 3, 4))),
        helper.make_node("Reshape", ["x", "shape"], ["reshaped"]),
        helper.make_node("Mul", ["reshaped", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "offset"], ["y"]),
    ]
    return build(nodes, {"x": randn(rng, 2, 6)}, ["y"])


# ---------------------------------------------------------------------------------------------------------------------
# Whole models


def dense(name: str, rng: np.random.Generator, inputs: int, outputs: int) -> list[TensorProto]:
    """Weights [inputs, outputs] and bias [outputs] of a layer, scaled like a trained network's."""
    weights = randn(rng, inputs, outputs) / np.float32(np.sqrt(inputs))
    return [raw(f"{name}_w", weights), raw(f"{name}_b", randn(rng, outputs) * np.float32(0.1))]


@register
def ctr_mlp(rng):
    """Click-through-rate MLP over a symbolic batch: Gemm+Relu, Gemm(transB, float_data)+Relu, Gemm, Sigmoid."""
    nodes = [
        helper.make_node("Gemm", ["features", "l1_w", "l1_b"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "l2_w", "l2_b"], ["h2"], transB=1),
        helper.make_node("Relu", ["h2"], ["a2"]),
        helper.make_node("Gemm", ["a2", "l3_w", "l3_b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    layer2 = randn(rng, 16, 64) / np.float32(8.0)
    inits = [
        *dense("l1", rng, 32, 64),
        typed("l2_w", layer2),
        typed("l2_b", randn(rng, 16) * np.float32(0.1)),
        *dense("l3", rng, 16, 1),
    ]
    return build(nodes, {"features": randn(rng, 16, 32)}, ["probability"], inits, symbolic_batch=True)


@register
def multi_input_concat(rng):
    """Two inputs over a symbolic batch, concatenated, then MatMul + Add + Tanh."""
    nodes = [
        helper.make_node("Concat", ["user", "item"], ["joined"], axis=1),
        helper.make_node("MatMul", ["joined", "proj_w"], ["projected"]),
        helper.make_node("Add", ["projected", "proj_b"], ["pre"]),
        helper.make_node("Tanh", ["pre"], ["y"]),
    ]
    feeds = {"user": randn(rng, 6, 8), "item": randn(rng, 6, 12)}
    return build(nodes, feeds, ["y"], dense("proj", rng, 20, 4), opset=17, symbolic_batch=True)


@register
def multi_output_two_heads(rng):
    """A shared Gemm+Relu trunk over a symbolic batch with a Sigmoid head and a Softmax head."""
    nodes = [
        helper.make_node("Gemm", ["x", "trunk_w", "trunk_b"], ["trunk"]),
        helper.make_node("Relu", ["trunk"], ["hidden"]),
        helper.make_node("Gemm", ["hidden", "click_w", "click_b"], ["click_logit"]),
        helper.make_node("Sigmoid", ["click_logit"], ["click"]),
        helper.make_node("Gemm", ["hidden", "category_w", "category_b"], ["category_logits"]),
        helper.make_node("Softmax", ["category_logits"], ["category"], axis=-1),
    ]
    inits = [*dense("trunk", rng, 16, 24), *dense("click", rng, 24, 1), *dense("category", rng, 24, 5)]
    return build(nodes, {"x": randn(rng, 7, 16)}, ["click", "category"], inits, symbolic_batch=True)


@register
def mlp_classifier_opset11(rng):
    """An opset-11 classifier over a symbolic batch: Gemm+Relu, Gemm, Softmax with its default axis."""
    nodes = [
        helper.make_node("Gemm", ["x", "hidden_w", "hidden_b"], ["hidden_pre"]),
        helper.make_node("Relu", ["hidden_pre"], ["hidden"]),
        helper.make_node("Gemm", ["hidden", "out_w", "out_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"]),
    ]
    inits = [*dense("hidden", rng, 12, 10), *dense("out", rng, 10, 3)]
    return build(nodes, {"x": randn(rng, 4, 12)}, ["probabilities"], inits, opset=11, symbolic_batch=True)


# ---------------------------------------------------------------------------------------------------------------------
# The e-commerce model zoo (issue 3): whole models of the kinds users export, opset 17 (20 where Gelu needs it), a
# symbolic "batch" first dimension on every input and reference data at batch 4. Linear layers are laid out the way
# PyTorch exports nn.Linear (Gemm with transB=1, or MatMul + Add on 3-D activations) and initialized like it
# (uniform in ±1/sqrt(fan_in)). `Benchmarks/runtime_vs_onnxruntime.py` times these models against onnxruntime.

ZOO_BATCH = 4


def uniform(rng: np.random.Generator, bound: float, *shape: int) -> np.ndarray:
    """float32 values uniform in [-bound, bound)."""
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def linear(name: str, rng: np.random.Generator, inputs: int, outputs: int) -> list[TensorProto]:
    """An nn.Linear as PyTorch exports it: weight [outputs, inputs] (Gemm transB=1) and bias [outputs]."""
    bound = 1 / np.sqrt(inputs)
    return [raw(f"{name}_w", uniform(rng, bound, outputs, inputs)), raw(f"{name}_b", uniform(rng, bound, outputs))]


def min_topk_gap(scores: np.ndarray, k: int) -> float:
    """The smallest distance between consecutive values among the k + 1 largest of a row, relative to the row's
    largest magnitude among them, over all rows.

    TopK indices are compared exactly, so reference scores must not be so close that float32 rounding (≈ 1e-6
    relative for these 64-term dot products) could reorder them between two runtimes."""
    top = -np.sort(-scores, axis=-1)[..., : k + 1]
    gaps = (top[..., :-1] - top[..., 1:]).min(axis=-1) / np.abs(top).max(axis=-1)
    return float(gaps.min())


@register
def zoo_ctr_mlp(rng):
    """CTR MLP: 64 features -> 256 -> 256 -> 1, Gemm+Relu, Gemm+Relu, Gemm, Sigmoid."""
    nodes = [
        helper.make_node("Gemm", ["features", "fc1_w", "fc1_b"], ["fc1"], transB=1),
        helper.make_node("Relu", ["fc1"], ["relu1"]),
        helper.make_node("Gemm", ["relu1", "fc2_w", "fc2_b"], ["fc2"], transB=1),
        helper.make_node("Relu", ["fc2"], ["relu2"]),
        helper.make_node("Gemm", ["relu2", "fc3_w", "fc3_b"], ["logit"], transB=1),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    inits = [*linear("fc1", rng, 64, 256), *linear("fc2", rng, 256, 256), *linear("fc3", rng, 256, 1)]
    feeds = {"features": randn(rng, ZOO_BATCH, 64)}
    return build(nodes, feeds, ["probability"], inits, opset=17, symbolic_batch=True)


@register
def zoo_two_tower(rng):
    """Two-tower retrieval: user embedding + mean of 20 history item embeddings -> Gemm(128 -> 64) -> Relu -> scores
    against all 5,000 items (MatMul with the transposed item table) -> TopK 50 (values and indices)."""
    users, items, dim, history, k = 1000, 5000, 64, 20, 50
    user_table = randn(rng, users, dim) * np.float32(0.1)
    item_table = randn(rng, items, dim) * np.float32(0.1)
    nodes = [
        helper.make_node("Gather", ["user_table", "user_id"], ["user_vec"], axis=0),
        helper.make_node("Gather", ["item_table", "history"], ["history_vecs"], axis=0),
        helper.make_node("ReduceMean", ["history_vecs"], ["history_vec"], axes=[1], keepdims=0),
        helper.make_node("Concat", ["user_vec", "history_vec"], ["joined"], axis=1),
        helper.make_node("Gemm", ["joined", "tower_w", "tower_b"], ["tower"], transB=1),
        helper.make_node("Relu", ["tower"], ["query"]),
        helper.make_node("MatMul", ["query", "item_table_t"], ["scores"]),
        helper.make_node("TopK", ["scores", "k"], ["top_scores", "top_items"], axis=-1, largest=1, sorted=1),
    ]
    inits = [
        raw("user_table", user_table),
        raw("item_table", item_table),
        *linear("tower", rng, 2 * dim, dim),
        raw("item_table_t", np.ascontiguousarray(item_table.T)),
        raw("k", np.array([k], dtype=np.int64)),
    ]
    tower_w, tower_b = (numpy_helper.to_array(init) for init in inits[2:4])

    def scores(user_id: np.ndarray, history_ids: np.ndarray) -> np.ndarray:
        joined = np.concatenate([user_table[user_id], item_table[history_ids].mean(axis=1)], axis=1)
        return np.maximum(joined @ tower_w.T + tower_b, 0) @ item_table.T

    for _ in range(100):  # valid ids whose top-(k+1) scores are well apart (deterministic: the generator is seeded)
        feeds = {
            "user_id": rng.integers(0, users, size=ZOO_BATCH, dtype=np.int64),
            "history": rng.integers(0, items, size=(ZOO_BATCH, history), dtype=np.int64),
        }
        if min_topk_gap(scores(feeds["user_id"], feeds["history"]), k) > 2e-5:
            break
    else:
        raise ValueError("zoo_two_tower: no reference ids with well-separated top scores in 100 draws")
    return build(nodes, feeds, ["top_scores", "top_items"], inits, opset=17, symbolic_batch=True)


@register
def zoo_seed_cnn(rng):
    """The CNN of the seed article (§5.2, `CNNModel`): Conv2d(1, 32, 3, 1) -> ReLU -> MaxPool2d(2, 2) ->
    view(-1, 32*6*6) -> Linear(1152, 128) -> ReLU -> Linear(128, 10); the output is fc2's 10 logits, as in the article
    (it trains them with CrossEntropyLoss and takes the argmax).

    The article's layer sizes fix the input: fc1 takes 32*6*6 features, so the 3x3 valid convolution and the 2x2 pool
    see a 1-channel 14x14 image ([batch, 1, 14, 14]); its `Resize((28, 28))` transform would give 32*13*13 and does not
    fit fc1. The article's second `self.pool` on fc1's 2-D output cannot run in PyTorch (MaxPool2d needs 3-D or 4-D
    input) and would not fit fc2 (128 inputs) either, so it is left out."""
    bound = 1 / np.sqrt(1 * 3 * 3)
    nodes = [
        helper.make_node("Conv", ["image", "conv1_w", "conv1_b"], ["conv1"], kernel_shape=[3, 3], strides=[1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"]),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["pool1", "flat_shape"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc1_w", "fc1_b"], ["fc1"], transB=1),
        helper.make_node("Relu", ["fc1"], ["relu2"]),
        helper.make_node("Gemm", ["relu2", "fc2_w", "fc2_b"], ["logits"], transB=1),
    ]
    inits = [
        raw("conv1_w", uniform(rng, bound, 32, 1, 3, 3)),
        raw("conv1_b", uniform(rng, bound, 32)),
        raw("flat_shape", np.array([-1, 32 * 6 * 6], dtype=np.int64)),
        *linear("fc1", rng, 32 * 6 * 6, 128),
        *linear("fc2", rng, 128, 10),
    ]
    feeds = {"image": rng.uniform(0, 1, size=(ZOO_BATCH, 1, 14, 14)).astype(np.float32)}  # ToTensor's [0, 1] pixels
    return build(nodes, feeds, ["logits"], inits, opset=17, symbolic_batch=True)


@register
def zoo_gru_session(rng):
    """Session model: 20 item ids -> Gather embeddings (2000 x 32) -> Transpose to [seq, batch, 32] -> GRU (hidden 64,
    linear_before_reset=1 as PyTorch exports it) -> last hidden state -> Gemm -> Softmax over 100 categories."""
    items, dim, hidden, categories, length = 2000, 32, 64, 100, 20
    bound = 1 / np.sqrt(hidden)
    nodes = [
        helper.make_node("Gather", ["item_embeddings", "session"], ["embedded"], axis=0),
        helper.make_node("Transpose", ["embedded"], ["sequence"], perm=[1, 0, 2]),
        helper.make_node(
            "GRU", ["sequence", "gru_w", "gru_r", "gru_b"], ["gru_y", "gru_y_h"], hidden_size=hidden,
            linear_before_reset=1,
        ),
        helper.make_node("Squeeze", ["gru_y_h", "squeeze_axes"], ["last_hidden"]),
        helper.make_node("Gemm", ["last_hidden", "head_w", "head_b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["category_probabilities"], axis=-1),
    ]
    inits = [
        raw("item_embeddings", randn(rng, items, dim)),
        raw("gru_w", uniform(rng, bound, 1, 3 * hidden, dim)),
        raw("gru_r", uniform(rng, bound, 1, 3 * hidden, hidden)),
        raw("gru_b", uniform(rng, bound, 1, 6 * hidden)),
        raw("squeeze_axes", np.array([0], dtype=np.int64)),
        *linear("head", rng, hidden, categories),
    ]
    feeds = {"session": rng.integers(0, items, size=(ZOO_BATCH, length), dtype=np.int64)}
    return build(nodes, feeds, ["category_probabilities"], inits, opset=17, symbolic_batch=True)


@register
def zoo_transformer_block(rng):
    """A pre-norm Transformer block over [batch, 16, 64]: LayerNormalization -> single-head self-attention (MatMul
    Q/K/V, Transpose, MatMul, Div by sqrt(64), Softmax, MatMul) -> residual Add -> LayerNormalization -> MLP 64 -> 256
    (MatMul + Add, Gelu) -> 64 (MatMul + Add) -> residual Add. Opset 20 for Gelu."""
    dim, hidden = 64, 256
    bound = 1 / np.sqrt(dim)
    nodes = [
        helper.make_node("LayerNormalization", ["x", "ln1_scale", "ln1_bias"], ["ln1"], axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["ln1", "wq"], ["q"]),
        helper.make_node("MatMul", ["ln1", "wk"], ["k"]),
        helper.make_node("MatMul", ["ln1", "wv"], ["v"]),
        helper.make_node("Transpose", ["k"], ["k_t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "k_t"], ["scores"]),
        helper.make_node("Div", ["scores", "sqrt_d"], ["scaled"]),
        helper.make_node("Softmax", ["scaled"], ["attention"], axis=-1),
        helper.make_node("MatMul", ["attention", "v"], ["attended"]),
        helper.make_node("Add", ["x", "attended"], ["residual1"]),
        helper.make_node("LayerNormalization", ["residual1", "ln2_scale", "ln2_bias"], ["ln2"], axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["ln2", "mlp1_w"], ["mlp1"]),
        helper.make_node("Add", ["mlp1", "mlp1_b"], ["mlp1_biased"]),
        helper.make_node("Gelu", ["mlp1_biased"], ["gelu"]),
        helper.make_node("MatMul", ["gelu", "mlp2_w"], ["mlp2"]),
        helper.make_node("Add", ["mlp2", "mlp2_b"], ["mlp2_biased"]),
        helper.make_node("Add", ["residual1", "mlp2_biased"], ["y"]),
    ]
    inits = [
        raw("ln1_scale", 1 + uniform(rng, 0.1, dim)),
        raw("ln1_bias", uniform(rng, 0.1, dim)),
        raw("wq", uniform(rng, bound, dim, dim)),
        raw("wk", uniform(rng, bound, dim, dim)),
        raw("wv", uniform(rng, bound, dim, dim)),
        raw("sqrt_d", np.array(np.sqrt(dim), dtype=np.float32)),
        raw("ln2_scale", 1 + uniform(rng, 0.1, dim)),
        raw("ln2_bias", uniform(rng, 0.1, dim)),
        raw("mlp1_w", uniform(rng, bound, dim, hidden)),
        raw("mlp1_b", uniform(rng, bound, hidden)),
        raw("mlp2_w", uniform(rng, 1 / np.sqrt(hidden), hidden, dim)),
        raw("mlp2_b", uniform(rng, 1 / np.sqrt(hidden), dim)),
    ]
    feeds = {"x": randn(rng, ZOO_BATCH, 16, dim)}
    return build(nodes, feeds, ["y"], inits, opset=20, symbolic_batch=True)


# ---------------------------------------------------------------------------------------------------------------------
# Unique


@register
def unique_rows_first_occurrence(rng):
    """Unique rows of an int64 matrix (axis 0) in order of first occurrence, with all four outputs."""
    rows = rng.integers(-3, 4, size=(4, 3))
    x = rows[rng.integers(0, 4, size=9)].astype(np.int64)
    node = helper.make_node("Unique", ["x"], ["y", "indices", "inverse", "counts"], axis=0, sorted=0)
    return build([node], {"x": x}, ["y", "indices", "inverse", "counts"], opset=11)


@register
def unique_flattened_sorted_float(rng):
    """Unique float32 values of a flattened 3-D tensor, ascending, with all four outputs."""
    x = rng.choice(np.array([-1.5, 0.0, 2.25, 7.0, -0.5], np.float32), size=(2, 3, 4))
    node = helper.make_node("Unique", ["x"], ["y", "indices", "inverse", "counts"])
    return build([node], {"x": x}, ["y", "indices", "inverse", "counts"], opset=11)


@register
def maxpool_then_unpool(rng):
    """MaxPool's values and indices (stride 2, pads) put back by MaxUnpool: the maxima in place, zeros elsewhere."""
    x = randn(rng, 2, 3, 6, 7)
    nodes = [helper.make_node("MaxPool", ["x"], ["pooled", "indices"], kernel_shape=[2, 3], strides=[2, 2],
                              pads=[0, 1, 0, 1]),
             helper.make_node("MaxUnpool", ["pooled", "indices"], ["y"], kernel_shape=[2, 3], strides=[2, 2],
                              pads=[0, 1, 0, 1])]
    return build(nodes, {"x": x}, ["y"], opset=11)


@register
def col2im_strides_pads_dilations(rng):
    """Col2Im of overlapping 2×3 blocks with strides, pads and dilations, summed where they overlap."""
    image, block = np.array([7, 8], np.int64), np.array([2, 3], np.int64)
    # Block positions: (7 + 1 + 1 − 3) / 2 + 1 = 4 and (8 + 0 + 2 − 5) / 1 + 1 = 6.
    x = randn(rng, 2, 3 * 6, 4 * 6)
    node = helper.make_node("Col2Im", ["x", "image", "block"], ["y"], strides=[2, 1], pads=[1, 0, 1, 2],
                            dilations=[2, 2])
    return build([node], {"x": x}, ["y"], [raw("image", image), raw("block", block)], opset=18)


@register
def affine_grid_then_grid_sample(rng):
    """A spatial transformer: AffineGrid from per-image rotations/scales, then GridSample of the image through it."""
    angle = rng.uniform(-0.6, 0.6, 2)
    scale = rng.uniform(0.7, 1.3, 2)
    theta = np.stack([[[s * np.cos(a), -s * np.sin(a), 0.1], [s * np.sin(a), s * np.cos(a), -0.2]]
                      for a, s in zip(angle, scale)]).astype(np.float32)
    image = randn(rng, 2, 3, 9, 11)
    nodes = [helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=0),
             helper.make_node("GridSample", ["image", "grid"], ["y"], align_corners=0)]
    return build(nodes, {"theta": theta, "image": image}, ["y"], [raw("size", np.array([2, 3, 7, 8], np.int64))],
                 opset=20)


@register
def roi_align_avg_and_max(rng):
    """RoiAlign of four boxes (one partly outside the map, one thinner than a pixel) at half_pixel, avg and max."""
    x = randn(rng, 2, 3, 10, 12)
    rois = np.array([[0, 0, 9, 9], [2.5, 1.2, 7.7, 4.1], [8, 6, 14, 13], [3, 3, 3.4, 9]], np.float32)
    nodes = [helper.make_node("RoiAlign", ["x", "rois", "batch"], ["avg"], output_height=3, output_width=4,
                              sampling_ratio=2, spatial_scale=0.5),
             helper.make_node("RoiAlign", ["x", "rois", "batch"], ["max"], mode="max", output_height=2,
                              output_width=2, sampling_ratio=0, coordinate_transformation_mode="half_pixel")]
    return build(nodes, {"x": x, "rois": rois}, ["avg", "max"], [raw("batch", np.array([0, 1, 1, 0], np.int64))],
                 opset=16)


@register
def deform_conv_groups_mask_bias(rng):
    """DeformConv with two groups, two offset groups, stride 2, padding, dilation, a mask and a bias."""
    x = randn(rng, 2, 4, 9, 8)
    w = randn(rng, 6, 2, 3, 3)
    # Output: ((9 + 2 − 5) / 2 + 1, (8 + 2 − 5) / 2 + 1) = (4, 3) positions.
    offset = (rng.standard_normal((2, 2 * 9 * 2, 4, 3)) * 1.5).astype(np.float32)
    mask = rng.uniform(0, 1, (2, 2 * 9, 4, 3)).astype(np.float32)
    node = helper.make_node("DeformConv", ["x", "w", "offset", "b", "mask"], ["y"], group=2, offset_group=2,
                            strides=[2, 2], pads=[1, 1, 1, 1], dilations=[2, 2], kernel_shape=[3, 3])
    return build([node], {"x": x, "offset": offset, "mask": mask}, ["y"],
                 [raw("w", w), raw("b", randn(rng, 6))], opset=22)


@register
def stft_hann_onesided(rng):
    """STFT of two real signals with a Hann window, 32-sample frames every 12, one-sided spectrum."""
    signal = randn(rng, 2, 100, 1)
    nodes = [helper.make_node("HannWindow", ["length"], ["window"]),
             helper.make_node("STFT", ["signal", "step", "window"], ["spectrum"], onesided=1)]
    return build(nodes, {"signal": signal}, ["spectrum"],
                 [raw("length", np.array(32, np.int64)), raw("step", np.array(12, np.int64))], opset=17)


@register
def mel_spectrogram(rng):
    """A log-mel spectrogram: STFT power through MelWeightMatrix (40 bands, 16 kHz), as audio front ends build it."""
    signal = randn(rng, 1, 400, 1)
    nodes = [
        helper.make_node("STFT", ["signal", "step", "", "frame"], ["spectrum"], onesided=1),
        helper.make_node("ReduceSumSquare", ["spectrum", "last"], ["power"], keepdims=0),
        helper.make_node("MelWeightMatrix", ["bands", "frame", "rate", "low", "high"], ["mel"]),
        helper.make_node("MatMul", ["power", "mel"], ["y"]),
    ]
    initializers = [raw("step", np.array(80, np.int64)), raw("frame", np.array(128, np.int64)),
                    raw("last", np.array([-1], np.int64)), raw("bands", np.array(40, np.int64)),
                    raw("rate", np.array(16000, np.int64)), raw("low", np.array(20, np.float32)),
                    raw("high", np.array(7600, np.float32))]
    return build(nodes, {"signal": signal}, ["y"], initializers, opset=18)


@register
def tensor_scatter_circular_cache(rng):
    """A KV cache of 8 positions taking 3 new ones per sequence, wrapping around, at per-batch write positions."""
    cache = randn(rng, 2, 4, 8, 5)
    update = randn(rng, 2, 4, 3, 5)
    node = helper.make_node("TensorScatter", ["cache", "update", "at"], ["present"], mode="circular", axis=2)
    return build([node], {"cache": cache, "update": update}, ["present"], [raw("at", np.array([6, 1], np.int64))],
                 opset=24)


# ---------------------------------------------------------------------------------------------------------------------
# Quantized matrix products (onnxruntime.quantization's dynamic quantization, QLinearMatMul, MatMulInteger)


@register
def matmul_integer_batched_deep(rng):
    """MatMulInteger of uint8 [2, 3, 5, 600] by int8 [600, 7] (B broadcast over the batch axes) with a zero point
    per B column: sums past 2^24, so the product cannot run exactly in float32."""
    a = rng.integers(0, 256, (2, 3, 5, 600)).astype(np.uint8)
    b = rng.integers(-128, 128, (600, 7)).astype(np.int8)
    node = helper.make_node("MatMulInteger", ["a", "b", "a_zero", "b_zero"], ["y"])
    return build([node], {"a": a}, ["y"], [raw("b", b), raw("a_zero", np.array(3, np.uint8)),
                                          raw("b_zero", rng.integers(-5, 6, 7).astype(np.int8))], opset=13)


@register
def qlinear_matmul_per_column(rng):
    """QLinearMatMul of uint8 activations by int8 weights with a scale and zero point per output column."""
    a = rng.integers(0, 256, (6, 48)).astype(np.uint8)
    b = rng.integers(-128, 128, (48, 10)).astype(np.int8)
    node = helper.make_node("QLinearMatMul", ["a", "a_scale", "a_zero", "b", "b_scale", "b_zero", "y_scale",
                                              "y_zero"], ["y"])
    initializers = [raw("a_scale", np.array(0.02, np.float32)), raw("a_zero", np.array(128, np.uint8)),
                    raw("b", b), raw("b_scale", rng.uniform(0.001, 0.01, 10).astype(np.float32)),
                    raw("b_zero", np.zeros(10, np.int8)), raw("y_scale", np.array(0.5, np.float32)),
                    raw("y_zero", np.array(100, np.uint8))]
    return build([node], {"a": a}, ["y"], initializers, opset=21)


@register
def dynamic_quantized_mlp(rng):
    """A float MLP (40 → 64 → 32 → 1) quantized by onnxruntime.quantization.quantize_dynamic, as CPU deployments
    shrink their dense models: DynamicQuantizeLinear + MatMulInteger + rescale per layer."""
    import tempfile
    from onnxruntime.quantization import QuantType, quantize_dynamic
    x = randn(rng, 16, 40)
    nodes, initializers, previous = [], [], "x"
    for index, (fan_in, fan_out) in enumerate([(40, 64), (64, 32), (32, 1)]):
        initializers += [raw(f"w{index}", randn(rng, fan_in, fan_out) / np.float32(np.sqrt(fan_in))),
                         raw(f"b{index}", randn(rng, fan_out) * np.float32(0.1))]
        nodes += [helper.make_node("MatMul", [previous, f"w{index}"], [f"m{index}"]),
                  helper.make_node("Add", [f"m{index}", f"b{index}"], [f"h{index}"])]
        previous = f"h{index}"
        if fan_out != 1:
            nodes.append(helper.make_node("Relu", [previous], [f"r{index}"]))
            previous = f"r{index}"
    nodes.append(helper.make_node("Sigmoid", [previous], ["y"]))
    model, feeds = build(nodes, {"x": x}, ["y"], initializers, opset=17, symbolic_batch=True)
    with tempfile.TemporaryDirectory() as scratch:
        source, target = Path(scratch) / "float.onnx", Path(scratch) / "int8.onnx"
        onnx.save_model(model, source)
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
        quantized = onnx.load(str(target))
    if not any(node.op_type == "MatMulInteger" for node in quantized.graph.node):
        raise ValueError("dynamic_quantized_mlp: quantize_dynamic left no MatMulInteger")
    return quantized, feeds


# ---------------------------------------------------------------------------------------------------------------------
# Quantized convolution (int8/uint8 models from onnxruntime.quantization and exporters)


def quantized(rng: np.random.Generator, dtype, *shape: int) -> np.ndarray:
    """Uniform 8-bit values over the type's whole range."""
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)


@register
def qlinear_conv_per_channel_groups_bias(rng):
    """uint8 activations, int8 weights with a scale per output map (symmetric), two groups, stride 2, pads, bias."""
    x = quantized(rng, np.uint8, 2, 4, 9, 9)
    weights = [
        raw("x_scale", np.array(0.05, np.float32)), raw("x_zero", np.array(131, np.uint8)),
        raw("w", quantized(rng, np.int8, 6, 2, 3, 3)), raw("w_scale", rng.uniform(0.002, 0.01, 6).astype(np.float32)),
        raw("w_zero", np.zeros(6, np.int8)), raw("y_scale", np.array(0.07, np.float32)),
        raw("y_zero", np.array(128, np.uint8)), raw("bias", rng.integers(-2000, 2000, 6).astype(np.int32)),
    ]
    node = helper.make_node(
        "QLinearConv", ["x", "x_scale", "x_zero", "w", "w_scale", "w_zero", "y_scale", "y_zero", "bias"], ["y"],
        group=2, strides=[2, 2], pads=[1, 1, 1, 1])
    return build([node], {"x": x}, ["y"], weights)


@register
def qlinear_conv_int8_dilated(rng):
    """int8 activations and weights per tensor, dilations 2 and 1, pads, no bias, int8 output."""
    x = quantized(rng, np.int8, 1, 3, 11, 10)
    weights = [
        raw("x_scale", np.array(0.03, np.float32)), raw("x_zero", np.array(-5, np.int8)),
        raw("w", quantized(rng, np.int8, 5, 3, 3, 3)), raw("w_scale", np.array(0.004, np.float32)),
        raw("w_zero", np.array(0, np.int8)), raw("y_scale", np.array(0.05, np.float32)),
        raw("y_zero", np.array(3, np.int8)),
    ]
    node = helper.make_node(
        "QLinearConv", ["x", "x_scale", "x_zero", "w", "w_scale", "w_zero", "y_scale", "y_zero"], ["y"],
        dilations=[2, 1], pads=[2, 1, 2, 1])
    return build([node], {"x": x}, ["y"], weights)


@register
def conv_integer_uint8_zero_points_strided(rng):
    """ConvInteger: uint8 input and weights with zero points, two groups, strides 2 and 1, asymmetric pads."""
    x = quantized(rng, np.uint8, 2, 4, 8, 7)
    weights = [raw("x_zero", np.array(118, np.uint8)), raw("w", quantized(rng, np.uint8, 4, 2, 2, 3)),
               raw("w_zero", np.array(140, np.uint8))]
    node = helper.make_node("ConvInteger", ["x", "w", "x_zero", "w_zero"], ["y"], group=2, strides=[2, 1],
                            pads=[0, 1, 1, 2])
    return build([node], {"x": x}, ["y"], weights, opset=10)


@register
def conv_integer_1d_same_lower(rng):
    """ConvInteger over one spatial axis, SAME_LOWER padding, stride 3, without zero points (they default to 0)."""
    x = quantized(rng, np.uint8, 1, 3, 20)
    weights = [raw("w", quantized(rng, np.uint8, 2, 3, 4))]
    node = helper.make_node("ConvInteger", ["x", "w"], ["y"], strides=[3], auto_pad="SAME_LOWER")
    return build([node], {"x": x}, ["y"], weights, opset=10)


@register
def conv_integer_deep_full_range(rng):
    """ConvInteger whose sums can pass 2^24 (depth 288 of full-range uint8 products), where float32 is not exact."""
    x = quantized(rng, np.uint8, 1, 32, 6, 6)
    x[0, :, 0:3, 0:3] = 255
    x[0, 0, 0, 0] = 254
    w = quantized(rng, np.uint8, 3, 32, 3, 3)
    w[0] = 255  # map 0 at (1, 1): 288 · 255 · 255 − 255 = 18,726,945, odd and above 2^24: no float32 holds it
    node = helper.make_node("ConvInteger", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    return build([node], {"x": x}, ["y"], [raw("w", w)], opset=10)


# ---------------------------------------------------------------------------------------------------------------------
# TopK on short rows (a few hundred candidates, small k): the runtime comparison's `--suite topk` times these


def topk_short(columns: int, k: int, largest: int = 1):
    def builder(rng):
        nodes = [helper.make_node("TopK", ["x", "k"], ["values", "indices"], axis=-1, largest=largest, sorted=1)]
        feeds = {"x": randn(rng, 64, columns)}
        return build(nodes, feeds, ["values", "indices"], [raw("k", np.array([k], dtype=np.int64))], opset=13,
                     symbolic_batch=True)
    builder.__name__ = f"topk_short_{columns}_k{k}" + ("" if largest else "_smallest")
    register(builder)


for _columns, _k, _largest in [(100, 1, 1), (300, 5, 1), (300, 5, 0), (1000, 20, 1)]:
    topk_short(_columns, _k, _largest)


# ---------------------------------------------------------------------------------------------------------------------
# ai.onnx.ml: tree ensembles, linear models and preprocessing (scripts/ml_models.py)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # when loaded by path (tests, benchmarks) as well
from ml_models import LIBRARY_MODELS, ML_BUILDERS  # noqa: E402

BUILDERS.update(ML_BUILDERS)


# ---------------------------------------------------------------------------------------------------------------------
# Reference outputs and files


# Integer products onnxruntime only computes exactly on CPUs with VNNI or AVX-512 when B is int8: its AVX2 u8·s8
# kernel (vpmaddubsw) adds pairs of products in saturating 16-bit lanes, so full-range operands come out wrong there
# (u8·u8 products take another, exact kernel). The position of B among each operator's inputs:
SATURATING_PRODUCTS = {"MatMulInteger": 1, "ConvInteger": 1, "QLinearMatMul": 3, "QLinearConv": 3}


def has_int8_product(model: onnx.ModelProto) -> bool:
    """Whether a MatMulInteger, ConvInteger, QLinearMatMul or QLinearConv of `model` takes an int8 B."""
    types = {value.name: value.type.tensor_type.elem_type for value in [*model.graph.input, *model.graph.value_info]}
    types.update({tensor.name: tensor.data_type for tensor in model.graph.initializer})
    return any(node.op_type in SATURATING_PRODUCTS and len(node.input) > SATURATING_PRODUCTS[node.op_type]
               and types.get(node.input[SATURATING_PRODUCTS[node.op_type]]) == TensorProto.INT8
               for node in model.graph.node)


def reference_outputs(model: onnx.ModelProto, feeds: Feeds, name: str = "") -> list[np.ndarray]:
    """Runs `model` in onnxruntime (CPU, no graph optimizations, one thread) and returns its outputs in graph order.

    A graph with a u8·s8 integer product takes ONNX's own reference implementation's outputs instead (exact integer
    arithmetic, the same on every CPU); where onnxruntime disagrees on this machine, that is said on stderr."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    if not has_int8_product(model):
        return outputs
    from onnx.reference import ReferenceEvaluator
    exact = ReferenceEvaluator(model).run(None, feeds)
    for output, ort_value, exact_value in zip(model.graph.output, outputs, exact):
        agree = (np.array_equal(ort_value, exact_value) if np.issubdtype(exact_value.dtype, np.integer)
                 else np.allclose(ort_value, exact_value, rtol=1e-4, atol=1e-5))
        if not agree:
            print(f"{name}: onnxruntime's {output.name} differs from ONNX's reference on this CPU (saturating u8·s8 "
                  "kernels without VNNI); the reference is ONNX's", file=sys.stderr)
    return [np.asarray(value) for value in exact]


def write_tensors(directory: Path, prefix: str, names: Sequence[str], arrays: Sequence[np.ndarray]) -> None:
    """Writes `<prefix>_<i>.pb` TensorProtos named after the graph values."""
    for index, (name, array) in enumerate(zip(names, arrays, strict=True)):
        onnx.save_tensor(numpy_helper.from_array(np.asarray(array), name), directory / f"{prefix}_{index}.pb")


def write_model(out: Path, name: str, model: onnx.ModelProto, feeds: Feeds, expected=None) -> None:
    """Writes the model into the repository and the reference tree, with inputs and reference outputs."""
    input_names = [value.name for value in model.graph.input]
    output_names = [value.name for value in model.graph.output]
    if list(feeds) != input_names:
        raise ValueError(f"{name}: feeds {list(feeds)} do not match graph inputs {input_names}")
    version_dir = out / "repository" / name / "1"
    data_dir = out / "reference" / name / "test_data_set_0"
    version_dir.mkdir(parents=True)
    data_dir.mkdir(parents=True)
    onnx.save_model(model, version_dir / "model.onnx")
    onnx.save_model(model, data_dir.parent / "model.onnx")
    write_tensors(data_dir, "input", input_names, list(feeds.values()))
    outputs = expected if expected is not None else reference_outputs(model, feeds, name)
    write_tensors(data_dir, "output", output_names, outputs)


def make_all(out: Path, prefix: str = "") -> list[str]:
    """Builds every registered model whose name starts with `prefix` into `out`, replacing earlier repository/ and
    reference/ trees there."""
    for tree in ("repository", "reference"):
        shutil.rmtree(out / tree, ignore_errors=True)
    names = [name for name in BUILDERS if name.startswith(prefix)]
    for name in names:
        built = BUILDERS[name](np.random.default_rng(zlib.crc32(name.encode())))
        model, feeds = built[0], built[1]
        model.graph.name = name
        # A builder may return a third item: the reference outputs, where onnxruntime departs from the ONNX spec.
        write_model(out, name, model, feeds, built[2] if len(built) > 2 else None)
        if name in LIBRARY_MODELS:
            import joblib  # scikit-learn's dependency; the benchmark times the library's own predict with it
            joblib.dump(LIBRARY_MODELS.pop(name), out / "reference" / name / "library_model.joblib")
    return names


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".fixtures", help="output directory")
    parser.add_argument("--only", default="", metavar="PREFIX", help="only the models whose names start with PREFIX")
    args = parser.parse_args()
    names = make_all(args.out, args.only)
    print(f"wrote {len(names)} models to {args.out}")


if __name__ == "__main__":
    main()
