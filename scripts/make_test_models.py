#!/usr/bin/env python3
"""Builds small ONNX test models and their onnxruntime reference outputs.

Every model exercises operators the ZServe runtime supports (Gemm, MatMul, Add, Sub, Mul, Div, Relu, Sigmoid, Tanh,
Softmax, Flatten, Reshape, Identity, Concat, Constant). For each model `NAME` this writes

    <out>/repository/NAME/1/model.onnx                       a ZServe model repository
    <out>/reference/NAME/model.onnx                          the same model
    <out>/reference/NAME/test_data_set_0/input_<i>.pb        one TensorProto per graph input, in graph order
    <out>/reference/NAME/test_data_set_0/output_<i>.pb       one TensorProto per graph output, from onnxruntime

The reference layout is the one of ONNX's backend node tests (onnx/backend/test/data/node/*). Inputs are random but
deterministic: each model draws from its own generator, seeded from its name.

Usage: make_test_models.py [--out DIR]   (default: .fixtures under the repository root)
"""

from __future__ import annotations

import argparse
import shutil
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
# Reference outputs and files


def reference_outputs(model: onnx.ModelProto, feeds: Feeds) -> list[np.ndarray]:
    """Runs `model` in onnxruntime (CPU, no graph optimizations, one thread) and returns its outputs in graph order."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def write_tensors(directory: Path, prefix: str, names: Sequence[str], arrays: Sequence[np.ndarray]) -> None:
    """Writes `<prefix>_<i>.pb` TensorProtos named after the graph values."""
    for index, (name, array) in enumerate(zip(names, arrays, strict=True)):
        onnx.save_tensor(numpy_helper.from_array(np.asarray(array), name), directory / f"{prefix}_{index}.pb")


def write_model(out: Path, name: str, model: onnx.ModelProto, feeds: Feeds) -> None:
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
    write_tensors(data_dir, "output", output_names, reference_outputs(model, feeds))


def make_all(out: Path) -> list[str]:
    """Builds every registered model into `out`, replacing earlier repository/ and reference/ trees there."""
    for tree in ("repository", "reference"):
        shutil.rmtree(out / tree, ignore_errors=True)
    for name, builder in BUILDERS.items():
        model, feeds = builder(np.random.default_rng(zlib.crc32(name.encode())))
        model.graph.name = name
        write_model(out, name, model, feeds)
    return list(BUILDERS)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".fixtures", help="output directory")
    args = parser.parse_args()
    names = make_all(args.out)
    print(f"wrote {len(names)} models to {args.out}")


if __name__ == "__main__":
    main()
