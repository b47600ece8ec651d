"""The score task: batch-score files of reviews with a registered model (`rnn_retrain.stages.score`),
and report how they drifted from the model's own data (`rnn_retrain.stages.drift`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.orchestration.events import emit_data_drifted
from rnn_retrain.orchestration.runtime import RETRY_SETTINGS, current_run_id
from rnn_retrain.stages.drift import (
    DriftCounter,
    drift_findings,
    drift_reference,
    drifted,
    findings_table,
)
from rnn_retrain.stages.results import ScoreResult
from rnn_retrain.stages.score import STAGE, prepare_input, write_predictions
from rnn_retrain.store.artifacts import ArtifactStore

if TYPE_CHECKING:
    from rnn_retrain.registry import ModelRegistry

DRIFT_ARTIFACT_KEY = "retrain-drift-report"


def drift_counter(registry: ModelRegistry, run_id: str, classes: list[str]) -> DriftCounter | None:
    """A counter of the scored reviews against the reference of the version logged by
    ``run_id`` (its data profile and test predictions); None for a version without one."""
    profile = registry.data_profile(run_id)
    predictions = registry.test_predictions(run_id)
    if profile is None or predictions is None:
        return None
    return DriftCounter(drift_reference(profile, predictions, len(classes)), len(classes))


@task(name="score", **RETRY_SETTINGS)
def score_files(config: ScoreConfig) -> ScoreResult:
    """Check and hash the input, load the chosen model once, write its predictions, and report
    the scored reviews' drift from the model's training data."""
    # MLflow loads only for a run that scores.
    from rnn_retrain.model.package import model_classes, predict_reviews
    from rnn_retrain.model.serving import BULK_LOADING
    from rnn_retrain.registry import ModelRegistry

    store = ArtifactStore(config.artifact_root)
    scoring_input = prepare_input(config)  # A bad input fails here, before the model loads.
    registry = ModelRegistry(config.tracking_uri, config.model_name)
    chosen = registry.get_version(**config.model_choice())
    version = str(chosen.version)
    load_tensorflow_quietly()
    model = registry.load(version=version, model_config=BULK_LOADING)
    classes = model_classes(model)
    drift = drift_counter(registry, chosen.run_id, classes)

    def predict(texts: list[str]) -> np.ndarray:
        scores = np.asarray(predict_reviews(model, texts), dtype=np.float64)
        if drift is not None:
            drift.add(texts, scores)
        return scores

    run_id = current_run_id()
    result = write_predictions(store, run_id, config, scoring_input, predict, version, classes)
    if drift is None:
        get_run_logger().warning(
            "%s v%s has no training profile or test predictions: no drift report",
            config.model_name,
            version,
        )
        return result
    return report_drift(store, run_id, config, result, drift_findings(drift, config))


def report_drift(
    store: ArtifactStore, run_id: str, config: ScoreConfig, result: ScoreResult, findings: list
) -> ScoreResult:
    """Store the drift report, show it in the UI, and emit ``rnn-retrain.data.drifted`` when a
    figure is above its limit."""
    table = findings_table(findings)
    params = {"model_name": config.model_name, "model_version": result.model_version}
    report = store.write_table(run_id, STAGE, "drift", table, params)
    checks = drifted(findings)
    create_table_artifact(
        table.to_pylist(),
        key=DRIFT_ARTIFACT_KEY,
        description=(
            f"Drift of {result.rows} scored reviews from {config.model_name} "
            f"v{result.model_version}'s data: {', '.join(checks) or 'none'}"
        ),
    )
    logger = get_run_logger()
    if checks:
        logger.warning("Drift from v%s's data: %s", result.model_version, ", ".join(checks))
        emit_data_drifted(config.model_name, result.model_version, result.rows, findings, report)
    else:
        logger.info("No drift from v%s's data", result.model_version)
    return result.model_copy(update={"drift": findings, "drift_report": report})
