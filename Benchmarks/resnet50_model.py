#!/usr/bin/env python3
"""A ResNet-50-shaped float32 ONNX model with random weights, for `runtime_vs_onnxruntime.py --suite resnet50`.

The architecture is torchvision's resnet50: 7x7/2 stem convolution (64) + BatchNormalization + Relu + 3x3/2 MaxPool,
bottleneck stages of 3, 4, 6 and 3 blocks (widths 64, 128, 256, 512, expansion 4, the stride on the 3x3 convolution),
1x1 projection shortcuts with BatchNormalization where the shape changes, GlobalAveragePool, Flatten and
Gemm 2048 -> 1000. Input `image` float32 [N, 3, 224, 224] (N dynamic), output `logits` [N, 1000], opset 17.

Convolutions have no bias and each is followed by its own BatchNormalization node (not folded), as exporters emit
them without constant folding. Weights come from a fixed seed: convolutions He-normal (fan in); BatchNormalization
running statistics are those of one calibration image (uniform in [-1, 1), carried through the network in numpy while
it is built) with a little noise, scales near 1 (0.1-0.3 on each block's last one, so that the residual sums grow
slowly), shifts near 0; the classifier has PyTorch's default uniform init. Activations stay in a normal float32 range
(no overflow, no denormals) for inputs in [-1, 1).

The model is not a test fixture (about 100 MB): it is generated into the benchmark's scratch directory.

Usage: resnet50_model.py [--out DIR]   writes DIR/repository/resnet50/1/model.onnx
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from onnx import TensorProto, helper, numpy_helper

NAME = "resnet50"
SEED = 50
OPSET = 17
STAGES = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]  # bottleneck width, blocks, stride of the first block
EXPANSION = 4
CLASSES = 1000


class _Graph:
    """Collects nodes and initializers, and carries one calibration image through them in numpy (float32, [C, H, W]),
    so that each BatchNormalization's running statistics are those of the values it receives. Each method returns
    the name of its output."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.values = {"image": rng.uniform(-1, 1, (3, 224, 224)).astype(np.float32)}  # as the benchmark feeds it

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def node(self, op: str, name: str, inputs: list[str], value: np.ndarray | None = None, **attributes) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        if value is not None:
            self.values[name] = value
        return name

    def conv(self, name: str, x: str, channels_in: int, channels_out: int, kernel: int, stride: int) -> str:
        fan_in = channels_in * kernel * kernel
        weight = self.rng.standard_normal((channels_out, channels_in, kernel, kernel)) * np.sqrt(2 / fan_in)
        weight = weight.astype(np.float32)
        pad = kernel // 2
        padded = np.pad(self.values[x], ((0, 0), (pad, pad), (pad, pad)))
        windows = sliding_window_view(padded, (kernel, kernel), axis=(1, 2))[:, ::stride, ::stride]
        value = np.tensordot(weight, windows, axes=([1, 2, 3], [0, 3, 4]))
        return self.node("Conv", name, [x, self.constant(f"{name}.weight", weight)], value,
                         kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad, pad, pad, pad])

    def batch_norm(self, name: str, x: str, scale: tuple[float, float] = (0.8, 1.2)) -> str:
        rng, value = self.rng, self.values[x]
        channels = value.shape[0]
        mean, var = value.mean(axis=(1, 2)), value.var(axis=(1, 2))
        # running statistics: the calibration image's, with a little noise (one image is not the training set)
        running_mean = mean + rng.normal(0, 0.05, channels) * np.sqrt(var)
        running_var = var * rng.uniform(0.8, 1.25, channels)
        gamma, beta = rng.uniform(*scale, channels), rng.normal(0, 0.1, channels)
        inputs = [
            self.constant(f"{name}.weight", gamma),
            self.constant(f"{name}.bias", beta),
            self.constant(f"{name}.running_mean", running_mean),
            self.constant(f"{name}.running_var", running_var),
        ]
        epsilon = 1e-5
        factor = (gamma / np.sqrt(running_var + epsilon))[:, None, None]
        output = ((value - running_mean[:, None, None]) * factor + beta[:, None, None]).astype(np.float32)
        return self.node("BatchNormalization", name, [x, *inputs], output, epsilon=epsilon, momentum=0.9)

    def relu(self, name: str, x: str) -> str:
        return self.node("Relu", name, [x], np.maximum(self.values[x], 0))

    def add(self, name: str, a: str, b: str) -> str:
        return self.node("Add", name, [a, b], self.values[a] + self.values[b])

    def max_pool(self, name: str, x: str) -> str:
        padded = np.pad(self.values[x], ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
        value = sliding_window_view(padded, (3, 3), axis=(1, 2))[:, ::2, ::2].max(axis=(3, 4))
        return self.node("MaxPool", name, [x], value, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])

    def conv_bn(self, name: str, bn_name: str, x: str, channels_in: int, channels_out: int, kernel: int, stride: int,
                scale: tuple[float, float] = (0.8, 1.2)) -> str:
        return self.batch_norm(bn_name, self.conv(name, x, channels_in, channels_out, kernel, stride), scale)

    def bottleneck(self, name: str, x: str, channels_in: int, width: int, stride: int) -> str:
        channels_out = width * EXPANSION
        y = self.relu(f"{name}.relu1", self.conv_bn(f"{name}.conv1", f"{name}.bn1", x, channels_in, width, 1, 1))
        y = self.relu(f"{name}.relu2", self.conv_bn(f"{name}.conv2", f"{name}.bn2", y, width, width, 3, stride))
        y = self.conv_bn(f"{name}.conv3", f"{name}.bn3", y, width, channels_out, 1, 1, scale=(0.1, 0.3))
        shortcut = x
        if stride != 1 or channels_in != channels_out:
            shortcut = self.conv_bn(f"{name}.downsample.0", f"{name}.downsample.1", x, channels_in, channels_out, 1,
                                    stride)
        return self.relu(f"{name}.relu3", self.add(f"{name}.add", y, shortcut))


