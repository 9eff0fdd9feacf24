#!/usr/bin/env python3
"""ZServe's runtime vs onnxruntime on the e-commerce model zoo (`zoo_*` of scripts/make_test_models.py) and more.

Five suites (--suite), each written into its own section of docs/benchmarks.md:
  nn        the neural zoo (CTR MLP, two-tower, CNN, GRU, Transformer block), batches 1 and 64 (the default)
  ml        the ai.onnx.ml zoo (LightGBM, XGBoost, scikit-learn trees and pipeline), batches 1 and 256, on the
            fixtures' own feature rows (realistic values; up to 32 different batches taken in turn by both runtimes,
            since one repeated row lets the branch predictor learn every tree's path)
  topk      TopK on short rows (`topk_short_*`: 100 to 1,000 columns, k 1 to 20), batches 1 and 64
  int8      quantized models (quantize_dynamic MLP, MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv),
            batches 1 and 64
  resnet50  a ResNet-50-shaped float32 network (Benchmarks/resnet50_model.py, random weights, about 100 MB; not a
            test fixture), batches 1 and 16, 5 timed runs after 2 untimed ones by default (a batch-16 run takes
            1-2 s: with ZServe as fast as onnxruntime the suite takes about 4 minutes on 2 cores)

For every zoo model, at each batch size and thread count:

- ZServe: `zserve perf MODEL --batch B --threads T --iterations N --warmup W --json`, its p50 (in-process, inputs set
  and the model run per iteration; floats uniform in [-1, 1), integers 0).
- onnxruntime: the median of N `session.run` calls (after W untimed ones) on the same kind of inputs, with
  intra_op_num_threads=T, inter_op_num_threads=1, sequential execution and ORT_ENABLE_ALL graph optimizations (what
  users run), minus the Python binding overhead: the median of N runs, timed the same way just before and just after
  the model's (the two averaged), of an Identity model with the same inputs (each input copied to an output).

The two alternate per measurement (which goes first alternates too); each measurement is repeated `--repeats` times
(default 3), each time in a fresh zserve process and fresh onnxruntime sessions, and the median of the medians is
reported. Ratio = ZServe / onnxruntime: below 1 ZServe is faster.

Usage:
    Benchmarks/runtime_vs_onnxruntime.py [--suite nn|ml|topk|int8|resnet50] [--zserve PATH] [--models DIR]
                                         [--iterations N] [--json] [--write-docs]

--models DIR is an output directory of make_test_models.py (DIR/repository/zoo_*/1/model.onnx) or a model
repository (DIR/zoo_*/1/model.onnx), or for resnet50 one of resnet50_model.py (DIR/repository/resnet50/1/model.onnx);
by default the suite's models are generated into a temporary directory.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

REPO_ROOT = Path(__file__).resolve().parent.parent
MAKE_TEST_MODELS = REPO_ROOT / "scripts" / "make_test_models.py"
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = "## Runtime vs onnxruntime"
ZOO_PREFIX = "zoo_"


# ---------------------------------------------------------------------------------------------------------------------
# Models


class Suite(NamedTuple):
    prefix: str | tuple[str, ...]  # the models' names start with this
    ml: bool | None  # whether the models import ai.onnx.ml (None: either)
    batches: str  # default batch sizes
    heading: str  # docs section
    generator: Path = MAKE_TEST_MODELS  # script whose make_all(out, prefix) writes the models
    iterations: int = 1000  # default timed runs per measurement
    warmup: int = 100  # default untimed runs


SUITES = {
    "nn": Suite(ZOO_PREFIX, False, "1,64", SECTION),
    "ml": Suite(ZOO_PREFIX, True, "1,256", "## Tree ensembles and classic ML vs onnxruntime"),
    "topk": Suite("topk_short_", None, "1,64", "## TopK on short rows vs onnxruntime"),
    "int8": Suite(("dynamic_quantized", "matmul_integer", "qlinear_", "conv_integer"), None, "1,64",
                  "## Quantized (int8) models vs onnxruntime"),
    "resnet50": Suite("resnet50", None, "1,16", "## ResNet-50 vs onnxruntime",
                      generator=Path(__file__).resolve().parent / "resnet50_model.py", iterations=5, warmup=2),
}


def uses_ml_domain(path: Path) -> bool:
    return any(entry.domain == "ai.onnx.ml" for entry in onnx.load(str(path), load_external_data=False).opset_import)


def zoo_models(models_dir: Path | None, scratch: Path, suite: str = "nn") -> dict[str, Path]:
    """The suite's model files by name: from `models_dir`, else generated into `scratch` by the suite's generator
    (make_test_models.py unless the suite names another)."""
    entry = SUITES[suite]
    prefix, ml, generator = entry.prefix, entry.ml, entry.generator
    if models_dir is None:
        spec = importlib.util.spec_from_file_location(generator.stem, generator)
        sys.path.insert(0, str(generator.parent))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.make_all(scratch, prefix)
        models_dir = scratch
    repository = models_dir / "repository" if (models_dir / "repository").is_dir() else models_dir
    found = {
        entry.name: entry / "1" / "model.onnx"
        for entry in sorted(repository.iterdir())
        if entry.name.startswith(prefix) and (entry / "1" / "model.onnx").is_file()
        and (ml is None or uses_ml_domain(entry / "1" / "model.onnx") == ml)
    }
    if not found:
        raise SystemExit(f"no {prefix}* models of suite {suite} under {repository}")
    return found


def data_directory(path: Path) -> Path:
    """The reference inputs make_test_models.py wrote beside a repository model (<out>/reference/NAME/...)."""
    name = path.parent.parent.name
    directory = path.parent.parent.parent.parent / "reference" / name / "test_data_set_0"
    if not (directory / "input_0.pb").is_file():
        raise SystemExit(f"no reference inputs for {name} at {directory}: pass a make_test_models.py output as --models")
    return directory


def data_feeds(model: onnx.ModelProto, directory: Path, batch: int) -> list[dict[str, np.ndarray]]:
    """Up to 32 batches of consecutive reference rows (wrapping), as `zserve perf --inputs` takes them."""
    from onnx import numpy_helper
    names = [name for name, _, _ in input_specs(model)]
    arrays = [numpy_helper.to_array(onnx.load_tensor(str(directory / f"input_{i}.pb"))) for i in range(len(names))]
    available = min(array.shape[0] for array in arrays)
    sets = max(1, min(32, available // batch))
    return [
        {name: np.take(array, np.arange(s * batch, (s + 1) * batch) % array.shape[0], axis=0)
         for name, array in zip(names, arrays)}
        for s in range(sets)
    ]


def numpy_dtype(elem_type: int) -> np.dtype:
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def input_specs(model: onnx.ModelProto) -> list[tuple[str, int, list[int | None]]]:
    """(name, ONNX element type, shape with None for dimensions of any size) of each graph input."""
    initializers = {init.name for init in model.graph.initializer}
    specs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        shape = [dim.dim_value if dim.HasField("dim_value") else None for dim in tensor_type.shape.dim]
        specs.append((value.name, tensor_type.elem_type, shape))
    return specs


def make_feeds(model: onnx.ModelProto, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs like `zserve perf` makes them: the first dimension of any size is the batch, others 1; floats uniform in
    [-1, 1), everything else zeros."""
    feeds = {}
    for name, elem_type, declared in input_specs(model):
        shape = [dim if dim is not None else (batch if axis == 0 else 1) for axis, dim in enumerate(declared)]
        dtype = numpy_dtype(elem_type)
        if dtype.kind == "f":
            feeds[name] = rng.uniform(-1, 1, size=shape).astype(dtype)
        else:
            feeds[name] = np.zeros(shape, dtype=dtype)
    return feeds


