"""The register task: log the run to MLflow, register a version, and gate its promotion.

The gate's logic is in `rnn_retrain.stages.register`; this module does the MLflow side: it logs
the run and the servable model, then, under the promotion lock, registers the version, re-scores
the champion on this run's test rows and records the decision, undoing a registration whose gate
failed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pyarrow.compute as pc
from prefect import get_run_logger, task
from prefect.runtime import deployment, flow_run

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.config.secrets import redacted
from rnn_retrain.data.labels import predicted_ids
from rnn_retrain.errors import RetrainError
from rnn_retrain.model.package import (
    code_version,
    log_text_classifier,
    model_classes,
    predict_reviews,
)
from rnn_retrain.model.serving import BULK_LOADING, THRESHOLD
from rnn_retrain.orchestration.events import emit_gate_decision
from rnn_retrain.orchestration.promotion import promotion_decision
from rnn_retrain.orchestration.retries import RETRY_SETTINGS
from rnn_retrain.orchestration.runs import store_for
from rnn_retrain.registry import (
    BASELINE_ARTIFACT_PATH,
    CHALLENGER,
    ModelRegistry,
    log_snapshot_inputs,
)
from rnn_retrain.results import (
    BaselineResult,
    EvaluateResult,
    GateDecision,
    PreparedData,
    RegisterResult,
    StartingPoint,
    TrainResult,
    validation_test_gap,
)
from rnn_retrain.stages.approval import awaiting_approval
from rnn_retrain.stages.register import (
    DECISION_TAG,
    LINEAGE_TAG,
    WARM_START_TAG,
    already_promoted,
    apply_baseline_rule,
    baseline_metrics,
    baseline_tags,
    decide_promotion,
    decision_tags,
    gate_outcome,
    lineage_key,
    serving_preprocessing,
)
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore
from rnn_retrain.store.chunks import read_chunks


def _log_run(
    registry: ModelRegistry,
    store: ArtifactStore,
    refs: dict[str, ArtifactRef | None],
    metrics: dict[str, float | int | None],
    config: RetrainConfig,
    tags: dict[str, str],
    length_buckets: list[int],
    baseline: BaselineResult | None,
    classes: list[str],
    split_rows: dict[str, int],
    validation_accuracy: float | None,
) -> tuple[str, str, str | None]:
    """Log params, metrics, history and the servable model; return run id, model uri, model id.

    The baseline's figures are logged beside the RNN's, and its files under ``baseline/``,
    where ``retrain predict --baseline`` finds them. The kept weights' validation accuracy and
    its gap to the test accuracy are logged too: a large gap marks an optimistic validation split.
    """
    history = store.read_table(refs["history"]).to_pylist()
    experiment_id = registry.experiment_id()
    with (
        tempfile.TemporaryDirectory() as directory,
        registry.activated(),
        mlflow.start_run(
            experiment_id=experiment_id, run_name=flow_run.name or None, tags=tags
        ) as run,
    ):
        mlflow.log_params(config.flat())
        # The snapshot's train and test rows, shown as the run's datasets in the MLflow UI.
        log_snapshot_inputs(refs["snapshot"], split_rows)
        mlflow.log_metrics(
            {f"test_{name}": value for name, value in metrics.items() if value is not None}
        )
        gap = validation_test_gap(validation_accuracy, metrics)
        if gap is not None:
            mlflow.log_metrics(
                {"validation_accuracy": validation_accuracy, "validation_test_gap": gap}
            )
        for row in history:
            epoch = row.pop("epoch")
            row.pop("process_id", None)
            mlflow.log_metrics(row, step=epoch)
        needed = ("model", "vocabulary", "history", "metrics", "predictions", "profile")
        # Results cached before K classes have no labels or confusion files: binary.
        optional = [name for name in ("labels", "confusion") if refs.get(name) is not None]
        local = {name: store.copy_to_local(refs[name], directory) for name in (*needed, *optional)}
        for name in ("history", "metrics", "predictions", "confusion"):
            if name in local:
                mlflow.log_artifact(str(local[name]), artifact_path="evaluation")
        if baseline is not None:
            mlflow.log_metrics(baseline_metrics(baseline))
            # A folder of its own: its predictions.parquet must not replace evaluate's.
            folder = Path(directory) / BASELINE_ARTIFACT_PATH
            folder.mkdir()
            for ref in (baseline.terms, baseline.model, baseline.predictions):
                path = store.copy_to_local(ref, folder)
                mlflow.log_artifact(str(path), artifact_path=BASELINE_ARTIFACT_PATH)
        # What the next run's data gate compares its data with (see `rnn_retrain.tasks.validate`).
        mlflow.log_artifact(str(local["profile"]))
        preprocessing = serving_preprocessing(config, length_buckets)
        info = log_text_classifier(
            local["model"], local["vocabulary"], preprocessing, local.get("labels"), classes
        )
        return run.info.run_id, info.model_uri, getattr(info, "model_id", None)


def _lineage_tags(
    refs: dict[str, ArtifactRef | None],
    metrics: dict[str, float | int | None],
    config: RetrainConfig,
    key: str,
    baseline: BaselineResult | None,
    classes: list[str],
    start: StartingPoint | None,
) -> dict[str, str]:
    """The tags of the run and of its version: where the model came from, and its figures."""
    warm = start is not None and start.warm
    return {
        LINEAGE_TAG: key,
        "data.snapshot_sha256": refs["snapshot"].sha256,
        "data.vocabulary_sha256": refs["vocabulary"].sha256,
        "model.sha256": refs["model"].sha256,
        "config": config.model_dump_json(),
        "prefect.flow_run_id": str(flow_run.id),
        "prefect.deployment": deployment.name or "",
        "code_version": code_version(),
        "classes": json.dumps(classes),
        # The version whose weights training began from ("" for a cold start), and why.
        WARM_START_TAG: start.version if warm else "",
        **({f"{WARM_START_TAG}.reason": start.reason} if start is not None else {}),
        **{f"test.{name}": str(value) for name, value in metrics.items()},
        **(baseline_tags(baseline) if baseline is not None else {}),
    }


def _judge(
    registry: ModelRegistry,
    store: ArtifactStore,
    refs: dict[str, ArtifactRef | None],
    version: str,
    config: RetrainConfig,
    baseline: BaselineResult | None,
    classes: list[str],
) -> GateDecision:
    """Score the champion on this run's test rows and decide against the challenger's scores.

    Correctness is per row, by class name: the champion's predicted class (named by its own
    classes) against the row's label (named by this run's). With ``require_beat_baseline``, a
    challenger significantly worse than the baseline is kept.
    """
    scored = store.read_table(refs["predictions"]).sort_by("row_id")
    labels = scored["label"].to_numpy().astype(np.int64)
    challenger_correct = scored["prediction"].to_numpy().astype(np.int64) == labels
    gate = config.registry
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
    champion_model = registry.load(version=champion_version, model_config=BULK_LOADING)
    row_ids, scores = _score_test_texts(
        champion_model, store, refs["snapshot"], config.source.chunk_rows
    )
    if not np.array_equal(row_ids, scored["row_id"].to_numpy()):
        raise RetrainError(
            f"{refs['predictions'].name} does not cover the test rows of {refs['snapshot'].name}"
        )
    champion_names = np.asarray(model_classes(champion_model))[predicted_ids(scores, THRESHOLD)]
    champion_correct = champion_names == np.asarray(classes)[labels]
    decision = decide_promotion(challenger_correct, champion_correct, champion_version, gate)
    return apply_baseline_rule(decision, baseline, gate)


def _score_test_texts(
    model: Any, store: ArtifactStore, snapshot: ArtifactRef, chunk_rows: int
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


def _record(registry: ModelRegistry, version: str, decision: GateDecision) -> None:
    """Record the decision on both versions and move the champion alias if it says so.

    The full decision record (`DECISION_TAG`) is written last: a version without it has not
    finished its gate, so a retry runs the gate again instead of trusting half a record.
    """
    registry.set_tags(version, decision_tags(decision))
    if decision.champion_version is not None:
        registry.set_tags(
            decision.champion_version, {f"gate.challenged_by.v{version}": decision.reason}
        )
    champion = registry.champion()
    if decision.promote and (champion is None or str(champion.version) != version):
        registry.move_champion(version, "promotion", decision.reason, str(flow_run.id))
    registry.set_tags(version, {DECISION_TAG: decision.model_dump_json()})


def _result(
    registry: ModelRegistry, version: str, decision: GateDecision, reused: bool
) -> RegisterResult:
    run_id = registry.get_version(version=version).run_id
    return RegisterResult(
        model_name=registry.model_name,
        version=version,
        decision=decision,
        mlflow_run_id=run_id,
        tracking_uri=redacted(registry.tracking_uri),  # Shown in reports and events.
        experiment_id=registry.client.get_run(run_id).info.experiment_id,
        reused=reused,
    )


@task(name="register", **RETRY_SETTINGS)
def register(
    prepared: PreparedData,
    trained: TrainResult,
    evaluated: EvaluateResult,
    config: RetrainConfig,
    baseline: BaselineResult | None = None,
) -> RegisterResult:
    """Register the trained model as a new version and decide whether it becomes champion.

    ``baseline`` (compared with this model) is logged with the run and tagged on the version.
    """
    run_logger = get_run_logger()
    store = store_for(config)
    registry = ModelRegistry(config.registry.tracking_uri, config.registry.model_name)
    refs = {
        "snapshot": prepared.ingested.snapshot,
        "vocabulary": prepared.tokens.vocabulary,
        "profile": prepared.validated.profile,
        "model": trained.model,
        "history": trained.history,
        "predictions": evaluated.predictions,
        "metrics": evaluated.metrics_table,
        "labels": prepared.ingested.labels,
        "confusion": evaluated.confusion_table,
    }
    classes = prepared.ingested.classes
    key = lineage_key(refs["snapshot"].sha256, config, trained.start)
    existing = registry.version_with_tag(LINEAGE_TAG, key)
    if existing is not None and DECISION_TAG in existing.tags:
        return _reused(registry, existing)
    tags = _lineage_tags(refs, evaluated.metrics, config, key, baseline, classes, trained.start)

    def log_run() -> tuple[str, str, str | None]:
        return _log_run(
            registry,
            store,
            refs,
            evaluated.metrics,
            config,
            tags,
            trained.length_buckets,
            baseline,
            classes,
            prepared.ingested.rows,
            trained.validation_accuracy,
        )

    # Before the promotion slot: uploading the model can take minutes on a remote store, and
    # another run's decision need not wait for it. (On Prefect's SQLite server, asking for the
    # slot as the task starts also met the server's own writes: a 503 and a 2 s retry in most
    # runs, 26 s of the 9 caching tests' 199.)
    logged = log_run() if existing is None else None
    # One decision at a time, on any machine: an overlapping run waits, then sees this run's
    # version and champion.
    with promotion_decision(registry) as holder:
        run_logger.info("Promotion decision held by %s", holder)
        existing = registry.version_with_tag(LINEAGE_TAG, key)
        if existing is not None and logged is not None:
            # A run of the same data and recipe registered it while this one logged: its
            # version stands, and this run's logged model goes.
            registry.client.delete_run(logged[0])
        if existing is not None and DECISION_TAG in existing.tags:
            return _reused(registry, existing)
        if existing is None:
            # (Logged now if the version this run meant to finish went meanwhile.)
            run_id, model_uri, model_id = logged or log_run()
            version = str(registry.create_version(model_uri, model_id, run_id, tags).version)
            run_logger.info("Registered %s version %s", registry.model_name, version)
        else:
            version = str(existing.version)  # Left by an attempt that was killed before its gate.
        try:
            registry.set_alias(CHALLENGER, version)
            decision = _judge(registry, store, refs, version, config, baseline, classes)
            if decision.promote and config.registry.approval == "required":
                decision = awaiting_approval(
                    decision
                )  # `rnn_retrain.tasks.approve` asks a reviewer.
            _record(registry, version, decision)
        except BaseException:
            _discard_unless_champion(registry, version)
            raise
    run_logger.info("Gate: %s (%s)", gate_outcome(decision), decision.reason)
    registered = _result(registry, version, decision, reused=False)
    if decision.approval != "pending":
        # After the registry holds the decision: alerts tell the truth.
        emit_gate_decision(registered)
    return registered


def _reused(registry: ModelRegistry, existing: Any) -> RegisterResult:
    """A retry or a re-run of the same data and recipe: nothing new to register or decide."""
    get_run_logger().info(
        "Version %s already holds this lineage; nothing to register", existing.version
    )
    decision = GateDecision.model_validate_json(existing.tags[DECISION_TAG])
    return _result(registry, str(existing.version), decision, reused=True)


def _discard_unless_champion(registry: ModelRegistry, version: str) -> None:
    """Undo a registration whose gate failed, so no version without a decision is left behind.

    A version the champion alias already points at stays: the move happened, and the retry
    finishes its record.
    """
    champion = registry.champion()
    if champion is None or str(champion.version) != version:
        registry.discard_version(version)
