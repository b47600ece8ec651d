"""Validate's logic: the data gate before training (TFX's ExampleValidator, for review text).

Each check measures one figure of the snapshot, compares it with its threshold (a config field)
and yields a finding. A violated check listed in ``data_gate_errors`` stops the run before any
training, with a report naming every finding; the others are warnings in the run report.

Two checks compare the new data with the champion's training data: the out-of-vocabulary rate
under the champion's vocabulary, and the token-length distribution (population stability index
over the deciles of the champion's train lengths). The profile they need is written here for
every run and travels with the registered model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rnn_retrain.config.retrain import ConfigSlice, DataGateSettings
from rnn_retrain.data.preprocessing import tokenize_texts
from rnn_retrain.results import Finding

DECILES = np.linspace(10, 90, 9)
# Keeps the stability index finite when a length bin is empty.
PSI_FLOOR = 1e-4


# Measurements: pure functions of arrays.


def text_hashes(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each text: what duplicates and leakage are counted on, 8 bytes a row."""
    return pd.util.hash_array(np.asarray(texts.to_numpy(zero_copy_only=False), dtype=object))


def duplicate_share(hashes: np.ndarray) -> float:
    """Share of rows whose text repeats an earlier row's text."""
    return 1.0 - len(np.unique(hashes)) / max(len(hashes), 1)


def leakage_share(train_hashes: np.ndarray, test_hashes: np.ndarray) -> float:
    """Share of test rows whose text also appears among the train rows."""
    return float(np.isin(test_hashes, train_hashes).sum()) / max(len(test_hashes), 1)


def class_count(labels: np.ndarray) -> int:
    """How many classes the labels' ids stand for (at least two: a binary label)."""
    return max(int(labels.max()) + 1 if len(labels) else 0, 2)


def minority_share(labels: np.ndarray) -> float:
    """Share of the rarest label (of two, or of K classes) among ``labels``."""
    if not len(labels):
        return 0.0
    counts = np.bincount(labels.astype(np.int64), minlength=class_count(labels))
    return float(counts.min() / len(labels))


def even_share_scale(labels: np.ndarray) -> float:
    """2/K: the class-balance limit is set for two labels and scaled to an even split of K."""
    return 2.0 / class_count(labels)


def count_oov(tokens: pa.ListArray, vocabulary_tokens: pa.Array) -> np.ndarray:
    """How many tokens are not in ``vocabulary_tokens``, and how many tokens there are."""
    flat = tokens.flatten()
    known = pc.sum(pc.is_in(flat, value_set=vocabulary_tokens)).as_py() or 0
    return np.array([len(flat) - known, len(flat)], dtype=np.int64)


def rate(counts: np.ndarray) -> float:
    """The share ``counts[0] / counts[1]`` (0 when there is nothing to count)."""
    return float(counts[0] / counts[1]) if counts[1] else 0.0


@dataclass(frozen=True)
class DataStats:
    """What the checks read, gathered chunk by chunk: about 14 bytes a row, never the texts."""

    hashes: np.ndarray  # uint64: each row's text hash.
    is_train: np.ndarray  # bool: the row is in the train split.
    labels: np.ndarray  # int8: each row's label.
    lengths: np.ndarray  # int32: tokens in each row's text.
    own_oov: np.ndarray  # Train tokens outside this run's vocabulary, and all train tokens.
    champion_oov: np.ndarray  # Tokens outside the champion's vocabulary, and all tokens.


def measure_chunk(
    chunk: pa.Table, vocabulary: pa.Array, champion_vocabulary: pa.Array | None
) -> DataStats:
    """Measure one chunk of the snapshot (text, label, split) under both vocabularies."""
    tokens = tokenize_texts(chunk["text"])
    is_train = pc.equal(chunk["split"], "train").combine_chunks()
    return DataStats(
        hashes=text_hashes(chunk["text"]),
        is_train=is_train.to_numpy(zero_copy_only=False),
        labels=chunk["label"].to_numpy(),
        lengths=pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int32),
        own_oov=count_oov(tokens.filter(is_train), vocabulary),
        champion_oov=(
            np.zeros(2, np.int64)
            if champion_vocabulary is None
            else count_oov(tokens, champion_vocabulary)
        ),
    )


