"""ai.onnx.ml fixtures for make_test_models.py: tree ensembles, linear models and preprocessing.

Two kinds:
  ml_*   graphs built with onnx.helper that exercise every attribute form (all node modes, NaN routes, aggregates,
         post transforms, base values, opset 5 TreeEnsemble with set membership, double thresholds)
  zoo_*  models trained here with real libraries (scikit-learn + skl2onnx, LightGBM / XGBoost + onnxmltools) on
         synthetic data; the fixture step checks each exported model against the library's own predictions
         (float32 tolerance) before writing onnxruntime's outputs as the reference.

Each builder takes a seeded numpy Generator and returns (model, feeds); `ML_BUILDERS` maps names to builders.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ML = "ai.onnx.ml"
Feeds = dict[str, np.ndarray]
ML_BUILDERS: dict[str, Callable[[np.random.Generator], tuple[onnx.ModelProto, Feeds]]] = {}
# The trained library models of the zoo builders, by model name: make_test_models.py saves each beside its reference
# data (library_model.joblib), and the runtime comparison times its own predict.
LIBRARY_MODELS: dict[str, object] = {}

LEGACY_MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
GRID = np.arange(-1.0, 1.01, 0.25)  # feature values and thresholds share this grid, so ties happen


def ml_register(builder):
    ML_BUILDERS[builder.__name__] = builder
    return builder


def ml_model(nodes, inputs, outputs, ml_opset: int = 3, opset: int = 17, initializers=()) -> onnx.ModelProto:
    """A model importing the default domain and ai.onnx.ml, checked by onnx.checker."""
    graph = helper.make_graph(list(nodes), "ml_graph", inputs, outputs, list(initializers))
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(ML, ml_opset)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    return model


def grid_features(rng: np.random.Generator, rows: int, features: int, nan_share: float = 0.1) -> np.ndarray:
    """Features on the threshold grid (exact ties), with some NaN."""
    x = rng.choice(GRID, size=(rows, features)).astype(np.float32)
    x[rng.random((rows, features)) < nan_share] = np.nan
    return x


def random_legacy_trees(rng, trees: int, depth: int, features: int, targets: int, modes, prefix: str,
                        all_targets: bool = False, positive: bool = False) -> dict:
    """Random trees in the opsets 1-3 attribute form; each leaf writes some (or all) targets."""
    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
                         "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                         f"{prefix}_treeids", f"{prefix}_nodeids", f"{prefix}_ids", f"{prefix}_weights")}
    for tree in range(trees):
        rows = []  # (node id, mode, feature, value, true id, false id, missing)
        counter = [0]

        def grow(level: int) -> int:
            node = counter[0]
            counter[0] += 1
            slot = len(rows)
            rows.append(None)
            if level == depth or (level > 0 and rng.random() < 0.2):
                rows[slot] = (node, "LEAF", 0, 0.0, 0, 0, 0)
                chosen = range(targets) if all_targets else sorted(
                    rng.choice(targets, size=rng.integers(1, targets + 1), replace=False))
                for t in chosen:
                    a[f"{prefix}_treeids"].append(tree)
                    a[f"{prefix}_nodeids"].append(node)
                    a[f"{prefix}_ids"].append(int(t))
                    w = rng.uniform(0, 1) if positive else rng.normal()
                    a[f"{prefix}_weights"].append(float(np.float32(w)))
                return node
            mode = str(rng.choice(modes))
            feature = int(rng.integers(features))
            value = float(rng.choice(GRID))
            true_id = grow(level + 1)
            false_id = grow(level + 1)
            rows[slot] = (node, mode, feature, value, true_id, false_id, int(rng.random() < 0.5))
            return node

        grow(0)
        for node, mode, feature, value, t, f, m in rows:
            a["nodes_treeids"].append(tree)
            a["nodes_nodeids"].append(node)
            a["nodes_modes"].append(mode)
            a["nodes_featureids"].append(feature)
            a["nodes_values"].append(value)
            a["nodes_truenodeids"].append(t)
            a["nodes_falsenodeids"].append(f)
            a["nodes_missing_value_tracks_true"].append(m)
    return a


def regressor(rng, name, *, targets, aggregate, post, base, modes=LEGACY_MODES, trees=12, depth=4, features=5,
              rows=64, double_input=False):
    a = random_legacy_trees(rng, trees, depth, features, targets, modes, "target")
    x = grid_features(rng, rows, features)
    attributes = dict(a, n_targets=targets, aggregate_function=aggregate, post_transform=post)
    if base is not None:
        attributes["base_values"] = [float(np.float32(v)) for v in rng.normal(size=base)]
    elem = TensorProto.FLOAT
    if double_input:
        x = x.astype(np.float64)
        elem = TensorProto.DOUBLE
        # thresholds and weights as double tensors (ai.onnx.ml opset 3)
        for key in ("nodes_values", "target_weights", "base_values"):
            if key in attributes:
                attributes[key + "_as_tensor"] = numpy_helper.from_array(
                    np.array(attributes.pop(key), dtype=np.float64) + (0.1 if key == "nodes_values" else 0.0))
    node = helper.make_node("TreeEnsembleRegressor", ["x"], ["y"], domain=ML, **attributes)
    model = ml_model([node], [helper.make_tensor_value_info("x", elem, ["N", features])],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT if not double_input else TensorProto.DOUBLE,
                                                    ["N", targets])])
    return model, {"x": x}


def register_regressor(name, **kwargs):
    def builder(rng):
        return regressor(rng, name, **kwargs)
    builder.__name__ = name
    ml_register(builder)


register_regressor("ml_tree_regressor_sum_one_target", targets=1, aggregate="SUM", post="NONE", base=1)
register_regressor("ml_tree_regressor_average_base", targets=3, aggregate="AVERAGE", post="NONE", base=3)
register_regressor("ml_tree_regressor_min", targets=2, aggregate="MIN", post="NONE", base=2)
register_regressor("ml_tree_regressor_max_one_target", targets=1, aggregate="MAX", post="NONE", base=None)
register_regressor("ml_tree_regressor_softmax", targets=3, aggregate="SUM", post="SOFTMAX", base=None)
register_regressor("ml_tree_regressor_logistic", targets=2, aggregate="SUM", post="LOGISTIC", base=2)
register_regressor("ml_tree_regressor_softmax_zero", targets=3, aggregate="MAX", post="SOFTMAX_ZERO", base=None)
register_regressor("ml_tree_regressor_logistic_one_target", targets=1, aggregate="SUM", post="LOGISTIC", base=1)
register_regressor("ml_tree_regressor_leq_only_wide", targets=1, aggregate="SUM", post="NONE", base=1,
                   modes=["BRANCH_LEQ"], trees=300, depth=7, features=20, rows=300)
register_regressor("ml_tree_regressor_lt_one_row", targets=1, aggregate="SUM", post="NONE", base=None,
                   modes=["BRANCH_LT"], trees=200, depth=6, features=8, rows=1)


def classifier(rng, *, classes, single_class, positive, post, base, trees=10, depth=4, features=5, rows=64,
               labels=None):
    targets = classes if not single_class else 1
    a = random_legacy_trees(rng, trees, depth, features, targets, LEGACY_MODES, "class",
                            all_targets=not single_class, positive=positive)
    if single_class:
        a["class_ids"] = [1 if classes == 2 and single_class == "positive" else 0 for _ in a["class_ids"]]
    attributes = dict(a, classlabels_int64s=labels or list(range(classes)), post_transform=post)
    if base is not None:
        attributes["base_values"] = [float(np.float32(v)) for v in rng.normal(size=base)]
    x = grid_features(rng, rows, features)
    node = helper.make_node("TreeEnsembleClassifier", ["x"], ["label", "scores"], domain=ML, **attributes)
    model = ml_model([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
                     [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
                      helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", classes])])
    return model, {"x": x}


def register_classifier(name, **kwargs):
    def builder(rng):
        return classifier(rng, **kwargs)
    builder.__name__ = name
    ml_register(builder)


# Binary models that score one class (skl2onnx / onnxmltools write these), positive (random forest) or mixed
# (boosting) weights, with and without base values, and both classes scored.
register_classifier("ml_tree_classifier_binary_positive", classes=2, single_class="first", positive=True,
                    post="NONE", base=None, labels=[3, 7])
register_classifier("ml_tree_classifier_binary_logistic", classes=2, single_class="first", positive=False,
                    post="LOGISTIC", base=1)
register_classifier("ml_tree_classifier_binary_mixed_none", classes=2, single_class="first", positive=False,
                    post="NONE", base=None)
register_classifier("ml_tree_classifier_binary_both", classes=2, single_class=None, positive=True,
                    post="NONE", base=None)
register_classifier("ml_tree_classifier_binary_both_base", classes=2, single_class=None, positive=False,
                    post="SOFTMAX", base=2)
register_classifier("ml_tree_classifier_multiclass_softmax", classes=4, single_class=None, positive=False,
                    post="SOFTMAX", base=4, labels=[10, 20, 30, 40])
register_classifier("ml_tree_classifier_multiclass_none", classes=3, single_class=None, positive=True,
                    post="NONE", base=None)
register_classifier("ml_tree_classifier_multiclass_logistic", classes=3, single_class=None, positive=False,
                    post="LOGISTIC", base=None)


def tree_ensemble_v5(rng, *, targets, aggregate, post, double, trees=8, depth=4, features=6, rows=48):
    """TreeEnsemble (ai.onnx.ml opset 5): branch nodes and leaves apart, every mode including MEMBER."""
    splits, feats, modes, tids, fids, tleaf, fleaf, missing, members = [], [], [], [], [], [], [], [], []
    leaf_targets, leaf_weights, roots = [], [], []

    def leaf() -> int:
        leaf_targets.append(int(rng.integers(targets)))
        leaf_weights.append(float(rng.normal()))
        return len(leaf_targets) - 1

    def grow(level: int) -> tuple[int, int]:
        if level == depth or (level > 0 and rng.random() < 0.2):
            return leaf(), 1
        index = len(splits)
        mode = int(rng.integers(7))
        splits.append(float(rng.choice(GRID)))
        feats.append(int(rng.integers(features)))
        modes.append(mode)
        missing.append(int(rng.random() < 0.5))
        if mode == 6:
            # onnxruntime implements set membership for integer values only
            members.extend([float(v) for v in rng.choice([-1.0, 0.0, 1.0, 2.0], size=2, replace=False)] + [np.nan])
        tids.append(0)
        fids.append(0)
        tleaf.append(0)
        fleaf.append(0)
        tids[index], tleaf[index] = grow(level + 1)
        fids[index], fleaf[index] = grow(level + 1)
        return index, 0

    for _ in range(trees):
        root, is_leaf = grow(0)
        roots.append(root)
    dtype = np.float64 if double else np.float32
    elem = TensorProto.DOUBLE if double else TensorProto.FLOAT
    node = helper.make_node(
        "TreeEnsemble", ["x"], ["y"], domain=ML,
        n_targets=targets, aggregate_function=aggregate, post_transform=post, tree_roots=roots,
        nodes_featureids=feats, nodes_modes=numpy_helper.from_array(np.array(modes, dtype=np.uint8)),
        nodes_splits=numpy_helper.from_array(np.array(splits, dtype=dtype)),
        nodes_truenodeids=tids, nodes_falsenodeids=fids, nodes_trueleafs=tleaf, nodes_falseleafs=fleaf,
        nodes_missing_value_tracks_true=missing,
        membership_values=numpy_helper.from_array(np.array(members or [np.nan], dtype=dtype)),
        leaf_targetids=leaf_targets, leaf_weights=numpy_helper.from_array(np.array(leaf_weights, dtype=dtype)))
    model = ml_model([node], [helper.make_tensor_value_info("x", elem, ["N", features])],
                     [helper.make_tensor_value_info("y", elem, ["N", targets])], ml_opset=5, opset=21)
    # Integer feature values: onnxruntime tests set membership on the value cast to an integer (-0.5 is taken for a
    # member of {0}), where the spec compares the value itself; on integers both agree.
    x = np.floor(grid_features(rng, rows, features) * 2)
    feeds = {"x": x.astype(dtype)}
    if post not in (1, 2):
        return model, feeds
    # onnxruntime 1.32 reads TreeEnsemble's post_transform codes 1 and 2 swapped (1 as LOGISTIC, 2 as SOFTMAX; the
    # spec says 1 SOFTMAX, 2 LOGISTIC). The reference is onnxruntime's untransformed scores with the spec's transform.
    raw_model = onnx.ModelProto()
    raw_model.CopyFrom(model)
    next(a for a in raw_model.graph.node[0].attribute if a.name == "post_transform").i = 0
    import onnxruntime as ort
    raw = ort.InferenceSession(raw_model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    if post == 1:
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        scores = e / e.sum(axis=1, keepdims=True)
    else:
        scores = 1 / (1 + np.exp(-raw))
    return model, feeds, [scores.astype(dtype)]


def register_v5(name, **kwargs):
    def builder(rng):
        return tree_ensemble_v5(rng, **kwargs)
    builder.__name__ = name
    ml_register(builder)


register_v5("ml_tree_ensemble_v5_sum", targets=2, aggregate=1, post=0, double=False)
register_v5("ml_tree_ensemble_v5_average_double", targets=3, aggregate=0, post=0, double=True)
register_v5("ml_tree_ensemble_v5_min", targets=3, aggregate=2, post=0, double=False)
register_v5("ml_tree_ensemble_v5_max", targets=2, aggregate=3, post=0, double=False)
register_v5("ml_tree_ensemble_v5_min_softmax", targets=3, aggregate=2, post=1, double=False)
register_v5("ml_tree_ensemble_v5_max_logistic", targets=2, aggregate=3, post=2, double=False)


# ---------------------------------------------------------------------------------------------------------------------
# Linear models and preprocessing, one operator each


def single_ml_node(op, inputs, outputs, feeds, ml_opset=3, initializers=(), **attributes):
    """A one-node ai.onnx.ml model; `inputs`/`outputs` are (name, elem type, shape) triples."""
    node = helper.make_node(op, [n for n, _, _ in inputs], [n for n, _, _ in outputs], domain=ML, **attributes)
    model = ml_model([node], [helper.make_tensor_value_info(*i) for i in inputs if i[0] in feeds],
                     [helper.make_tensor_value_info(*o) for o in outputs], ml_opset=ml_opset,
                     initializers=initializers)
    return model, feeds


FLOAT, INT64, DOUBLE = TensorProto.FLOAT, TensorProto.INT64, TensorProto.DOUBLE


@ml_register
def ml_linear_regressor_targets(rng):
    x = rng.standard_normal((16, 5)).astype(np.float32)
    return single_ml_node("LinearRegressor", [("x", FLOAT, ["N", 5])], [("y", FLOAT, ["N", 3])], {"x": x},
                          coefficients=rng.standard_normal(15).astype(np.float32).tolist(),
                          intercepts=rng.standard_normal(3).astype(np.float32).tolist(), targets=3,
                          post_transform="SOFTMAX")


@ml_register
def ml_linear_regressor_one_target(rng):
    x = rng.standard_normal((16, 4)).astype(np.float32)
    return single_ml_node("LinearRegressor", [("x", FLOAT, ["N", 4])], [("y", FLOAT, ["N", 1])], {"x": x},
                          coefficients=rng.standard_normal(4).astype(np.float32).tolist(), intercepts=[0.5])


@ml_register
def ml_linear_classifier_double_input(rng):
    x = rng.standard_normal((16, 4))
    return single_ml_node("LinearClassifier", [("x", DOUBLE, ["N", 4])],
                          [("label", INT64, ["N"]), ("scores", FLOAT, ["N", 2])], {"x": x},
                          coefficients=rng.standard_normal(8).astype(np.float32).tolist(), intercepts=[0.5, -0.5],
                          classlabels_ints=[1, 2], post_transform="SOFTMAX")


@ml_register
def ml_linear_classifier_multiclass(rng):
    x = rng.standard_normal((16, 5)).astype(np.float32)
    return single_ml_node("LinearClassifier", [("x", FLOAT, ["N", 5])],
                          [("label", INT64, ["N"]), ("scores", FLOAT, ["N", 3])], {"x": x},
                          coefficients=rng.standard_normal(15).astype(np.float32).tolist(),
                          intercepts=rng.standard_normal(3).astype(np.float32).tolist(), classlabels_ints=[4, 5, 6],
                          post_transform="LOGISTIC")


@ml_register
def ml_linear_classifier_binary_one_row(rng):
    x = rng.standard_normal((16, 5)).astype(np.float32)
    return single_ml_node("LinearClassifier", [("x", FLOAT, ["N", 5])],
                          [("label", INT64, ["N"]), ("scores", FLOAT, ["N", 2])], {"x": x},
                          coefficients=rng.standard_normal(5).astype(np.float32).tolist(), intercepts=[0.1],
                          classlabels_ints=[0, 1])


@ml_register
def ml_scaler_per_column(rng):
    x = rng.standard_normal((8, 4)).astype(np.float32)
    return single_ml_node("Scaler", [("x", FLOAT, ["N", 4])], [("y", FLOAT, ["N", 4])], {"x": x},
                          offset=[0.5, -1.0, 2.0, 0.0], scale=[2.0, 0.5, 1.5, -1.0])


@ml_register
def ml_scaler_int64_single(rng):
    x = rng.integers(-5, 5, (8, 3)).astype(np.int64)
    return single_ml_node("Scaler", [("x", INT64, ["N", 3])], [("y", FLOAT, ["N", 3])], {"x": x},
                          offset=[1.5], scale=[0.25])


def normalizer(norm):
    def builder(rng):
        x = rng.standard_normal((8, 5)).astype(np.float32)
        x[0] = 0
        return single_ml_node("Normalizer", [("x", FLOAT, ["N", 5])], [("y", FLOAT, ["N", 5])], {"x": x}, norm=norm)
    builder.__name__ = f"ml_normalizer_{norm.lower()}"
    ml_register(builder)


for _norm in ("MAX", "L1", "L2"):
    normalizer(_norm)


@ml_register
def ml_binarizer(rng):
    x = rng.standard_normal((6, 5)).astype(np.float32)
    x[0, 0] = 0.25
    return single_ml_node("Binarizer", [("x", FLOAT, ["N", 5])], [("y", FLOAT, ["N", 5])], {"x": x}, threshold=0.25)


@ml_register
def ml_imputer_nan(rng):
    x = rng.standard_normal((8, 3)).astype(np.float32)
    x[rng.random(x.shape) < 0.3] = np.nan
    return single_ml_node("Imputer", [("x", FLOAT, ["N", 3])], [("y", FLOAT, ["N", 3])], {"x": x},
                          imputed_value_floats=[1.0, 2.0, 3.0], replaced_value_float=float("nan"))


@ml_register
def ml_imputer_int64(rng):
    x = rng.integers(-1, 3, (8, 3)).astype(np.int64)
    return single_ml_node("Imputer", [("x", INT64, ["N", 3])], [("y", INT64, ["N", 3])], {"x": x},
                          imputed_value_int64s=[7], replaced_value_int64=-1)


@ml_register
def ml_one_hot_encoder(rng):
    x = rng.integers(0, 6, (8, 2)).astype(np.int64)
    return single_ml_node("OneHotEncoder", [("x", INT64, ["N", 2])], [("y", FLOAT, ["N", 2, 4])], {"x": x},
                          cats_int64s=[1, 2, 3, 5], zeros=1)


@ml_register
def ml_label_encoder_int_to_float(rng):
    x = rng.integers(0, 8, (10,)).astype(np.int64)
    return single_ml_node("LabelEncoder", [("x", INT64, ["N"])], [("y", FLOAT, ["N"])], {"x": x}, ml_opset=2,
                          keys_int64s=[1, 3, 5, 7], values_floats=[0.5, 1.5, 2.5, 3.5], default_float=-1.0)


@ml_register
def ml_label_encoder_float_to_int(rng):
    x = rng.choice([0.5, 1.5, 2.5, 9.0], (10,)).astype(np.float32)
    return single_ml_node("LabelEncoder", [("x", FLOAT, ["N"])], [("y", INT64, ["N"])], {"x": x}, ml_opset=2,
                          keys_floats=[0.5, 1.5, 2.5], values_int64s=[10, 20, 30], default_int64=-7)


@ml_register
def ml_array_feature_extractor(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    idx = numpy_helper.from_array(np.array([5, 0, 3], dtype=np.int64), "idx")
    return single_ml_node("ArrayFeatureExtractor", [("x", FLOAT, ["N", 6]), ("idx", INT64, [3])],
                          [("y", FLOAT, ["N", 3])], {"x": x}, initializers=[idx])


@ml_register
def ml_feature_vectorizer(rng):
    a = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    return single_ml_node("FeatureVectorizer", [("a", FLOAT, ["N", 3]), ("b", FLOAT, ["N", 2])],
                          [("y", FLOAT, ["N", 6])], {"a": a, "b": b}, inputdimensions=[2, 4])


# String tensors: encoders and mappers over strings, string class labels, the string operators

STRING = TensorProto.STRING
CHANNELS = np.array(["web", "app", "store", "marketplace", "phone"], dtype=object)


def string_column(rng, rows: int, values=CHANNELS) -> np.ndarray:
    """Strings drawn from `values` (and one value no category lists, for the unknown-key routes)."""
    pool = np.concatenate([values, np.array(["unknown-ä"], dtype=object)])
    return rng.choice(pool, rows).astype(object)


@ml_register
def ml_label_encoder_string_to_int(rng):
    x = string_column(rng, 12)
    return single_ml_node("LabelEncoder", [("x", STRING, ["N"])], [("y", INT64, ["N"])], {"x": x}, ml_opset=2,
                          keys_strings=["web", "app", "store"], values_int64s=[3, 5, 7], default_int64=-4)


@ml_register
def ml_label_encoder_int_to_string(rng):
    x = rng.integers(0, 6, (3, 4)).astype(np.int64)
    return single_ml_node("LabelEncoder", [("x", INT64, ["N", 4])], [("y", STRING, ["N", 4])], {"x": x},
                          ml_opset=2, keys_int64s=[0, 2, 4], values_strings=["zero", "two", "vier"],
                          default_string="other")


@ml_register
def ml_label_encoder_string_to_string_tensors(rng):
    x = string_column(rng, 10)
    keys = helper.make_tensor("keys", STRING, [3], [b"web", b"app", b"phone"])
    values = helper.make_tensor("values", STRING, [3], [b"online", b"online", b"call centre"])
    default = helper.make_tensor("default", STRING, [1], [b"elsewhere"])
    return single_ml_node("LabelEncoder", [("x", STRING, ["N"])], [("y", STRING, ["N"])], {"x": x}, ml_opset=4,
                          keys_tensor=keys, values_tensor=values, default_tensor=default)


@ml_register
def ml_category_mapper_to_int(rng):
    x = string_column(rng, 9).reshape(3, 3)
    return single_ml_node("CategoryMapper", [("x", STRING, ["N", 3])], [("y", INT64, ["N", 3])], {"x": x},
                          cats_strings=["web", "app", "store"], cats_int64s=[10, 20, 30], default_int64=99)


@ml_register
def ml_category_mapper_to_string(rng):
    x = rng.integers(5, 35, (8,)).astype(np.int64) // 10 * 10
    return single_ml_node("CategoryMapper", [("x", INT64, ["N"])], [("y", STRING, ["N"])], {"x": x},
                          cats_strings=["web", "app", "store"], cats_int64s=[10, 20, 30], default_string="none")


@ml_register
def ml_one_hot_encoder_strings(rng):
    x = string_column(rng, 10).reshape(5, 2)
    return single_ml_node("OneHotEncoder", [("x", STRING, ["N", 2])], [("y", FLOAT, ["N", 2, 4])], {"x": x},
                          cats_strings=["web", "app", "store", "phone"], zeros=1)


@ml_register
def ml_array_feature_extractor_strings(rng):
    x = string_column(rng, 12).reshape(3, 4)
    idx = numpy_helper.from_array(np.array([3, 0], dtype=np.int64), "idx")
    return single_ml_node("ArrayFeatureExtractor", [("x", STRING, ["N", 4]), ("idx", INT64, [2])],
                          [("y", STRING, ["N", 2])], {"x": x}, initializers=[idx])


@ml_register
def ml_string_operators(rng):
    """Normalise, split, rejoin and test strings: Cast, StringNormalizer-free ops of opset 20 in one graph."""
    words = np.array(["Web.Shop", "app.ios", "store", "Phone.order.now", "", "web.shop"], dtype=object)
    nodes = [
        helper.make_node("StringSplit", ["x"], ["parts", "counts"], delimiter=".", maxsplit=1),
        helper.make_node("StringConcat", ["x", "suffix"], ["tagged"]),
        helper.make_node("RegexFullMatch", ["x"], ["is_shop"], pattern=r"(?i)[a-z]+\.shop"),
        helper.make_node("Equal", ["x", "web"], ["is_web"]),
        helper.make_node("Cast", ["counts"], ["counts_text"], to=STRING),
        helper.make_node("Where", ["is_web", "x", "suffix"], ["picked"]),
    ]
    initializers = [helper.make_tensor("suffix", STRING, [1], [b"|tag"]),
                    helper.make_tensor("web", STRING, [], [b"web.shop"])]
    graph = helper.make_graph(
        nodes, "strings", [helper.make_tensor_value_info("x", STRING, ["N"])],
        [helper.make_tensor_value_info(name, kind, shape) for name, kind, shape in [
            ("parts", STRING, ["N", "K"]), ("counts", INT64, ["N"]), ("tagged", STRING, ["N"]),
            ("is_shop", TensorProto.BOOL, ["N"]), ("counts_text", STRING, ["N"]), ("picked", STRING, ["N"])]],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    return model, {"x": words}


@ml_register
def ml_tfidf_titles(rng):
    """Product titles split into words, then TF-IDF over a pool of words and word pairs (skips up to 1)."""
    titles = np.array(["WHITE HANGING HEART T-LIGHT HOLDER", "RED HEART T-LIGHT HOLDER", "WHITE METAL LANTERN",
                       "HEART OF WICKER SMALL", "set of 3 heart cookie cutters", ""], dtype=object)
    words = ["WHITE", "HEART", "T-LIGHT", "HOLDER", "LANTERN", "WICKER", "RED", "WHITE", "HEART", "T-LIGHT", "HOLDER",
             "HEART", "HOLDER", "HEART", "T-LIGHT"]
    nodes = [
        helper.make_node("StringSplit", ["x"], ["tokens", "counts"]),
        helper.make_node("TfIdfVectorizer", ["tokens"], ["y"], mode="TFIDF", min_gram_length=1, max_gram_length=2,
                         max_skip_count=1, ngram_counts=[0, 7], ngram_indexes=list(range(11)),
                         pool_strings=words, weights=[0.5, 0.8, 1.1, 1.0, 2.0, 2.5, 1.7, 3.0, 2.2, 1.9, 2.4]),
    ]
    graph = helper.make_graph(nodes, "tfidf", [helper.make_tensor_value_info("x", STRING, ["N"])],
                              [helper.make_tensor_value_info("y", FLOAT, ["N", 11])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    return model, {"x": titles}


@ml_register
def ml_string_normalizer(rng):
    x = np.array([["Monday", "TUESDAY", "the", "Wednesday", "The"]], dtype=object)
    # onnxruntime builds the named locale (default en_US.UTF-8, which these machines lack); C is everywhere.
    node = helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action="LOWER", is_case_sensitive=0, locale="C",
                            stopwords=["the", "monday"])
    graph = helper.make_graph([node], "normalize", [helper.make_tensor_value_info("x", STRING, [1, 5])],
                              [helper.make_tensor_value_info("y", STRING, [1, None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    return model, {"x": x}


@ml_register
def ml_cast_strings(rng):
    """Numbers written as strings and strings read as numbers (integers and floats with exact text forms)."""
    text = np.array(["1.5", "-2", " 7.25", "1e3", "-0.125", "42"], dtype=object)
    nodes = [helper.make_node("Cast", ["text"], ["as_float"], to=FLOAT),
             helper.make_node("Cast", ["ids"], ["ids_text"], to=STRING)]
    graph = helper.make_graph(
        nodes, "casts", [helper.make_tensor_value_info("text", STRING, ["N"]),
                         helper.make_tensor_value_info("ids", INT64, ["N"])],
        [helper.make_tensor_value_info("as_float", FLOAT, ["N"]),
         helper.make_tensor_value_info("ids_text", STRING, ["N"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    return model, {"text": text, "ids": np.array([0, -3, 17, 123456789012, -1, 9], dtype=np.int64)}


# ---------------------------------------------------------------------------------------------------------------------
# Zoo: models trained with the real libraries and exported with their converters

ZOO_ROWS = 256  # reference batch (the benchmark times batch 1 and 256)


def shop_features(rng: np.random.Generator, rows: int, features: int, nan_share: float = 0.0) -> np.ndarray:
    """Synthetic e-commerce-like features: prices (log-normal), counts (Poisson), ratios, with optional gaps."""
    columns = []
    for j in range(features):
        kind = j % 3
        if kind == 0:
            columns.append(rng.lognormal(3, 1, rows))
        elif kind == 1:
            columns.append(rng.poisson(3, rows).astype(float))
        else:
            columns.append(rng.uniform(0, 1, rows))
    x = np.stack(columns, axis=1).astype(np.float32)
    if nan_share:
        x[rng.random(x.shape) < nan_share] = np.nan
    return x


def shop_target(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A non-linear target of the features (a demand-like response)."""
    z = np.nan_to_num(x, nan=0.0)
    return (np.log1p(z[:, 0]) * 0.8 - 0.3 * z[:, 1] + 2 * np.sin(3 * z[:, 2]) + 0.5 * z[:, 4] * (z[:, 5] > 0.5)
            + 0.1 * rng.standard_normal(len(x)))


