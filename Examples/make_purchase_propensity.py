#!/usr/bin/env python3
"""Train a purchase-propensity MLP on the Online Retail transaction log and export it as ONNX.

The model answers: "will this registered customer buy anything in the next 90 days?"

The label window is the last 90 days of the log (2011-09-11..2011-12-09); the eight features describe each
customer's history before that window. Only customers who bought at least once before the cutoff are scored.
Customers are split 80/20 into training and validation sets; the network is trained with plain numpy
(mini-batch Adam on binary cross-entropy, fixed seed) and exported as an opset-17 ONNX graph that takes raw
feature values and standardizes them itself:

    features[batch, 8] -> Sub(mean) -> Div(std) -> Gemm(8->16) -> Relu -> Gemm(16->8) -> Relu
                       -> Gemm(8->1) -> Sigmoid -> probability[batch, 1]

The script also writes an example request (two real validation customers) for the ZServe CLI.

Run from the repository root:  .venv/bin/python Examples/make_purchase_propensity.py
"""

import argparse
import csv
import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = (REPO_ROOT / ".." / "shared" / "data" / "online-retail").resolve()
DEFAULT_OUT = REPO_ROOT / "Examples" / "model-repository" / "purchase_propensity" / "1" / "model.onnx"
DEFAULT_REQUEST = REPO_ROOT / "Examples" / "requests" / "purchase_propensity.json"

HORIZON_DAYS = 90
SEED = 20111209
VALIDATION_SHARE = 0.2
HIDDEN = (16, 8)
EPOCHS = 40
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4

FEATURES = (
    ("recency_days", "days from the last purchase to the cutoff"),
    ("frequency", "number of purchase invoices"),
    ("monetary_total", "net spend in GBP, cancellations subtracted"),
    ("mean_basket_value", "mean purchase invoice value in GBP"),
    ("distinct_products", "number of distinct stock codes bought"),
    ("tenure_days", "days from the first purchase to the cutoff"),
    ("cancelled_share", "cancelled invoices / all invoices, 0..1"),
    ("is_uk", "1 if the customer's country is the United Kingdom, else 0"),
)


@dataclass
class History:
    """One customer's transactions before the cutoff, aggregated."""

    purchase_invoices: set = field(default_factory=set)
    cancelled_invoices: set = field(default_factory=set)
    products: set = field(default_factory=set)
    net_spend: float = 0.0
    purchase_spend: float = 0.0
    first_day: dt.date = dt.date.max
    last_day: dt.date = dt.date.min
    country: str = ""


@dataclass
class Dataset:
    """Feature matrix, labels and customer ids, plus the date windows they were built from."""

    customer_ids: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    first_day: dt.date
    cutoff: dt.date
    last_day: dt.date
    rows_read: int


def read_rows(data_dir):
    """Yield (invoice, stock_code, quantity, day, unit_price, customer_id, country) for rows with a CustomerID."""
    files = sorted((data_dir / "by-day").glob("*.csv"))
    if not files:
        sys.exit(f"no CSV files under {data_dir / 'by-day'}")
    days = {}
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                customer = row["CustomerID"]
                if not customer:
                    continue
                stamp = row["InvoiceDate"][:10]
                day = days.get(stamp)
                if day is None:
                    day = days[stamp] = dt.date.fromisoformat(stamp)
                yield (row["InvoiceNo"], row["StockCode"], int(row["Quantity"]), day,
                       float(row["UnitPrice"]), int(float(customer)), row["Country"])


def build_dataset(data_dir):
    """Aggregate the log into per-customer features (before the cutoff) and labels (purchase after it)."""
    rows = list(read_rows(data_dir))
    first_day = min(row[3] for row in rows)
    last_day = max(row[3] for row in rows)
    cutoff = last_day + dt.timedelta(days=1 - HORIZON_DAYS)

    histories = {}
    returned = set()
    for invoice, stock_code, quantity, day, unit_price, customer, country in rows:
        cancelled = invoice.startswith("C")
        if day >= cutoff:
            if not cancelled:
                returned.add(customer)
            continue
        history = histories.setdefault(customer, History())
        amount = quantity * unit_price
        history.net_spend += amount
        if cancelled:
            history.cancelled_invoices.add(invoice)
            continue
        history.purchase_invoices.add(invoice)
        history.products.add(stock_code)
        history.purchase_spend += amount
        history.first_day = min(history.first_day, day)
        if day >= history.last_day:
            history.last_day = day
            history.country = country

    customers = sorted(c for c, h in histories.items() if h.purchase_invoices)
    features = np.array([customer_features(histories[c], cutoff) for c in customers], dtype=np.float64)
    labels = np.array([c in returned for c in customers], dtype=np.float64)
    return Dataset(np.array(customers), features, labels, first_day, cutoff, last_day, len(rows))


