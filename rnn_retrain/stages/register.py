"""Register's logic: the champion/challenger gate, the lineage key and the tags a version carries.

The gate compares the challenger's per-row correctness on the test rows with the champion's, re-
scored on the same rows, by an exact McNemar test (a paired test: both models see the same
reviews), plus a minimum accuracy gain and an absolute accuracy floor. Pure functions of arrays
and settings; the task (`rnn_retrain.tasks.register`) talks to MLflow.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from scipy.stats import binomtest

from rnn_retrain.config.retrain import ConfigSlice, RegistrySettings, RetrainConfig
from rnn_retrain.data.labels import headline_f1
from rnn_retrain.results import BaselineResult, GateDecision, StartingPoint

# Fields that decide where things are stored or how the gate judges, not what model is trained.
# The lineage key leaves them out; the source fields are covered by the snapshot's sha256.
NOT_LINEAGE_FIELDS = {
    "data",
    "text_column",
    "label_column",
    "split_column",
    "group_column",
    "test_fraction",
    "demo_size",
    "demo_classes",
    "max_classes",
    "artifact_root",
    "tracking_uri",
    "model_name",
    "min_accuracy",
    "promotion_policy",
    "min_accuracy_gain",
    "significance_level",
    "require_beat_baseline",
    "training_threads",
    "approval",
    "approval_timeout_seconds",
    # A warm start is keyed by the weights it began from (`lineage_key`); asked for and refused,
    # it trained what a cold run trains.
    "warm_start",
    "warm_start_epochs",
}
LINEAGE_TAG = "lineage_key"
# The snapshot a version was trained and evaluated on, and its class names in id order.
SNAPSHOT_TAG = "data.snapshot_sha256"
CLASSES_TAG = "classes"
WARM_START_TAG = "lineage.warm_start_version"
DECISION_TAG = "gate.json"


def mcnemar_exact(
    challenger_correct: np.ndarray, champion_correct: np.ndarray
) -> tuple[int, int, float]:
    """Exact (binomial) McNemar test on paired per-row correctness.

    Returns:
        b (rows only the challenger got right), c (rows only the champion got right), and the
        two-sided p-value of b against Binomial(b + c, 1/2).
    """
    if challenger_correct.shape != champion_correct.shape:
        raise ValueError("both models must be scored on the same rows")
    b = int(np.sum(challenger_correct & ~champion_correct))
    c = int(np.sum(~challenger_correct & champion_correct))
    p_value = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return b, c, p_value


def decide_promotion(
    challenger_correct: np.ndarray,
    champion_correct: np.ndarray | None,
    champion_version: str | None,
    gate: RegistrySettings,
) -> GateDecision:
    """Decide whether the challenger replaces the champion (see `RegistrySettings`)."""
    accuracy = float(np.mean(challenger_correct))
    common = {
        "policy": gate.promotion_policy,
        "challenger_accuracy": accuracy,
        "min_accuracy": gate.min_accuracy,
    }
    if accuracy < gate.min_accuracy:
        return GateDecision(
            promote=False,
            reason=f"test accuracy {accuracy:.4f} is below min_accuracy {gate.min_accuracy}",
            champion_version=champion_version,
            **common,
        )
    if champion_correct is None:
        return GateDecision(
            promote=True,
            reason=f"first model: test accuracy {accuracy:.4f} clears min_accuracy {gate.min_accuracy}",
            **common,
        )
    b, c, p_value = mcnemar_exact(challenger_correct, champion_correct)
    champion_accuracy = float(np.mean(champion_correct))
    gain = accuracy - champion_accuracy
    significant = p_value < gate.significance_level
    statistics = (
        f"McNemar b={b} c={c} p={p_value:.4g}; accuracy {accuracy:.4f} vs {champion_accuracy:.4f}"
    )
    if gate.promotion_policy == "better":
        promote = significant and b > c
        verdict = "significantly better" if promote else "not significantly better"
    else:
        worse = significant and c > b
        promote = not worse
        verdict = "significantly worse" if worse else "not significantly worse"
    reason = f"{verdict} than champion v{champion_version}"
    if promote and gain < gate.min_accuracy_gain:
        promote = False
        reason += f", but the accuracy gain {gain:+.4f} is below min_accuracy_gain {gate.min_accuracy_gain}"
    return GateDecision(
        promote=promote,
        reason=f"{reason} ({statistics})",
        champion_version=champion_version,
        champion_accuracy=champion_accuracy,
        accuracy_gain=gain,
        challenger_only_correct=b,
        champion_only_correct=c,
        p_value=p_value,
        **common,
    )


def apply_baseline_rule(
    decision: GateDecision, baseline: BaselineResult | None, gate: RegistrySettings
) -> GateDecision:
    """Keep a challenger the champion gate would promote if it is significantly worse than the
    bag-of-words baseline (``require_beat_baseline``); any other decision stands as it is.

    Raises:
        ValueError: if the rule is on and the run has no baseline comparison.
    """
    if not gate.require_beat_baseline or not decision.promote:
        return decision
    if baseline is None or baseline.p_value is None:
        raise ValueError("require_beat_baseline is on, but the run compared no baseline")
    b, c, p_value = baseline.rnn_only_correct, baseline.baseline_only_correct, baseline.p_value
    if not (p_value < gate.significance_level and c > b):
        return decision
    reason = (
        f"significantly worse than the bag-of-words baseline (McNemar b={b} c={c} "
        f"p={p_value:.4g}; accuracy {decision.challenger_accuracy:.4f} vs "
        f"{baseline.metrics['accuracy']:.4f}), and require_beat_baseline is on; the champion "
        f"gate alone would have promoted it: {decision.reason}"
    )
    return decision.model_copy(update={"promote": False, "reason": reason})


def baseline_tags(baseline: BaselineResult) -> dict[str, str]:
    """The baseline's figures as tags of the version it was compared with."""
    tags = {
        "baseline.accuracy": str(baseline.metrics["accuracy"]),
        "baseline.f1": str(headline_f1(baseline.metrics)),
        "baseline.fit_seconds": str(baseline.seconds),
        "baseline.features": str(baseline.features),
    }
    if baseline.p_value is not None:
        tags |= {
            "baseline.mcnemar_b": str(baseline.rnn_only_correct),
            "baseline.mcnemar_c": str(baseline.baseline_only_correct),
            "baseline.mcnemar_p": f"{baseline.p_value:.6g}",
        }
    return tags


