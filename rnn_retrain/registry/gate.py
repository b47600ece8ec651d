"""The champion/challenger gate against the registry: the champion's answers on the challenger's
test rows (its own evaluate's when both read the same snapshot, else scored anew), the decision
recorded on both versions, the alias moved, a failed gate undone.

The decision's rules are pure (`rnn_retrain.stages.register`); this module gathers what they
compare, from MLflow and the artifact store, and writes what they decided.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
from mlflow.entities.model_registry import ModelVersion

from rnn_retrain.config.secrets import redacted
from rnn_retrain.data.labels import predicted_ids
from rnn_retrain.errors import RetrainError
from rnn_retrain.model.package import model_classes, predict_reviews
from rnn_retrain.model.serving import BULK_LOADING, THRESHOLD
from rnn_retrain.registry.champion import ChampionHistory
from rnn_retrain.registry.files import test_predictions
from rnn_retrain.registry.runs import Candidate
from rnn_retrain.registry.versions import CHALLENGER, ModelRegistry
from rnn_retrain.results import GateDecision, RegisterResult
from rnn_retrain.stages.approval import awaiting_approval
from rnn_retrain.stages.register import (
    CLASSES_TAG,
    DECISION_TAG,
    SNAPSHOT_TAG,
    already_promoted,
    apply_baseline_rule,
    decide_promotion,
    decision_tags,
)
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore
from rnn_retrain.store.chunks import read_chunks


def run_gate(
    registry: ModelRegistry,
    store: ArtifactStore,
    candidate: Candidate,
    version: str,
    flow_run_id: str,
) -> GateDecision:
    """Make ``version`` the challenger, judge it, and record the decision (moving the champion).

    With approval required, a challenger the gate would promote is recorded as pending instead
    (`rnn_retrain.tasks.approve` asks a reviewer). A failure anywhere discards the version
    unless the champion alias already points at it, so no version without a decision is left.
    """
    try:
        registry.set_alias(CHALLENGER, version)
        decision = judge(registry, store, candidate, version)
        if decision.promote and candidate.config.registry.approval == "required":
            decision = awaiting_approval(decision)
        record_decision(registry, version, decision, flow_run_id)
    except BaseException:
        discard_unless_champion(registry, version)
        raise
    return decision


def judge(
    registry: ModelRegistry, store: ArtifactStore, candidate: Candidate, version: str
) -> GateDecision:
    """Score the champion on this run's test rows and decide against the challenger's scores.

    Correctness is per row, by class name: the champion's predicted class (named by its own
    classes) against the row's label (named by this run's). With ``require_beat_baseline``, a
    challenger significantly worse than the baseline is kept.
    """
    gate, baseline = candidate.config.registry, candidate.baseline
    scored = store.read_table(candidate.evaluated.predictions).sort_by("row_id")
    labels = scored["label"].to_numpy().astype(np.int64)
    challenger_correct = scored["prediction"].to_numpy().astype(np.int64) == labels
    champion = registry.champion()
    if champion is None or np.mean(challenger_correct) < gate.min_accuracy:
        # No champion, or a challenger below the floor: no need to score the champion at all.
        champion_version = str(champion.version) if champion is not None else None
        decision = decide_promotion(challenger_correct, None, champion_version, gate)
        return apply_baseline_rule(decision, baseline, gate)
    champion_version = str(champion.version)
    if champion_version == version:
        # An earlier attempt promoted this version and stopped before recording the decision.
        return already_promoted(challenger_correct, gate)
    snapshot = candidate.prepared.ingested.snapshot
    row_ids = scored["row_id"].to_numpy()
    champion_names = stored_champion_predictions(registry, champion, snapshot, row_ids)
    if champion_names is None:
        champion_names = rescore_champion(registry, champion_version, store, candidate, row_ids)
    champion_correct = champion_names == np.asarray(candidate.classes)[labels]
    decision = decide_promotion(challenger_correct, champion_correct, champion_version, gate)
    return apply_baseline_rule(decision, baseline, gate)


def stored_champion_predictions(
    registry: ModelRegistry, champion: ModelVersion, snapshot: ArtifactRef, row_ids: np.ndarray
) -> np.ndarray | None:
    """The champion's predicted class names on ``row_ids``, as its own run evaluated them.

    Only when the champion was trained on this very snapshot (same sha256: the same rows, the
    same split), so its evaluate scored exactly these test rows, through the same network and
    preprocessing it serves with (tests/flows/test_register_flow.py checks the two agree). Saves
    loading the champion and scoring every test review again (benchmarks/overhead.py). None
    when the snapshot differs or the stored predictions cannot be read: the caller re-scores.
    """
    tags = champion.tags or {}
    if tags.get(SNAPSHOT_TAG) != snapshot.sha256 or CLASSES_TAG not in tags:
        return None
    stored = test_predictions(registry, champion.run_id)
    if stored is None:
        return None
    stored = stored.sort_by("row_id")
    if not np.array_equal(stored["row_id"].to_numpy(), row_ids):
        return None
    classes = np.asarray(json.loads(tags[CLASSES_TAG]))
    return classes[stored["prediction"].to_numpy().astype(np.int64)]


def rescore_champion(
    registry: ModelRegistry,
    champion_version: str,
    store: ArtifactStore,
    candidate: Candidate,
    row_ids: np.ndarray,
) -> np.ndarray:
    """The champion's predicted class names on the challenger's test rows, scored now from the
    reviews' text by the served model (`predict_reviews`), as a scoring client would."""
    champion_model = registry.load(version=champion_version, model_config=BULK_LOADING)
    snapshot = candidate.prepared.ingested.snapshot
    scored_ids, scores = score_test_texts(
        champion_model, store, snapshot, candidate.config.source.chunk_rows
    )
    if not np.array_equal(scored_ids, row_ids):
        raise RetrainError(
            f"{candidate.evaluated.predictions.name} does not cover the test rows of "
            f"{snapshot.name}"
        )
    return np.asarray(model_classes(champion_model))[predicted_ids(scores, THRESHOLD)]


