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

from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict

from rnn_retrain.artifacts import ArtifactRef
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


def duplicate_share(texts: pa.ChunkedArray | pa.Array) -> float:
    """Share of rows whose text repeats an earlier row's text."""
    return 1.0 - len(pc.unique(texts)) / max(len(texts), 1)


def leakage_share(train_texts: pa.ChunkedArray, test_texts: pa.ChunkedArray) -> float:
    """Share of test rows whose text also appears among the train rows."""
    leaked = pc.sum(pc.is_in(test_texts, value_set=pc.unique(train_texts))).as_py() or 0
    return leaked / max(len(test_texts), 1)


def minority_share(labels: np.ndarray) -> float:
    """Share of the rarer of the two labels."""
    positive = float(np.mean(labels)) if len(labels) else 0.0
    return min(positive, 1.0 - positive)


def oov_rate(tokens: pa.ListArray, vocabulary_tokens: pa.Array) -> float:
    """Share of all tokens that are not in ``vocabulary_tokens``."""
    flat = tokens.flatten()
    if len(flat) == 0:
        return 0.0
    return 1.0 - pc.sum(pc.is_in(flat, value_set=vocabulary_tokens)).as_py() / len(flat)


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
    snapshot: pa.Table,
    tokens: pa.ListArray,
    champion_profile: dict[str, Any] | None,
    config: RetrainConfig,
) -> list[Finding]:
    """Run every data check on the snapshot (text, label, split) and its tokens."""
    is_train = pc.equal(snapshot["split"], "train").combine_chunks()
    train, test = snapshot.filter(is_train), snapshot.filter(pc.invert(is_train))
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
    findings = [
        judge(
            "duplicates",
            duplicate_share(snapshot["text"]),
            config.max_duplicate_share,
            True,
            config,
            "the share of rows repeating an earlier text",
        ),
        judge(
            "class_balance",
            minority_share(train["label"].to_numpy()),
            config.min_class_share,
            False,
            config,
            "the rarer label's share of the train rows",
        ),
        judge(
            "leakage",
            leakage_share(train["text"], test["text"]),
            config.max_leakage_share,
            True,
            config,
            "the share of test reviews also in the train split",
        ),
        judge(
            "truncation",
            float(np.mean(lengths > config.maxlen)),
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
    increase = oov_rate(tokens, pa.array(champion_profile["vocabulary"], pa.string())) - float(
        champion_profile["oov_rate"]
    )
    train_lengths = lengths[is_train.to_numpy(zero_copy_only=False)]
    return findings + [
        judge(
            "oov_rate",
            increase,
            config.max_oov_increase,
            True,
            config,
            "the rise in out-of-vocabulary tokens under the champion's vocabulary",
        ),
        judge(
            "length_drift",
            length_psi(train_lengths, champion_profile["length_deciles"]),
            config.max_length_psi,
            True,
            config,
            "the stability index of train token lengths against the champion's",
            unit=".3f",
        ),
    ]


def profile_data(snapshot: pa.Table, tokens: pa.ListArray, vocabulary: pa.Table) -> dict[str, Any]:
    """What a later run compares its data with: vocabulary, OOV rate and length deciles (train)."""
    is_train = pc.equal(snapshot["split"], "train").combine_chunks()
    train_tokens = tokens.filter(is_train)
    return {
        "vocabulary": vocabulary["token"].to_pylist(),
        "oov_rate": oov_rate(train_tokens, vocabulary["token"].combine_chunks()),
        "length_deciles": length_deciles(pc.list_value_length(train_tokens).to_numpy()),
        "train_rows": len(train_tokens),
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
    """Check the snapshot; stop the run on a hard violation, else write this run's data profile."""
    store = store_for(config)
    table = store.read_table(snapshot, columns=["text", "label", "split"])
    tokens = tokenize_texts(table["text"])
    registry = ModelRegistry(config.tracking_uri, config.model_name)
    findings = check_data(table, tokens, registry.champion_data_profile(), config)
    create_markdown_artifact(
        render_findings(findings), key=DATA_GATE_ARTIFACT_KEY, description="Data gate findings"
    )
    logger = get_run_logger()
    for finding in findings:
        if finding.severity in ("warning", "error"):
            logger.warning("Data gate %s: %s: %s", finding.severity, finding.check, finding.message)
    if any(finding.severity == "error" for finding in findings):
        raise DataGateError(describe_failure(findings))
    profile = profile_data(table, tokens, store.read_table(vocabulary))
    ref = store.write_json(current_run_id(), "validate", "data_profile", profile)
    return ValidationResult(findings=findings, profile=ref)