def identity_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """A model with the same graph inputs as `model` whose outputs are Identity copies of them."""
    inputs, outputs, nodes = [], [], []
    for name, elem_type, declared in input_specs(model):
        shape = [dim if dim is not None else f"d{axis}" for axis, dim in enumerate(declared)]
        inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        outputs.append(helper.make_tensor_value_info(f"{name}_copy", elem_type, shape))
        nodes.append(helper.make_node("Identity", [name], [f"{name}_copy"]))
    graph = helper.make_graph(nodes, "identity", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


# ---------------------------------------------------------------------------------------------------------------------
# Timing


def zserve_p50(
    zserve: Path, model: Path, batch: int, threads: int, iterations: int, warmup: int, inputs: Path | None = None
) -> float:
    """`zserve perf`'s median per-batch latency in microseconds."""
    command = [
        str(zserve), "perf", str(model), "--batch", str(batch), "--threads", str(threads),
        "--iterations", str(iterations), "--warmup", str(warmup), "--json",
    ] + (["--inputs", str(inputs)] if inputs else [])
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({result.returncode}):\n{result.stderr}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return float(report["p50_us"])


def ort_session(model: onnx.ModelProto, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def ort_median(session: ort.InferenceSession, feeds: dict | list[dict], iterations: int, warmup: int) -> float:
    """The median of `iterations` timed `session.run` calls (after `warmup` untimed ones), in microseconds; a list of
    feeds is used in turn."""
    output_names = [output.name for output in session.get_outputs()]
    run = session.run
    turns = feeds if isinstance(feeds, list) else [feeds]
    for index in range(warmup):
        run(output_names, turns[index % len(turns)])
    samples = [0] * iterations
    clock = time.perf_counter_ns
    for index in range(iterations):
        feed = turns[index % len(turns)]
        start = clock()
        run(output_names, feed)
        samples[index] = clock() - start
    return statistics.median(samples) / 1000


def measure(
    zserve: Path, name: str, path: Path, batch: int, threads: int, iterations: int, warmup: int, repeats: int,
    inputs: Path | None = None,
) -> dict[str, Any]:
    """One table row: ZServe and onnxruntime alternately, `repeats` times each, medians of the medians. With
    `inputs` (a reference data directory) both take their rows from there, in turns."""
    model = onnx.load(str(path))
    feeds = (data_feeds(model, inputs, batch) if inputs
             else make_feeds(model, batch, np.random.default_rng(batch * 1000 + threads)))
    identity_proto = identity_model(model)
    zs, raw, overhead, corrected = [], [], [], []
    for repeat in range(repeats):

        def onnxruntime() -> None:
            # Fresh sessions per measurement, as ZServe gets a fresh process: onnxruntime's intra-op pool can settle
            # into a slower state for the rest of a session's life (seen with the GRU model at 2 threads).
            session, identity = ort_session(model, threads), ort_session(identity_proto, threads)
            # The overhead is timed just before and just after the model, and averaged, so that drift cancels.
            before = ort_median(identity, feeds, iterations, warmup)
            model_us = ort_median(session, feeds, iterations, warmup)
            identity_us = (before + ort_median(identity, feeds, iterations, warmup)) / 2
            del session, identity
            raw.append(model_us)
            overhead.append(identity_us)
            corrected.append(model_us - identity_us)

        if repeat % 2 == 0:
            zs.append(zserve_p50(zserve, path, batch, threads, iterations, warmup, inputs))
            onnxruntime()
        else:
            onnxruntime()
            zs.append(zserve_p50(zserve, path, batch, threads, iterations, warmup, inputs))
    zserve_us = statistics.median(zs)
    ort_us = statistics.median(corrected)
    library_us = library_median(inputs, feeds, iterations, warmup) if inputs else None
    return {
        "model": name,
        "batch": batch,
        "threads": threads,
        "zserve_p50_us": zserve_us,
        "onnxruntime_p50_us": ort_us,
        "ratio": zserve_us / ort_us if ort_us > 0 else None,
        "onnxruntime_raw_p50_us": statistics.median(raw),
        "library_p50_us": library_us,
        "library_ratio": zserve_us / library_us if library_us else None,
        "python_overhead_us": statistics.median(overhead),
        "zserve_runs_us": zs,
        "onnxruntime_corrected_runs_us": corrected,
    }


def library_median(inputs: Path, feeds: list[dict[str, np.ndarray]], iterations: int, warmup: int) -> float | None:
    """The median time of the trained library model's own `predict_proba` (classifiers) or `predict` on the same
    batches, in microseconds (Python call included: that is how the library is used); None without a saved model."""
    path = inputs.parent / "library_model.joblib"
    if not path.is_file():
        return None
    import joblib
    model = joblib.load(path)
    predict = getattr(model, "predict_proba", None) or model.predict
    arrays = [next(iter(feed.values())) for feed in feeds]
    iterations = max(20, iterations // 5)  # the libraries' Python entry points are slow at batch 1
    for index in range(max(1, warmup // 5)):
        predict(arrays[index % len(arrays)])
    samples = []
    for index in range(iterations):
        x = arrays[index % len(arrays)]
        start = time.perf_counter_ns()
        predict(x)
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def geomean(values: list[float]) -> float | None:
    values = [value for value in values if value is not None and value > 0]
    return math.exp(sum(math.log(value) for value in values) / len(values)) if values else None


def summarize(rows: list[dict[str, Any]], batches: list[int]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        f"geomean_ratio_batch_{batch}": geomean([row["ratio"] for row in rows if row["batch"] == batch])
        for batch in batches
    }
    summary["geomean_ratio_all"] = geomean([row["ratio"] for row in rows])
    ranked = sorted((row for row in rows if row["ratio"] is not None), key=lambda row: row["ratio"], reverse=True)
    summary["worst"] = [
        {key: row[key] for key in ("model", "batch", "threads", "ratio")} for row in ranked[:5]
    ]
    per_model: dict[str, list[float]] = {}
    for row in rows:
        per_model.setdefault(row["model"], []).append(row["ratio"])
    summary["geomean_ratio_by_model"] = {model: geomean(ratios) for model, ratios in per_model.items()}
    return summary


# ---------------------------------------------------------------------------------------------------------------------
# Output


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def markdown(rows: list[dict[str, Any]], summary: dict[str, Any], batches: list[int]) -> str:
    library = any(row.get("library_p50_us") for row in rows)
    extra_head = " library predict p50 µs | ratio ZServe/library |" if library else ""
    lines = [
        "| model | batch | threads | ZServe p50 µs | onnxruntime p50 µs (overhead-corrected) "
        "| ratio ZServe/onnxruntime |" + extra_head,
        "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if library else ""),
    ]
    for row in rows:
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        extra = ""
        if library:
            lib_ratio = "n/a" if not row.get("library_ratio") else f"{row['library_ratio']:.3f}×"
            extra = f" {fmt(row.get('library_p50_us'))} | {lib_ratio} |"
        lines.append(
            f"| {row['model']} | {row['batch']} | {row['threads']} | {fmt(row['zserve_p50_us'])} | "
            f"{fmt(row['onnxruntime_p50_us'])} | {ratio} |" + extra
        )
    lines.append("")
    parts = [f"batch {batch}: {fmt(summary[f'geomean_ratio_batch_{batch}'], 2)}×" for batch in batches]
    parts.append(f"all: {fmt(summary['geomean_ratio_all'], 2)}×")
    lines.append("Geometric mean of the ratios: " + ", ".join(parts) + ".")
    return "\n".join(lines)


def command_line() -> str:
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(Path.cwd())
    except ValueError:
        pass
    return shlex.join([".venv/bin/python", str(script), *sys.argv[1:]])


def git_revision() -> str:
    """HEAD's short hash, flagged when the runtime's sources (Sources/, Package.swift) have uncommitted changes."""
    try:
        revision = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "Sources", "Package.swift"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        return revision + (" + uncommitted changes to Sources/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def binary_time(zserve: Path) -> str:
    """When the zserve binary was built (its modification time, UTC), flagged when it is older than the last commit
    that changed the runtime's sources."""
    built = datetime.datetime.fromtimestamp(zserve.stat().st_mtime, datetime.timezone.utc)
    text = built.strftime("%Y-%m-%d %H:%M UTC")
    try:
        last = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%ct %h", "--", "Sources", "Package.swift"],
            capture_output=True, text=True, check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return text
    if last and int(last[0]) > zserve.stat().st_mtime:
        committed = datetime.datetime.fromtimestamp(int(last[0]), datetime.timezone.utc).strftime("%H:%M UTC")
        text += f" (older than runtime commit {last[1]} of {committed}: not what HEAD builds)"
        print(f"warning: {zserve} is older than runtime commit {last[1]}; rebuild for current figures", file=sys.stderr)
    return text


def docs_section(
    table: str, rows: list[dict[str, Any]], args: argparse.Namespace, started: datetime.datetime
) -> str:
    overheads = [row["python_overhead_us"] for row in rows]
    heading = SUITES[args.suite].heading
    models = {
        "nn": """The e-commerce model zoo of `scripts/make_test_models.py` (`zoo_*`): CTR MLP 64→256→256→1; two-tower retrieval over
5,000 items with TopK 50; the seed article's CNN (1×14×14 → Conv 32×3×3 → Relu → MaxPool 2 → 128 → 10); GRU session
model (20 items, hidden 64, 100 categories); a Transformer block (16×64, single-head attention, GELU MLP 256).""",
        "ml": """The ai.onnx.ml zoo of `scripts/ml_models.py`, trained at fixture time on synthetic shop features (24 or 12 columns:
log-normal prices, counts, ratios, 2 % gaps in the boosted models): LightGBM regressor (500 trees, 63 leaves,
onnxmltools), XGBoost binary classifier (300 trees, depth 8, onnxmltools), scikit-learn GradientBoostingRegressor
(200 trees, depth 3), GradientBoostingClassifier (100 trees, depth 3), RandomForestClassifier (100 trees, depth ≤ 10,
3 classes) and a pipeline (StandardScaler + OneHotEncoder + LogisticRegression), all through skl2onnx/onnxmltools.""",
        "topk": """TopK on short float rows (`topk_short_*` of `scripts/make_test_models.py`): rows of 100, 300 and 1,000 columns,
k 1, 5 and 20.""",
        "int8": """Quantized models of `scripts/make_test_models.py`: an MLP 40→64→32→1 quantized by onnxruntime's `quantize_dynamic`
(DynamicQuantizeLinear + MatMulInteger per layer; the only one whose first dimension is the batch), MatMulInteger
[2, 3, 5, 600] × [600, 7], QLinearMatMul [6, 48] × [48, 10], ConvInteger and QLinearConv on small images (the other
models have fixed shapes, so their batch-64 rows repeat batch 1). onnxruntime runs its own int8 kernels (u8·s8
with AVX-512 VNNI / AVX2 on these CPUs); ZServe shifts the operands by their zero points and multiplies them in
float32 (double past 2^24) with OpenBLAS.""",
        "resnet50": """A ResNet-50-shaped float32 network (`Benchmarks/resnet50_model.py`, random weights, about 100 MB,
generated into a temporary directory, not a test fixture): torchvision's resnet50 architecture, 7×7/2 stem convolution
+ BatchNormalization + Relu + 3×3/2 MaxPool, bottleneck stages [3, 4, 6, 3] (widths 64/128/256/512, ×4 expansion)
with 1×1 projection shortcuts, GlobalAveragePool, Flatten, Gemm 2048→1000, on [N, 3, 224, 224] images.
BatchNormalization nodes are separate from the convolutions, as exporters emit them without constant folding
(onnxruntime's ORT_ENABLE_ALL folds them into the convolutions at session creation).""",
    }[args.suite]
    inputs = ("the fixture's 256 feature rows, in up to 32 different batches taken in turn by both runtimes (and by "
              "the library's own `predict_proba` / `predict`, timed from Python as users call it, in the last "
              "columns: the library's thread settings as trained, one thread)"
              if args.suite == "ml" else "floats uniform in [-1, 1), integer ids 0")
    return f"""{heading}

`{command_line()}`

Run {started.strftime('%Y-%m-%d %H:%M UTC')}, nproc {nproc()} ({platform.machine()});
ZServe at {git_revision()}, binary built {binary_time(args.zserve)}; onnxruntime {ort.__version__};
{args.iterations} timed runs after {args.warmup} untimed ones per measurement, {args.repeats} measurements per row.

{models}
ZServe: `zserve perf --json` p50, in-process (inputs set and model run per iteration). onnxruntime: median of
`session.run` calls with the same thread count (intra-op T, inter-op 1, sequential, ORT_ENABLE_ALL) minus the Python
binding overhead, measured the same way before and after the model on an Identity model of the same inputs
({min(overheads):.1f}–{max(overheads):.1f} µs in this run). Inputs: {inputs}. The two
alternate; each row is the median of the per-measurement medians. Ratio = ZServe / onnxruntime: below 1× ZServe is
faster.

{table}
"""


def nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_docs(section: str, heading: str = SECTION) -> None:
    """Replaces the suite's section of docs/benchmarks.md (from `heading` up to the next "## " heading), or
    appends it."""
    text = DOCS.read_text()
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text)


# ---------------------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zserve", type=Path, default=REPO_ROOT / ".build" / "release" / "zserve")
    parser.add_argument("--models", type=Path, help="make_test_models.py output or model repository with zoo_* models")
    parser.add_argument("--iterations", type=int, help="timed runs per measurement (default 1000; 5 for resnet50)")
    parser.add_argument("--warmup", type=int, help="untimed runs first (default 100; 2 for resnet50)")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per row (default 5)")
    parser.add_argument("--suite", choices=sorted(SUITES), default="nn", help="which models (default nn)")
    parser.add_argument("--batches", help="comma-separated batch sizes (default 1,64; 1,256 for ml; 1,16 for resnet50)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--only", default="", help="only models whose names contain this")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--write-docs", action="store_true", help="replace the section of docs/benchmarks.md")
    args = parser.parse_args()
    if not args.zserve.is_file():
        raise SystemExit(f"no zserve binary at {args.zserve} (swift build -c release)")
    suite = SUITES[args.suite]
    args.iterations = suite.iterations if args.iterations is None else args.iterations
    args.warmup = suite.warmup if args.warmup is None else args.warmup
    batches = [int(value) for value in (args.batches or suite.batches).split(",")]
    thread_counts = [int(value) for value in args.threads.split(",")]
    started = datetime.datetime.now(datetime.timezone.utc)

    with tempfile.TemporaryDirectory(prefix="zserve-zoo-") as scratch:
        models = {
            name: path for name, path in zoo_models(args.models, Path(scratch), args.suite).items() if args.only in name
        }
        rows = []
        for name, path in models.items():
            for batch in batches:
                for threads in thread_counts:
                    inputs = data_directory(path) if args.suite == "ml" else None
                    row = measure(args.zserve, name, path, batch, threads, args.iterations, args.warmup, args.repeats,
                                  inputs)
                    rows.append(row)
                    print(
                        f"{name} batch {batch} threads {threads}: ZServe {row['zserve_p50_us']:.1f} µs, "
                        f"onnxruntime {row['onnxruntime_p50_us']:.1f} µs (raw {row['onnxruntime_raw_p50_us']:.1f}, "
                        f"overhead {row['python_overhead_us']:.1f}), ratio {fmt(row['ratio'], 2)}; runs: ZServe "
                        f"{' '.join(f'{v:.0f}' for v in row['zserve_runs_us'])}, onnxruntime "
                        f"{' '.join(f'{v:.0f}' for v in row['onnxruntime_corrected_runs_us'])}",
                        file=sys.stderr, flush=True,
                    )

    summary = summarize(rows, batches)
    table = markdown(rows, summary, batches)
    if args.json:
        print(json.dumps({
            "date": started.isoformat(timespec="seconds"),
            "nproc": nproc(),
            "command": command_line(),
            "zserve_revision": git_revision(),
            "onnxruntime_version": ort.__version__,
            "iterations": args.iterations,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "rows": rows,
            "summary": summary,
        }, indent=2))
    else:
        print(table)
    if args.write_docs:
        heading = suite.heading
        write_docs(docs_section(table, rows, args, started), heading)
        print(f"wrote {heading[3:]!r} into {DOCS}", file=sys.stderr)


if __name__ == "__main__":
    main()
