"""Validate: the data gate before training (TFX's ExampleValidator, for review text).

Each check measures one figure of the snapshot, compares it with its threshold (a config field)
and yields a finding. A violated check listed in ``data_gate_errors`` stops the run before any
training, with a report naming every finding; the others are warnings in the run report.

Two checks compare the new data with the champion's training data: the out-of-vocabulary rate
under the champion's vocabulary, and the token-length distribution (population stability index
over the deciles of the champion's train lengths). The profile they need is written here for
every run and travels with the registered model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict

from rnn_retrain.artifacts import ArtifactRef
from rnn_retrain.chunks import read_chunks
from rnn_retrain.config import RetrainConfig
from rnn_retrain.errors import RetrainError
from rnn_retrain.preprocessing import tokenize_texts
from rnn_retrain.registry import ModelRegistry
from tasks.caching import StageCache
from tasks.runtime import DATA_GATE_ARTIFACT_KEY, RETRY_SETTINGS, current_run_id, store_for

DECILES = np.linspace(10, 90, 9)
# Keeps the stability index finite when a length bin is empty.
PSI_FLOOR = 1e-4
GATE_FIELDS = (
    "max_duplicate_share",
    "min_class_share",
    "max_leakage_share",
    "max_truncated_share",
    "max_oov_increase",
    "max_length_psi",
    "data_gate_errors",
    "maxlen",
)


class DataGateError(RetrainError):
    """The data gate found a violation that must stop the run before training."""


class Finding(BaseModel):
    """One data check's figure, its limit and what it means."""

    model_config = ConfigDict(frozen=True)

    check: str
    severity: Literal["ok", "warning", "error", "skipped"]
    value: float | None
    limit: float | None
    message: str


class ValidationResult(BaseModel):
    """What validate hands on: its findings and this run's data profile."""

    model_config = ConfigDict(frozen=True)

    findings: list[Finding]
    profile: ArtifactRef


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


def minority_share(labels: np.ndarray) -> float:
    """Share of the rarer of the two labels."""
    positive = float(np.mean(labels)) if len(labels) else 0.0
    return min(positive, 1.0 - positive)


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


def length_deciles(lengths: np.ndarray) -> list[float]:
    """The nine inner decile edges of a token-length distribution."""
    return [float(edge) for edge in np.percentile(lengths, DECILES)]