def check_close(name: str, ours: np.ndarray, theirs: np.ndarray, rtol: float = 1e-4, atol: float = 1e-4) -> None:
    """Fails the fixture step when the exported model does not reproduce the library's own predictions."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if not np.allclose(ours, theirs, rtol=rtol, atol=atol):
        worst = np.max(np.abs(ours - theirs))
        raise ValueError(f"{name}: the exported model differs from the library's predict by up to {worst}")


def ort_run(model: onnx.ModelProto, feeds: Feeds) -> list[np.ndarray]:
    import onnxruntime as ort
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def float_type(features: int):
    from skl2onnx.common.data_types import FloatTensorType
    return [("x", FloatTensorType([None, features]))]


@ml_register
def zoo_lightgbm_regressor(rng):
    """LightGBM demand regressor: 500 trees of 63 leaves, features with gaps (missing-value routes)."""
    import lightgbm as lgb
    import onnxmltools
    x = shop_features(rng, 3000, 24, nan_share=0.02)
    y = shop_target(x, rng)
    model = lgb.LGBMRegressor(n_estimators=500, num_leaves=63, learning_rate=0.05, min_child_samples=5,
                              max_bin=63, subsample=0.8, subsample_freq=1, n_jobs=1, force_col_wise=True,
                              verbose=-1, random_state=1)
    model.fit(x, y)
    onx = onnxmltools.convert_lightgbm(model, initial_types=float_type(24), target_opset=15, zipmap=False)
    feeds = {"x": shop_features(rng, ZOO_ROWS, 24, nan_share=0.02)}
    check_close("zoo_lightgbm_regressor", ort_run(onx, feeds)[0].ravel(), model.predict(feeds["x"]))
    LIBRARY_MODELS["zoo_lightgbm_regressor"] = model
    return onx, feeds


@ml_register
def zoo_xgboost_classifier(rng):
    """XGBoost purchase-propensity classifier: 300 trees of depth 8, binary."""
    import onnxmltools
    import xgboost as xgb
    x = shop_features(rng, 3000, 24, nan_share=0.02)
    y = (shop_target(x, rng) > 1.0).astype(int)
    model = xgb.XGBClassifier(n_estimators=300, max_depth=8, learning_rate=0.1, tree_method="hist", max_bin=63,
                              n_jobs=1, random_state=1)
    model.fit(x, y)
    from onnxmltools.convert.common.data_types import FloatTensorType
    onx = onnxmltools.convert_xgboost(model, initial_types=[("x", FloatTensorType([None, 24]))], target_opset=15)
    feeds = {"x": shop_features(rng, ZOO_ROWS, 24, nan_share=0.02)}
    outputs = ort_run(onx, feeds)
    check_close("zoo_xgboost_classifier", outputs[1], model.predict_proba(feeds["x"]))
    LIBRARY_MODELS["zoo_xgboost_classifier"] = model
    return onx, feeds


def skl_convert(model, features: int):
    from skl2onnx import to_onnx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sklearn.base import is_classifier
        try:
            return to_onnx(model, initial_types=float_type(features), target_opset={"": 17, ML: 3},
                           options={"zipmap": False} if is_classifier(model) else None)
        except NameError:  # a classifier without a ZipMap to remove (LinearSVC)
            return to_onnx(model, initial_types=float_type(features), target_opset={"": 17, ML: 3})


@ml_register
def zoo_sklearn_gradient_boosting(rng):
    """scikit-learn GradientBoostingRegressor (price model): 200 trees of depth 3."""
    from sklearn.ensemble import GradientBoostingRegressor
    x = shop_features(rng, 2000, 12)
    model = GradientBoostingRegressor(n_estimators=200, max_depth=3, random_state=1).fit(x, shop_target(x, rng))
    onx = skl_convert(model, 12)
    feeds = {"x": shop_features(rng, ZOO_ROWS, 12)}
    check_close("zoo_sklearn_gradient_boosting", ort_run(onx, feeds)[0].ravel(), model.predict(feeds["x"]))
    LIBRARY_MODELS["zoo_sklearn_gradient_boosting"] = model
    return onx, feeds


@ml_register
def zoo_sklearn_random_forest(rng):
    """scikit-learn RandomForestClassifier (3 segments): 100 trees of depth ≤ 10, scores as a tensor."""
    from sklearn.ensemble import RandomForestClassifier
    x = shop_features(rng, 2000, 12)
    y = np.digitize(shop_target(x, rng), [0.5, 2.0])
    model = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=1, n_jobs=1).fit(x, y)
    onx = skl_convert(model, 12)
    feeds = {"x": shop_features(rng, ZOO_ROWS, 12)}
    check_close("zoo_sklearn_random_forest", ort_run(onx, feeds)[1], model.predict_proba(feeds["x"]))
    LIBRARY_MODELS["zoo_sklearn_random_forest"] = model
    return onx, feeds


@ml_register
def zoo_sklearn_gradient_boosting_classifier(rng):
    """scikit-learn GradientBoostingClassifier (click or not): 100 trees of depth 3, binary."""
    from sklearn.ensemble import GradientBoostingClassifier
    x = shop_features(rng, 2000, 12)
    y = (shop_target(x, rng) > 1.0).astype(int)
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=1).fit(x, y)
    onx = skl_convert(model, 12)
    feeds = {"x": shop_features(rng, ZOO_ROWS, 12)}
    check_close("zoo_sklearn_gradient_boosting_classifier", ort_run(onx, feeds)[1], model.predict_proba(feeds["x"]))
    LIBRARY_MODELS["zoo_sklearn_gradient_boosting_classifier"] = model
    return onx, feeds


@ml_register
def zoo_sklearn_pipeline(rng):
    """scikit-learn pipeline: StandardScaler on 6 numeric features + OneHotEncoder on 2 integer-coded categories +
    LogisticRegression (3 classes), exported with skl2onnx (scores as a tensor)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def features(rows):
        x = shop_features(rng, rows, 8)
        x[:, 6] = rng.integers(0, 5, rows)
        x[:, 7] = rng.integers(0, 3, rows)
        return x

    x = features(2000)
    y = np.digitize(shop_target(x, rng) + 0.5 * (x[:, 6] == 2), [0.5, 2.0])
    model = Pipeline([
        ("columns", ColumnTransformer([("num", StandardScaler(), list(range(6))),
                                       ("cat", OneHotEncoder(handle_unknown="ignore"), [6, 7])])),
        ("classify", LogisticRegression(max_iter=500)),
    ]).fit(x, y)
    onx = skl_convert(model, 8)
    feeds = {"x": features(ZOO_ROWS)}
    check_close("zoo_sklearn_pipeline", ort_run(onx, feeds)[1], model.predict_proba(feeds["x"]))
    LIBRARY_MODELS["zoo_sklearn_pipeline"] = model
    return onx, feeds