def score_test_texts(
    model: object, store: ArtifactStore, snapshot: ArtifactRef, chunk_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """A served model's scores for the snapshot's test texts (`predict_reviews`), with row ids."""
    row_ids, probabilities = [], []
    with store.open_parquet(snapshot) as parquet:
        for chunk in read_chunks(parquet, ["row_id", "text", "split"], chunk_rows):
            test = chunk.filter(pc.equal(chunk["split"], "test"))
            if test.num_rows:
                row_ids.append(test["row_id"].to_numpy())
                probabilities.append(predict_reviews(model, test["text"].to_pylist()))
    return np.concatenate(row_ids), np.concatenate(probabilities)


def record_decision(
    registry: ModelRegistry, version: str, decision: GateDecision, flow_run_id: str
) -> None:
    """Record the decision on both versions and move the champion alias if it says so.

    The full decision record (`DECISION_TAG`) is written last: a version without it has not
    finished its gate, so a retry runs the gate again instead of trusting half a record.
    """
    if decision.champion_version is not None:
        registry.set_tags(
            decision.champion_version, {f"gate.challenged_by.v{version}": decision.reason}
        )
    apply_decision(registry, version, decision, flow_run_id)


def apply_decision(
    registry: ModelRegistry, version: str, decision: GateDecision, flow_run_id: str
) -> None:
    """Tag ``version`` with the decision, move the champion alias if it promotes, and write the
    full record last (also how a reviewer's answer is applied, `rnn_retrain.tasks.approve`)."""
    registry.set_tags(version, decision_tags(decision))
    champion = registry.champion()
    if decision.promote and (champion is None or str(champion.version) != version):
        ChampionHistory(registry).move(version, "promotion", decision.reason, flow_run_id)
    registry.set_tags(version, {DECISION_TAG: decision.model_dump_json()})


def discard_unless_champion(registry: ModelRegistry, version: str) -> None:
    """Undo a registration whose gate failed, so no version without a decision is left behind.

    A version the champion alias already points at stays: the move happened, and the retry
    finishes its record.
    """
    champion = registry.champion()
    if champion is None or str(champion.version) != version:
        registry.discard_version(version)


def recorded_decision(version: object) -> GateDecision | None:
    """The gate decision a version holds, or None while its gate has not finished."""
    tags = getattr(version, "tags", None) or {}
    record = tags.get(DECISION_TAG)
    return None if record is None else GateDecision.model_validate_json(record)


def registration_result(
    registry: ModelRegistry, version: str, decision: GateDecision, reused: bool
) -> RegisterResult:
    """What register hands on: the version, its decision and where its MLflow run is."""
    run_id = registry.get_version(version=version).run_id
    return RegisterResult(
        model_name=registry.model_name,
        version=version,
        decision=decision,
        mlflow_run_id=run_id,
        tracking_uri=redacted(registry.tracking_uri),  # Shown in reports and events.
        experiment_id=registry.tracking.run_experiment_id(run_id),
        reused=reused,
    )