def resnet50(seed: int = SEED) -> onnx.ModelProto:
    """The model, checked with onnx.checker (full check: shape inference as well)."""
    g = _Graph(np.random.default_rng(seed))
    x = g.max_pool("maxpool", g.relu("relu", g.conv_bn("conv1", "bn1", "image", 3, 64, 7, 2)))
    channels = 64
    for stage, (width, blocks, stride) in enumerate(STAGES, start=1):
        for block in range(blocks):
            x = g.bottleneck(f"layer{stage}.{block}", x, channels, width, stride if block == 0 else 1)
            channels = width * EXPANSION
    x = g.node("Flatten", "flatten", [g.node("GlobalAveragePool", "avgpool", [x])], axis=1)
    bound = 1 / np.sqrt(channels)
    fc_weight = g.constant("fc.weight", g.rng.uniform(-bound, bound, (CLASSES, channels)))
    fc_bias = g.constant("fc.bias", g.rng.uniform(-bound, bound, CLASSES))
    g.nodes.append(helper.make_node("Gemm", [x, fc_weight, fc_bias], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        g.nodes, NAME,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        g.initializers,
    )
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model, full_check=True)
    return model


def make_all(out: Path, prefix: str | tuple[str, ...] = "") -> list[str]:
    """Writes the model as `out/repository/resnet50/1/model.onnx` (the layout of scripts/make_test_models.py's
    make_all, which the benchmark reads) when its name starts with `prefix`."""
    if not NAME.startswith(prefix):
        return []
    directory = out / "repository" / NAME / "1"
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save_model(resnet50(), directory / "model.onnx")
    return [NAME]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="output directory (default .)")
    args = parser.parse_args()
    make_all(args.out)
    print(f"wrote {args.out / 'repository' / NAME / '1' / 'model.onnx'}")


if __name__ == "__main__":
    main()