def combine_stats(parts: list[DataStats]) -> DataStats:
    """One `DataStats` for the chunks measured apart."""
    return DataStats(
        hashes=np.concatenate([part.hashes for part in parts]),
        is_train=np.concatenate([part.is_train for part in parts]),
        labels=np.concatenate([part.labels for part in parts]),
        lengths=np.concatenate([part.lengths for part in parts]),
        own_oov=np.sum([part.own_oov for part in parts], axis=0),
        champion_oov=np.sum([part.champion_oov for part in parts], axis=0),
    )


def deciles(values: np.ndarray) -> list[float]:
    """The nine inner decile edges of a distribution (token lengths, scores)."""
    return [float(edge) for edge in np.percentile(values, DECILES)]


def decile_psi(values: np.ndarray, edges: list[float]) -> float:
    """Population stability index of ``values`` over the reference's decile bins (``edges``,
    `deciles`), whose reference shares are equal: 0.1 is a minor shift, 0.25 a major one."""
    bins = np.searchsorted(np.asarray(edges), values, side="right")
    actual = np.bincount(bins, minlength=len(edges) + 1) / max(len(values), 1)
    expected = np.full(len(edges) + 1, 1.0 / (len(edges) + 1))
    actual = np.maximum(actual, PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


# Checks: one row of the table per figure, judged against its threshold.


@dataclass(frozen=True)
class DataCheckSpec:
    """One data check: what it measures, which threshold bounds it, and how it reads.

    Attributes:
        name: The check's name, as listed in ``data_gate_errors``.
        limit_field: The `DataGateSettings` field that bounds the figure.
        bound: "max" when the figure must stay at or below the limit, "min" when at or above.
        describe: The figure in words, given the text settings' maxlen.
        measure: The figure, from the measurements and the champion's data profile.
        needs_champion: Whether the check compares with the champion's data (skipped without).
        unit: The format of the figure and its limit in the message (a share by default).
        limit_scale: What the configured limit is multiplied by for this data (1 if None).
    """

    name: str
    limit_field: str
    bound: Literal["max", "min"]
    describe: Callable[[int], str]
    measure: Callable[[DataStats, dict[str, Any], int], float]
    needs_champion: bool = False
    unit: str = ".2%"
    limit_scale: Callable[[DataStats], float] | None = None


DATA_CHECKS: tuple[DataCheckSpec, ...] = (
    DataCheckSpec(
        "duplicates",
        "max_duplicate_share",
        "max",
        lambda maxlen: "the share of rows repeating an earlier text",
        lambda stats, profile, maxlen: duplicate_share(stats.hashes),
    ),
    DataCheckSpec(
        "class_balance",
        "min_class_share",
        "min",
        lambda maxlen: "the rarest label's share of the train rows",
        lambda stats, profile, maxlen: minority_share(stats.labels[stats.is_train]),
        limit_scale=lambda stats: even_share_scale(stats.labels[stats.is_train]),
    ),
    DataCheckSpec(
        "leakage",
        "max_leakage_share",
        "max",
        lambda maxlen: "the share of test reviews also in the train split",
        lambda stats, profile, maxlen: leakage_share(
            stats.hashes[stats.is_train], stats.hashes[~stats.is_train]
        ),
    ),
    DataCheckSpec(
        "truncation",
        "max_truncated_share",
        "max",
        lambda maxlen: f"the share of reviews longer than maxlen={maxlen} tokens",
        lambda stats, profile, maxlen: float(np.mean(stats.lengths > maxlen)),
    ),
    DataCheckSpec(
        "oov_rate",
        "max_oov_increase",
        "max",
        lambda maxlen: "the rise in out-of-vocabulary tokens under the champion's vocabulary",
        lambda stats, profile, maxlen: rate(stats.champion_oov) - float(profile["oov_rate"]),
        needs_champion=True,
    ),
    DataCheckSpec(
        "length_drift",
        "max_length_psi",
        "max",
        lambda maxlen: "the stability index of train token lengths against the champion's",
        lambda stats, profile, maxlen: decile_psi(
            stats.lengths[stats.is_train], profile["length_deciles"]
        ),
        needs_champion=True,
        unit=".3f",
    ),
)


def judge(
    spec: DataCheckSpec, value: float, gate: DataGateSettings, maxlen: int, scale: float = 1.0
) -> Finding:
    """Compare a figure with its limit (times ``scale``); a violation is an error if the gate
    lists the check."""
    limit = round(getattr(gate, spec.limit_field) * scale, 6)
    violated = value > limit if spec.bound == "max" else value < limit
    stops = spec.name in gate.data_gate_errors
    severity = ("error" if stops else "warning") if violated else "ok"
    allowed = "at most" if spec.bound == "max" else "at least"
    return Finding(
        check=spec.name,
        severity=severity,
        value=round(value, 6),
        limit=limit,
        message=(
            f"{spec.describe(maxlen)} is {value:{spec.unit}} ({allowed} {limit:{spec.unit}} "
            "allowed)"
        ),
    )


def check_data(
    stats: DataStats, champion_profile: dict[str, Any] | None, gate: DataGateSettings, maxlen: int
) -> list[Finding]:
    """Run every check of `DATA_CHECKS` on the snapshot's measurements."""
    findings = []
    for spec in DATA_CHECKS:
        if spec.needs_champion and champion_profile is None:
            reason = "no champion with a data profile to compare with"
            findings.append(
                Finding(check=spec.name, severity="skipped", value=None, limit=None, message=reason)
            )
            continue
        scale = spec.limit_scale(stats) if spec.limit_scale is not None else 1.0
        value = spec.measure(stats, champion_profile or {}, maxlen)
        findings.append(judge(spec, value, gate, maxlen, scale))
    return findings


def profile_data(stats: DataStats, vocabulary: pa.Table) -> dict[str, Any]:
    """What a later run compares its data with: vocabulary, OOV rate and length deciles (train)."""
    return {
        "vocabulary": vocabulary["token"].to_pylist(),
        "oov_rate": rate(stats.own_oov),
        "length_deciles": deciles(stats.lengths[stats.is_train]),
        "train_rows": int(stats.is_train.sum()),
    }


def describe_failure(findings: list[Finding]) -> str:
    """One line naming every finding that stops the run."""
    errors = [
        f"{finding.check}: {finding.message}" for finding in findings if finding.severity == "error"
    ]
    return f"data gate stopped the run before training: {'; '.join(errors)}"


def render_findings(findings: list[Finding]) -> str:
    """A markdown table of the findings, for the Prefect UI."""
    lines = ["# Data gate", "", "| check | result | finding |", "| --- | --- | --- |"]
    lines += [f"| {f.check} | {f.severity} | {f.message} |" for f in findings]
    return "\n".join(lines) + "\n"


def has_errors(findings: list[Finding]) -> bool:
    """Whether any finding stops the run."""
    return any(finding.severity == "error" for finding in findings)


# The gate's thresholds and the maxlen its truncation check reads; the champion the drift checks
# compare with is keyed by its fingerprint (see `rnn_retrain.tasks.validate`).
CONFIG = ConfigSlice(
    output=(
        *(f"data_gate.{name}" for name in DataGateSettings.model_fields),
        "text.maxlen",
    ),
    also_reads=("source.chunk_rows", "registry.tracking_uri", "registry.model_name"),
)