@ml_register
def zoo_sklearn_string_pipeline(rng):
    """scikit-learn pipeline over a shop's raw categorical columns (sales channel, country, price band, all
    strings): OneHotEncoder + LogisticRegression with string classes ("browse", "buy", "leave"), exported by
    skl2onnx with a string input and string labels (scores as a tensor)."""
    from skl2onnx.common.data_types import StringTensorType
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    countries = np.array(["United Kingdom", "Germany", "France", "EIRE", "Spain", "Netherlands"], dtype=object)
    bands = np.array(["< 1 £", "1–5 £", "5–20 £", "> 20 £"], dtype=object)

    def columns(rows):
        return np.stack([rng.choice(CHANNELS, rows), rng.choice(countries, rows), rng.choice(bands, rows)], axis=1)

    x = columns(2000)
    z = (1.5 * (x[:, 0] == "app") - (x[:, 1] == "EIRE") + 0.8 * (x[:, 2] == "1–5 £") - 0.6 * (x[:, 2] == "> 20 £")
         + 0.7 * rng.standard_normal(len(x)))
    y = np.array(["leave", "browse", "buy"], dtype=object)[np.digitize(z, [-0.2, 0.9])]
    model = Pipeline([("encode", OneHotEncoder(handle_unknown="ignore")),
                      ("classify", LogisticRegression(max_iter=500))]).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onx = to_onnx(model, initial_types=[("x", StringTensorType([None, 3]))], target_opset={"": 17, ML: 3},
                      options={id(model): {"zipmap": False}})
    feeds = {"x": columns(ZOO_ROWS)}
    feeds["x"][:3, 1] = "Atlantis"  # a country the encoder never saw: the zero row
    labels, scores = ort_run(onx, feeds)
    check_close("zoo_sklearn_string_pipeline", scores, model.predict_proba(feeds["x"]))
    if list(labels) != list(model.predict(feeds["x"])):
        raise ValueError("zoo_sklearn_string_pipeline: the exported labels differ from the library's predict")
    LIBRARY_MODELS["zoo_sklearn_string_pipeline"] = model
    return onx, feeds


