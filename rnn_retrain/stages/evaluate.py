"""Evaluate's logic: test metrics and per-row predictions of a scored test split.

The task (`rnn_retrain.tasks.evaluate`) loads the network and reads the padded rows one row group at a time,
so the test split need not fit in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn import metrics as skmetrics

from rnn_retrain.config.retrain import ConfigSlice
from rnn_retrain.data.labels import metric_name, predicted_ids
from rnn_retrain.data.preprocessing import to_matrix
from rnn_retrain.model.serving import THRESHOLD, predict_probabilities

# Scoring reads the padding side to cut rows to their bucket; the padded input covers it.
CONFIG = ConfigSlice(output=(), also_reads=("text.padding",))

# Keras clips probabilities by this epsilon inside binary cross-entropy; we match it.
EPSILON = 1e-7


def compute_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    threshold: float = THRESHOLD,
    classes: list[str] | None = None,
) -> dict[str, float | int | None]:
    """Test metrics: binary ones for a probability vector, K-class ones for a matrix.

    A rows × K matrix of class probabilities gets `compute_class_metrics` (``classes`` name its
    columns); a vector, the positive class's probability, gets the binary metrics below.
    """
    if np.ndim(probabilities) == 2:
        names = classes or [str(index) for index in range(probabilities.shape[1])]
        return compute_class_metrics(labels, probabilities, names)
    return compute_binary_metrics(labels, probabilities, threshold)


def compute_binary_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float = THRESHOLD
) -> dict[str, float | int | None]:
    """Binary classification metrics at ``threshold``.

    Returns:
        loss (binary cross-entropy), accuracy, precision, recall, f1, roc_auc (None when the
        labels hold one class only), the confusion matrix cells (tn, fp, fn, tp) and rows.
    """
    labels = np.asarray(labels).astype(np.int64)
    clipped = np.clip(probabilities, EPSILON, 1 - EPSILON)
    predicted = (probabilities >= threshold).astype(np.int64)
    tn, fp, fn, tp = skmetrics.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    both_classes = len(np.unique(labels)) == 2
    return {
        "loss": float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))),
        "accuracy": float(skmetrics.accuracy_score(labels, predicted)),
        "precision": float(skmetrics.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skmetrics.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skmetrics.f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(skmetrics.roc_auc_score(labels, probabilities)) if both_classes else None,
        "tn": int(tn),
        "fp": int(fp),
        "fn": int(fn),
        "tp": int(tp),
        "rows": int(len(labels)),
    }


def compute_class_metrics(
    labels: np.ndarray, probabilities: np.ndarray, classes: list[str]
) -> dict[str, float | int | None]:
    """K-class metrics of a rows × K probability matrix, the most probable class predicted.

    Returns:
        loss (categorical cross-entropy), accuracy, f1_macro, f1_weighted, roc_auc_ovr (the
        mean one-vs-rest ROC-AUC over the classes present in the test rows; None if fewer
        than two are), per class ``precision_<name>`` and ``recall_<name>``, and rows. The
        confusion matrix is `confusion_matrix`.
    """
    labels = np.asarray(labels).astype(np.int64)
    predicted = predicted_ids(probabilities, THRESHOLD)
    ids = list(range(len(classes)))
    picked = np.clip(probabilities[np.arange(len(labels)), labels], EPSILON, 1.0)
    metrics: dict[str, float | int | None] = {
        "loss": float(-np.mean(np.log(picked))),
        "accuracy": float(skmetrics.accuracy_score(labels, predicted)),
        "f1_macro": float(
            skmetrics.f1_score(labels, predicted, labels=ids, average="macro", zero_division=0)
        ),
        "f1_weighted": float(
            skmetrics.f1_score(labels, predicted, labels=ids, average="weighted", zero_division=0)
        ),
        "roc_auc_ovr": one_vs_rest_auc(labels, probabilities),
    }
    precision, recall, _, _ = skmetrics.precision_recall_fscore_support(
        labels, predicted, labels=ids, zero_division=0
    )
    for name, class_precision, class_recall in zip(classes, precision, recall):
        metrics[f"precision_{metric_name(name)}"] = float(class_precision)
        metrics[f"recall_{metric_name(name)}"] = float(class_recall)
    metrics["rows"] = int(len(labels))
    return metrics


def one_vs_rest_auc(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Mean ROC-AUC of each class against the rest, over the classes it is defined for.

    A class's curve needs test rows of it and of other classes; a class absent from the test
    rows is left out, and with fewer than two classes present there is no figure (None).
    """
    present = np.unique(labels)
    if len(present) < 2:
        return None
    scores = [
        skmetrics.roc_auc_score(labels == class_id, probabilities[:, class_id])
        for class_id in present
    ]
    return float(np.mean(scores))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> list[list[int]]:
    """The K × K confusion matrix: row = true class id, column = predicted class id."""
    matrix = skmetrics.confusion_matrix(
        np.asarray(labels).astype(np.int64), predicted, labels=list(range(classes))
    )
    return matrix.astype(int).tolist()


def confusion_table(confusion: list[list[int]], classes: list[str]) -> pa.Table:
    """The confusion matrix as a table: the true class, then one count column per prediction."""
    columns = {"true_class": pa.array(classes, pa.string())}
    for index, name in enumerate(classes):
        columns[f"predicted_{name}"] = pa.array([row[index] for row in confusion], pa.int64())
    return pa.table(columns)


def predictions_table(
    row_ids: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, threshold: float = THRESHOLD
) -> pa.Table:
    """Per-row predictions, keyed by snapshot row id, for later model comparisons.

    ``prediction`` is the predicted class id. ``probability`` is, for binary labels, the
    positive class's probability; for K classes, the predicted class's.
    """
    predicted = predicted_ids(probabilities, threshold)
    shown = probabilities if probabilities.ndim == 1 else probabilities.max(axis=1)
    return pa.table(
        {
            "row_id": pa.array(row_ids, pa.int64()),
            "label": pa.array(labels, pa.int8()),
            "probability": pa.array(shown, pa.float64()),
            "prediction": pa.array(predicted, pa.int8()),
        }
    )


def score_test_rows(
    groups: Iterable[pa.Table], network: Any, length_buckets: list[int], padding: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test rows' ids, labels and probabilities, in row id order, one group at a time.

    ``groups`` are tables of padded rows (row_id, split, label, x).
    """
    parts = []
    for table in groups:
        test = table.filter(pc.equal(table["split"], "test"))
        if test.num_rows:
            x = to_matrix(test["x"])
            probabilities = predict_probabilities(network, x, length_buckets, padding)
            parts.append((test["row_id"].to_numpy(), test["label"].to_numpy(), probabilities))
    row_ids, labels, probabilities = (np.concatenate(column) for column in zip(*parts))
    order = np.argsort(row_ids, kind="stable")
    return row_ids[order], labels[order].astype(np.float32), probabilities[order]