def length_psi(lengths: np.ndarray, edges: list[float]) -> float:
    """Population stability index of ``lengths`` over bins whose reference shares are equal."""
    bins = np.searchsorted(np.asarray(edges), lengths, side="right")
    actual = np.bincount(bins, minlength=len(edges) + 1) / max(len(lengths), 1)
    expected = np.full(len(edges) + 1, 1.0 / (len(edges) + 1))
    actual = np.maximum(actual, PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


# Checks: figures against thresholds.


def judge(
    check: str,
    value: float,
    limit: float,
    too_high: bool,
    config: RetrainConfig,
    what: str,
    unit: str = ".2%",
) -> Finding:
    """Compare a figure with its limit; a violation is an error if the config says so.

    ``unit`` is the format of the figure and its limit in the message (a share, by default).
    """
    violated = value > limit if too_high else value < limit
    severity = ("error" if check in config.data_gate_errors else "warning") if violated else "ok"
    bound = "at most" if too_high else "at least"
    return Finding(
        check=check,
        severity=severity,
        value=round(value, 6),
        limit=limit,
        message=f"{what} is {value:{unit}} ({bound} {limit:{unit}} allowed)",
    )


def check_data(
    stats: DataStats, champion_profile: dict[str, Any] | None, config: RetrainConfig
) -> list[Finding]:
    """Run every data check on the snapshot's measurements."""
    is_train = stats.is_train
    findings = [
        judge(
            "duplicates",
            duplicate_share(stats.hashes),
            config.max_duplicate_share,
            True,
            config,
            "the share of rows repeating an earlier text",
        ),
        judge(
            "class_balance",
            minority_share(stats.labels[is_train]),
            config.min_class_share,
            False,
            config,
            "the rarer label's share of the train rows",
        ),
        judge(
            "leakage",
            leakage_share(stats.hashes[is_train], stats.hashes[~is_train]),
            config.max_leakage_share,
            True,
            config,
            "the share of test reviews also in the train split",
        ),
        judge(
            "truncation",
            float(np.mean(stats.lengths > config.maxlen)),
            config.max_truncated_share,
            True,
            config,
            f"the share of reviews longer than maxlen={config.maxlen} tokens",
        ),
    ]
    if champion_profile is None:
        reason = "no champion with a data profile to compare with"
        return findings + [
            Finding(check=check, severity="skipped", value=None, limit=None, message=reason)
            for check in ("oov_rate", "length_drift")
        ]
    return findings + [
        judge(
            "oov_rate",
            rate(stats.champion_oov) - float(champion_profile["oov_rate"]),
            config.max_oov_increase,
            True,
            config,
            "the rise in out-of-vocabulary tokens under the champion's vocabulary",
        ),
        judge(
            "length_drift",
            length_psi(stats.lengths[is_train], champion_profile["length_deciles"]),
            config.max_length_psi,
            True,
            config,
            "the stability index of train token lengths against the champion's",
            unit=".3f",
        ),
    ]


def profile_data(stats: DataStats, vocabulary: pa.Table) -> dict[str, Any]:
    """What a later run compares its data with: vocabulary, OOV rate and length deciles (train)."""
    return {
        "vocabulary": vocabulary["token"].to_pylist(),
        "oov_rate": rate(stats.own_oov),
        "length_deciles": length_deciles(stats.lengths[stats.is_train]),
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


# The Prefect task.


def champion_fingerprint(config: RetrainConfig) -> str:
    """The champion the drift checks compare with, for the stage cache."""
    champion = ModelRegistry(config.tracking_uri, config.model_name).champion()
    return "none" if champion is None else f"{champion.version}:{champion.run_id}"


@task(
    name="validate",
    cache_policy=StageCache(
        stage="validate",
        fields=GATE_FIELDS,
        fingerprint=champion_fingerprint,
        fingerprint_name="champion",
    ),
    persist_result=True,
    **RETRY_SETTINGS,
)
def validate(
    snapshot: ArtifactRef, vocabulary: ArtifactRef, config: RetrainConfig
) -> ValidationResult:
    """Check the snapshot; stop the run on a hard violation, else write this run's data profile.

    The snapshot is read ``chunk_rows`` rows at a time; what the checks keep is a few bytes a row.
    """
    store = store_for(config)
    own_vocabulary = store.read_table(vocabulary)
    champion_profile = ModelRegistry(config.tracking_uri, config.model_name).champion_data_profile()
    champion_vocabulary = (
        None if champion_profile is None else pa.array(champion_profile["vocabulary"], pa.string())
    )
    with store.open_parquet(snapshot) as parquet:
        stats = combine_stats(
            [
                measure_chunk(chunk, own_vocabulary["token"].combine_chunks(), champion_vocabulary)
                for chunk in read_chunks(parquet, ["text", "label", "split"], config.chunk_rows)
            ]
        )
    findings = check_data(stats, champion_profile, config)
    create_markdown_artifact(
        render_findings(findings), key=DATA_GATE_ARTIFACT_KEY, description="Data gate findings"
    )
    logger = get_run_logger()
    for finding in findings:
        if finding.severity in ("warning", "error"):
            logger.warning("Data gate %s: %s: %s", finding.severity, finding.check, finding.message)
    if any(finding.severity == "error" for finding in findings):
        raise DataGateError(describe_failure(findings))
    profile = profile_data(stats, own_vocabulary)
    ref = store.write_json(current_run_id(), "validate", "data_profile", profile)
    return ValidationResult(findings=findings, profile=ref)