@ml_register
def zoo_sklearn_forest_string_labels(rng):
    """scikit-learn RandomForestClassifier with string classes ("no", "yes": will the customer buy again), 50 trees
    of depth ≤ 8, exported by skl2onnx: TreeEnsembleClassifier with classlabels_strings."""
    from sklearn.ensemble import RandomForestClassifier
    x = shop_features(rng, 2000, 10)
    y = np.where(shop_target(x, rng) > 1.0, "yes", "no").astype(object)
    model = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=1, n_jobs=1).fit(x, y)
    onx = skl_convert(model, 10)
    feeds = {"x": shop_features(rng, ZOO_ROWS, 10)}
    labels, scores = ort_run(onx, feeds)
    check_close("zoo_sklearn_forest_string_labels", scores, model.predict_proba(feeds["x"]))
    if list(labels) != list(model.predict(feeds["x"])):
        raise ValueError("zoo_sklearn_forest_string_labels: the exported labels differ from the library's predict")
    LIBRARY_MODELS["zoo_sklearn_forest_string_labels"] = model
    return onx, feeds


def svm_data(rng, rows: int = 200, features: int = 6):
    x = rng.standard_normal((rows, features)).astype(np.float32)
    y = x[:, 0] * 1.5 - x[:, 1] ** 2 + 0.5 * np.sin(3 * x[:, 2]) + 0.1 * rng.standard_normal(rows)
    return x, y