def customer_features(history, cutoff):
    """The feature vector of one customer, in FEATURES order."""
    frequency = len(history.purchase_invoices)
    invoices = frequency + len(history.cancelled_invoices)
    return [
        (cutoff - history.last_day).days,
        frequency,
        history.net_spend,
        history.purchase_spend / frequency,
        len(history.products),
        (cutoff - history.first_day).days,
        len(history.cancelled_invoices) / invoices,
        1.0 if history.country == "United Kingdom" else 0.0,
    ]


def split(count, rng):
    """Random train/validation index arrays."""
    order = rng.permutation(count)
    n_validation = int(round(count * VALIDATION_SHARE))
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def init_params(n_inputs, rng):
    """He-initialized weights [in, out] and zero biases for the three dense layers."""
    sizes = (n_inputs, *HIDDEN, 1)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out)))
        params.append(np.zeros(fan_out))
    return params


def forward(params, x):
    """Logits of standardized inputs x, plus the per-layer activations backprop needs."""
    activations = [x]
    for i in range(0, len(params) - 2, 2):
        activations.append(np.maximum(activations[-1] @ params[i] + params[i + 1], 0.0))
    return activations[-1] @ params[-2] + params[-1], activations


def bce_with_logits(logits, labels):
    """Mean binary cross-entropy, computed stably from logits."""
    return float(np.mean(np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))))


def gradients(params, x, labels):
    """Gradients of the mean cross-entropy (plus L2 on weights) with respect to every parameter."""
    logits, activations = forward(params, x)
    delta = (sigmoid(logits) - labels[:, None]) / len(x)
    grads = [None] * len(params)
    for layer in range(len(params) // 2 - 1, -1, -1):
        weight = params[2 * layer]
        grads[2 * layer] = activations[layer].T @ delta + WEIGHT_DECAY * weight
        grads[2 * layer + 1] = delta.sum(axis=0)
        if layer:
            delta = (delta @ weight.T) * (activations[layer] > 0)
    return grads


def sigmoid(z):
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-z))


def train(x_train, y_train, x_val, y_val, rng):
    """Mini-batch Adam on standardized inputs, printing both losses every 10 epochs; returns the parameters."""
    params = init_params(x_train.shape[1], rng)
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    step = 0
    for epoch in range(1, EPOCHS + 1):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            step += 1
            for i, grad in enumerate(gradients(params, x_train[batch], y_train[batch])):
                first[i] = beta1 * first[i] + (1 - beta1) * grad
                second[i] = beta2 * second[i] + (1 - beta2) * grad * grad
                m_hat = first[i] / (1 - beta1 ** step)
                v_hat = second[i] / (1 - beta2 ** step)
                params[i] = params[i] - LEARNING_RATE * m_hat / (np.sqrt(v_hat) + eps)
        if epoch % 10 == 0:
            train_loss = bce_with_logits(forward(params, x_train)[0][:, 0], y_train)
            val_loss = bce_with_logits(forward(params, x_val)[0][:, 0], y_val)
            print(f"  epoch {epoch:3d}  train loss {train_loss:.4f}  validation loss {val_loss:.4f}")
    return params


def roc_auc(labels, scores):
    """Area under the ROC curve via the rank-sum statistic (ties get their average rank)."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def best_single_feature(x, labels):
    """The feature that alone ranks customers best, with its AUC (either direction), as text."""
    aucs = [roc_auc(labels, x[:, j]) for j in range(x.shape[1])]
    best = int(np.argmax([max(a, 1 - a) for a in aucs]))
    direction = "higher" if aucs[best] >= 0.5 else "lower"
    return f"{FEATURES[best][0]} ({direction} = more likely), AUC {max(aucs[best], 1 - aucs[best]):.4f}"


def predict_float32(params, mean, std, raw):
    """The exported graph's computation in numpy float32: raw features -> probability [batch, 1]."""
    h = (raw.astype(np.float32) - mean) / std
    for i in range(0, len(params) - 2, 2):
        h = np.maximum(h @ params[i] + params[i + 1], np.float32(0))
    z = h @ params[-2] + params[-1]
    return np.float32(1) / (np.float32(1) + np.exp(-z))


