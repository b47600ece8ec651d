"""Evaluate's logic: test metrics and per-row predictions of a scored test split.

The task (`tasks.evaluate`) loads the network and reads the padded rows one row group at a time,
so the test split need not fit in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn import metrics as skmetrics

from rnn_retrain.config import ConfigSlice
from rnn_retrain.preprocessing import to_matrix
from rnn_retrain.serving import THRESHOLD, predict_probabilities

# Scoring reads the padding side to cut rows to their bucket; the padded input covers it.
CONFIG = ConfigSlice(output=(), also_reads=("text.padding",))

# Keras clips probabilities by this epsilon inside binary cross-entropy; we match it.
EPSILON = 1e-7


def compute_metrics(
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


def predictions_table(
    row_ids: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, threshold: float = THRESHOLD
) -> pa.Table:
    """Per-row predictions, keyed by snapshot row id, for later model comparisons."""
    return pa.table(
        {
            "row_id": pa.array(row_ids, pa.int64()),
            "label": pa.array(labels, pa.int8()),
            "probability": pa.array(probabilities, pa.float64()),
            "prediction": pa.array(probabilities >= threshold).cast(pa.int8()),
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