def register_svm(name, make, classify: bool, labels_from=None):
    def builder(rng):
        x, y = svm_data(rng)
        if classify:
            y = np.digitize(y, labels_from)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SVC(probability=True) is deprecated in favour of calibration wrappers
            model = make().fit(x, y)
        onx = skl_convert(model, x.shape[1])
        feeds = {"x": rng.standard_normal((64, x.shape[1])).astype(np.float32)}
        outputs = ort_run(onx, feeds)
        if classify and hasattr(model, "predict_proba") and getattr(model, "probability", True):
            check_close(name, outputs[1], model.predict_proba(feeds["x"]), rtol=1e-3, atol=1e-3)
        elif not classify:
            check_close(name, outputs[0].ravel(), model.predict(feeds["x"]), rtol=1e-3, atol=1e-3)
        return onx, feeds
    builder.__name__ = name
    ml_register(builder)


def _svm_models():
    from sklearn.svm import SVC, SVR
    register_svm("ml_svm_regressor_rbf", lambda: SVR(kernel="rbf", C=1.0, gamma=0.2), False)
    register_svm("ml_svm_regressor_linear", lambda: SVR(kernel="linear", C=0.5), False)
    register_svm("ml_svm_regressor_poly", lambda: SVR(kernel="poly", degree=2, gamma=0.3, coef0=1.0), False)
    register_svm("ml_svm_classifier_rbf_binary", lambda: SVC(kernel="rbf", gamma=0.3), True, [0.0])
    register_svm("ml_svm_classifier_rbf_multiclass", lambda: SVC(kernel="rbf", gamma=0.3), True, [-0.5, 0.5])
    register_svm("ml_svm_classifier_rbf_probability", lambda: SVC(kernel="rbf", gamma=0.3, probability=True,
                                                                 random_state=0), True, [-0.5, 0.5])
    register_svm("ml_svm_classifier_sigmoid_binary_probability",
                 lambda: SVC(kernel="sigmoid", gamma=0.1, probability=True, random_state=0), True, [0.0])
    register_svm("ml_svm_classifier_linear", lambda: SVC(kernel="linear", C=0.5), True, [-0.5, 0.5])


_svm_models()


@ml_register
def ml_svm_classifier_liblinear_form(rng):
    """SVMClassifier without support vectors (coefficients per class, the liblinear form)."""
    x = rng.standard_normal((32, 4)).astype(np.float32)
    return single_ml_node("SVMClassifier", [("x", FLOAT, ["N", 4])],
                          [("label", INT64, ["N"]), ("scores", FLOAT, ["N", 3])], {"x": x},
                          coefficients=rng.standard_normal(12).astype(np.float32).tolist(), rho=[0.25],
                          classlabels_ints=[7, 8, 9], kernel_type="LINEAR", kernel_params=[0.0, 0.0, 1.0],
                          post_transform="SOFTMAX")