def build_onnx(params, mean, std, metadata):
    """The ONNX model: standardization (Sub, Div) followed by the MLP (Gemm/Relu) and a Sigmoid.

    mean and std are stored as float_data, the Gemm weights and biases as raw_data, so readers of the model
    meet both tensor encodings.
    """
    n_features = len(mean)
    initializers = [
        helper.make_tensor("feature_mean", TensorProto.FLOAT, [n_features], mean.tolist()),
        helper.make_tensor("feature_std", TensorProto.FLOAT, [n_features], std.tolist()),
    ]
    nodes = [
        helper.make_node("Sub", ["features", "feature_mean"], ["centered"], name="center"),
        helper.make_node("Div", ["centered", "feature_std"], ["standardized"], name="scale"),
    ]
    previous = "standardized"
    n_layers = len(params) // 2
    for layer in range(n_layers):
        weight, bias = f"dense{layer + 1}_weight", f"dense{layer + 1}_bias"
        initializers.append(numpy_helper.from_array(params[2 * layer], weight))
        initializers.append(numpy_helper.from_array(params[2 * layer + 1], bias))
        logits = f"dense{layer + 1}"
        nodes.append(helper.make_node("Gemm", [previous, weight, bias], [logits], name=f"gemm{layer + 1}"))
        if layer < n_layers - 1:
            previous = f"relu{layer + 1}"
            nodes.append(helper.make_node("Relu", [logits], [previous], name=previous))
    nodes.append(helper.make_node("Sigmoid", [logits], ["probability"], name="sigmoid"))

    feature_doc = "; ".join(f"{name}: {unit}" for name, unit in FEATURES)
    graph = helper.make_graph(
        nodes,
        "purchase_propensity",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", n_features],
                                       doc_string=f"raw customer features in this order: {feature_doc}")],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1],
                                       doc_string=f"probability of a purchase in the next {HORIZON_DAYS} days")],
        initializer=initializers,
        doc_string="Sub/Div standardization, then a 16-8-1 ReLU MLP with a sigmoid output.",
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
        producer_name="ZServe Examples/make_purchase_propensity.py",
        doc_string=(f"Probability that an Online Retail customer buys anything in the {HORIZON_DAYS} days after "
                    f"the cutoff, from raw features of their history before it. Features: {feature_doc}."),
    )
    helper.set_model_props(model, metadata)
    return model


def write_request(path, rows):
    """The example request the ZServe CLI accepts: {"features": [[...], ...]}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    values = [[round(float(v), 4) for v in row] for row in rows]
    path.write_text(json.dumps({"features": values}) + "\n")


def parse_args():
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"Online Retail directory containing by-day/*.csv (default: {DEFAULT_DATA})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"ONNX file to write (default: {DEFAULT_OUT})")
    parser.add_argument("--request", type=Path, default=DEFAULT_REQUEST,
                        help=f"example request JSON to write (default: {DEFAULT_REQUEST})")
    return parser.parse_args()


def main():
    """Build the dataset, train, evaluate, export, verify the export, and write the example request."""
    args = parse_args()
    rng = np.random.default_rng(SEED)

    data = build_dataset(args.data)
    feature_window = f"{data.first_day}..{data.cutoff - dt.timedelta(days=1)}"
    label_window = f"{data.cutoff}..{data.last_day}"
    print(f"read {data.rows_read} rows with a CustomerID from {args.data}")
    print(f"features from {feature_window}, label = any purchase in {label_window}")
    print(f"{len(data.labels)} customers, {data.labels.mean():.1%} bought again")

    train_idx, val_idx = split(len(data.labels), rng)
    x_train, y_train = data.features[train_idx], data.labels[train_idx]
    x_val, y_val = data.features[val_idx], data.labels[val_idx]
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    print(f"training on {len(train_idx)} customers, validating on {len(val_idx)}")
    params = train((x_train - mean) / std, y_train, (x_val - mean) / std, y_val, rng)

    params32 = [p.astype(np.float32) for p in params]
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)
    val_prob = predict_float32(params32, mean32, std32, x_val)[:, 0]
    auc = roc_auc(y_val, val_prob)
    accuracy = float(np.mean((val_prob >= 0.5) == (y_val == 1)))
    majority = max(y_val.mean(), 1 - y_val.mean())
    print(f"validation AUC {auc:.4f}, accuracy {accuracy:.4f} (majority class {majority:.4f})")
    print(f"for comparison, best single feature on validation: {best_single_feature(x_val, y_val)}")

    metadata = {
        "feature_names": ",".join(name for name, _ in FEATURES),
        "feature_units": "; ".join(f"{name}: {unit}" for name, unit in FEATURES),
        "feature_window": feature_window,
        "label_window": label_window,
        "training_customers": str(len(train_idx)),
        "validation_customers": str(len(val_idx)),
        "validation_auc": f"{auc:.4f}",
        "validation_accuracy": f"{accuracy:.4f}",
        "dataset": "UCI Online Retail (Daqing Chen, Sai Liang Sain, Kun Guo, 2012), CC BY 4.0",
    }
    model = build_onnx(params32, mean32, std32, metadata)
    onnx.checker.check_model(model, full_check=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(args.out))
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")

    session = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    onnx_prob = session.run(["probability"], {"features": x_val.astype(np.float32)})[0]
    diff = np.abs(onnx_prob - predict_float32(params32, mean32, std32, x_val)).max()
    print(f"onnxruntime vs numpy on {len(x_val)} validation rows: max abs diff {diff:.3g}")
    if diff > 1e-5:
        sys.exit("ONNX output does not match the numpy forward pass")

    examples = [val_idx[np.flatnonzero(y_val == label)[0]] for label in (1, 0)]
    write_request(args.request, data.features[examples])
    print(f"wrote {args.request}: customers {', '.join(str(data.customer_ids[i]) for i in examples)} "
          f"(bought again: yes, no)")


if __name__ == "__main__":
    main()