def baseline_metrics(baseline: BaselineResult) -> dict[str, float]:
    """The baseline's figures as MLflow run metrics (``baseline_accuracy``, ...)."""
    figures = {
        f"baseline_{name}": value
        for name, value in baseline.metrics.items()
        if value is not None and name != "rows"
    }
    figures["baseline_fit_seconds"] = baseline.seconds
    if baseline.p_value is not None:
        figures |= {
            "baseline_mcnemar_b": baseline.rnn_only_correct,
            "baseline_mcnemar_c": baseline.baseline_only_correct,
            "baseline_mcnemar_p": baseline.p_value,
        }
    return figures


def lineage_key(
    snapshot_sha256: str, config: RetrainConfig, start: StartingPoint | None = None
) -> str:
    """A key for "this data, this training recipe": a re-run with both unchanged finds its version.

    A warm ``start`` is part of the recipe: the champion's network it began from, and its epochs.
    """
    recipe = {
        name: value for name, value in config.flat().items() if name not in NOT_LINEAGE_FIELDS
    }
    if start is not None and start.warm:
        recipe["warm_start"] = {
            "from": start.model_sha256,
            "epochs": config.training.warm_start_epochs,
        }
    payload = json.dumps({"snapshot": snapshot_sha256, "recipe": recipe}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def decision_tags(decision: GateDecision) -> dict[str, str]:
    """Readable tags of the decision on the challenger's version (the full record is separate)."""
    tags = {
        "gate.decision": gate_outcome(decision),
        "gate.reason": decision.reason,
        "gate.p_value": "" if decision.p_value is None else f"{decision.p_value:.6g}",
    }
    if decision.approval != "not_required":
        # Who approved or rejected it, why and when (empty while pending or after a timeout).
        tags |= {
            "approval.status": decision.approval,
            "approval.reviewer": decision.reviewer or "",
            "approval.comment": decision.reviewer_comment or "",
            "approval.at": decision.reviewed_at or "",
        }
    return tags


def gate_outcome(decision: GateDecision) -> str:
    """ "promote", "keep", or "awaiting approval" while a reviewer is asked."""
    if decision.approval == "pending":
        return "awaiting approval"
    return "promote" if decision.promote else "keep"


def serving_preprocessing(config: RetrainConfig, length_buckets: list[int]) -> dict[str, Any]:
    """What the served model needs to turn texts into rows exactly as training did."""
    return {
        "maxlen": config.text.maxlen,
        "padding": config.text.padding,
        "truncating": config.text.truncating,
        "length_buckets": length_buckets,
    }


def already_promoted(challenger_correct: np.ndarray, gate: RegistrySettings) -> GateDecision:
    """The decision of a version that an earlier attempt of this run promoted before it stopped."""
    return GateDecision(
        promote=True,
        reason="promoted by an earlier attempt of this run",
        policy=gate.promotion_policy,
        min_accuracy=gate.min_accuracy,
        challenger_accuracy=float(np.mean(challenger_correct)),
    )


# The gate's settings; register also logs the whole configuration to MLflow and keys lineage on
# the recipe (`lineage_key`), which reads it through model dumps, not field by field.
CONFIG = ConfigSlice(
    output=(
        "registry.model_name",
        "registry.min_accuracy",
        "registry.promotion_policy",
        "registry.min_accuracy_gain",
        "registry.significance_level",
        "registry.require_beat_baseline",
        "registry.approval",
    ),
    also_reads=(
        "registry.tracking_uri",
        "source.chunk_rows",
        "text.maxlen",
        "text.padding",
        "text.truncating",
    ),
)
