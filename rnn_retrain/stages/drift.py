"""Drift: how the reviews a model scores differ from the data it was trained and tested on.

Batch scoring (and the source watcher, for new training files, with ``drift`` on) measures four
figures of the reviews it scores, chunk by chunk (`DriftCounter`),
and compares each with the scoring version's reference (`DriftReference`): the training-data
profile the data gate wrote (vocabulary, out-of-vocabulary rate, token-length deciles) and the
version's own scores on its test rows (their deciles and each predicted class's share).

- **oov_rate**: the rise of the out-of-vocabulary token rate over the training data's;
- **length_psi**: population stability index of the token lengths over the training deciles;
- **score_psi**: the same index of the scores (a binary model's positive probability, a K-class
  model's top probability) over the test scores' deciles;
- **class_share**: the largest change of any predicted class's share.

A figure above its limit marks the data drifted. The measures are the data gate's own
(`rnn_retrain.stages.validate`), so a retrain's gate and a drift report read alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnn_retrain.data.labels import predicted_ids
from rnn_retrain.data.preprocessing import tokenize_texts
from rnn_retrain.model.serving import THRESHOLD
from rnn_retrain.results import Finding
from rnn_retrain.stages.validate import count_oov, decile_psi, deciles, rate


class DriftLimits(Protocol):
    """The limits a drift report judges by: `ScoreConfig`'s or `WatchSettings`'s fields."""

    @property
    def max_oov_increase(self) -> float: ...

    @property
    def max_psi(self) -> float: ...

    @property
    def max_class_share_change(self) -> float: ...


@dataclass(frozen=True)
class DriftReference:
    """What a version's data looked like: its training profile and its test scores."""

    vocabulary: pa.Array
    oov_rate: float
    length_deciles: list[float]
    score_deciles: list[float]
    class_shares: list[float]


def drift_reference(
    profile: dict[str, Any], test_predictions: pa.Table, classes: int
) -> DriftReference:
    """The reference of a version, from its data profile and its evaluation predictions
    (``probability`` and ``prediction`` per test row, `rnn_retrain.stages.evaluate`)."""
    predicted = test_predictions["prediction"].to_numpy().astype(np.int64)
    return DriftReference(
        vocabulary=pa.array(profile["vocabulary"], pa.string()),
        oov_rate=float(profile["oov_rate"]),
        length_deciles=list(profile["length_deciles"]),
        score_deciles=deciles(test_predictions["probability"].to_numpy()),
        class_shares=class_shares(predicted, classes),
    )


def class_shares(predicted: np.ndarray, classes: int) -> list[float]:
    """Each class's share of the predicted class ids."""
    counts = np.bincount(predicted, minlength=classes)[:classes]
    return [float(count) for count in counts / max(len(predicted), 1)]


@dataclass
class DriftCounter:
    """The figures of the scored reviews, gathered chunk by chunk against a ``reference`` of
    ``classes`` classes: a length, a score and a class a row (16 bytes), and two counts; never
    the texts."""

    reference: DriftReference
    classes: int
    oov: np.ndarray = field(default_factory=lambda: np.zeros(2, np.int64))
    lengths: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)
    predicted: list[np.ndarray] = field(default_factory=list)

    def add(self, texts: list[str], scores: np.ndarray) -> None:
        """Count one chunk: its texts and the model's scores for them (`predict_reviews`)."""
        tokens = tokenize_texts(pa.array(texts, pa.string()))
        self.oov += count_oov(tokens, self.reference.vocabulary)
        self.lengths.append(pc.list_value_length(tokens).to_numpy(zero_copy_only=False))
        self.scores.append(scores if scores.ndim == 1 else scores.max(axis=1))
        self.predicted.append(predicted_ids(scores, THRESHOLD))

    @property
    def rows(self) -> int:
        """Reviews counted so far."""
        return sum(len(lengths) for lengths in self.lengths)


def drift_findings(counted: DriftCounter, limits: DriftLimits) -> list[Finding]:
    """The four figures, each judged against its limit in ``limits`` ("warning": drifted)."""
    reference = counted.reference
    lengths = np.concatenate(counted.lengths)
    scores = np.concatenate(counted.scores)
    shares = class_shares(np.concatenate(counted.predicted), counted.classes)
    oov_rate = rate(counted.oov)
    changes = np.abs(np.subtract(shares, reference.class_shares))
    figures = [
        (
            "oov_rate",
            oov_rate - reference.oov_rate,
            limits.max_oov_increase,
            f"out-of-vocabulary tokens {oov_rate:.2%} against {reference.oov_rate:.2%} in training",
        ),
        (
            "length_psi",
            decile_psi(lengths, reference.length_deciles),
            limits.max_psi,
            f"token lengths' stability index over the training deciles (median "
            f"{np.median(lengths):.0f} tokens)",
        ),
        (
            "score_psi",
            decile_psi(scores, reference.score_deciles),
            limits.max_psi,
            "scores' stability index over the test scores' deciles",
        ),
        (
            "class_share",
            float(changes.max()),
            limits.max_class_share_change,
            "predicted class shares "
            + ", ".join(
                f"{now:.1%} (test {then:.1%})" for now, then in zip(shares, reference.class_shares)
            ),
        ),
    ]
    return [
        Finding(
            check=check,
            severity="warning" if value > limit else "ok",
            value=round(value, 6),
            limit=limit,
            message=message,
        )
        for check, value, limit, message in figures
    ]


def drifted(findings: list[Finding]) -> list[str]:
    """The checks whose figure is above its limit."""
    return [finding.check for finding in findings if finding.severity == "warning"]


def findings_table(findings: list[Finding]) -> pa.Table:
    """The report as a table: one row a figure, for the artifact store and the UI."""
    return pa.Table.from_pylist(
        [
            {
                "check": finding.check,
                "value": finding.value,
                "limit": finding.limit,
                "drifted": finding.severity == "warning",
                "message": finding.message,
            }
            for finding in findings
        ],
        schema=pa.schema(
            [
                ("check", pa.string()),
                ("value", pa.float64()),
                ("limit", pa.float64()),
                ("drifted", pa.bool_()),
                ("message", pa.string()),
            ]
        ),
    )
