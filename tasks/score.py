"""The score task: batch-score files of reviews with a registered model (`rnn_retrain.stages.score`),
and report how they drifted from the model's own data (`rnn_retrain.stages.drift`)."""

from __future__ import annotations

import numpy as np
from prefect import task

from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.orchestration.drift_reports import drift_counter, report_drift
from rnn_retrain.orchestration.retries import RETRY_SETTINGS
from rnn_retrain.orchestration.runs import current_run_id
from rnn_retrain.results import ScoreResult
from rnn_retrain.stages.drift import drift_findings
from rnn_retrain.stages.score import STAGE, prepare_input, write_predictions
from rnn_retrain.store.artifacts import ArtifactStore


@task(name="score", **RETRY_SETTINGS)
def score_files(config: ScoreConfig) -> ScoreResult:
    """Check and hash the input, load the chosen model once, write its predictions, and report
    the scored reviews' drift from the model's training data."""
    # MLflow loads only for a run that scores.
    from rnn_retrain.model.package import model_classes, predict_reviews
    from rnn_retrain.model.serving import BULK_LOADING
    from rnn_retrain.registry.versions import ModelRegistry

    store = ArtifactStore(config.artifact_root)
    scoring_input = prepare_input(config)  # A bad input fails here, before the model loads.
    registry = ModelRegistry(config.tracking_uri, config.model_name)
    chosen = registry.get_version(**config.model_choice())
    version = str(chosen.version)
    load_tensorflow_quietly()
    model = registry.load(version=version, model_config=BULK_LOADING)
    classes = model_classes(model)
    drift = drift_counter(registry, version, chosen.run_id, classes)

    def predict(texts: list[str]) -> np.ndarray:
        scores = np.asarray(predict_reviews(model, texts), dtype=np.float64)
        if drift is not None:
            drift.add(texts, scores)
        return scores

    run_id = current_run_id()
    result = write_predictions(store, run_id, config, scoring_input, predict, version, classes)
    if drift is None:
        return result
    findings = drift_findings(drift, config)
    what = f"{result.rows:,} scored reviews"
    report = report_drift(store, STAGE, config.model_name, version, result.rows, findings, what)
    return result.model_copy(update={"drift": findings, "drift_report": report})
