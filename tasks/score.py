"""The score task: batch-score files of reviews with a registered model (`rnn_retrain.stages.score`)."""

from __future__ import annotations

from prefect import task

from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.orchestration.runtime import RETRY_SETTINGS, current_run_id
from rnn_retrain.stages.results import ScoreResult
from rnn_retrain.stages.score import prepare_input, write_predictions
from rnn_retrain.store.artifacts import ArtifactStore


@task(name="score", **RETRY_SETTINGS)
def score_files(config: ScoreConfig) -> ScoreResult:
    """Check and hash the input, load the chosen model once, and write its predictions."""
    # MLflow loads only for a run that scores.
    from rnn_retrain.model.package import model_classes, predict_reviews
    from rnn_retrain.model.serving import BULK_LOADING
    from rnn_retrain.registry import ModelRegistry

    store = ArtifactStore(config.artifact_root)
    scoring_input = prepare_input(config)  # A bad input fails here, before the model loads.
    registry = ModelRegistry(config.tracking_uri, config.model_name)
    chosen = registry.get_version(**config.model_choice())
    load_tensorflow_quietly()
    model = registry.load(version=chosen.version, model_config=BULK_LOADING)
    return write_predictions(
        store,
        current_run_id(),
        config,
        scoring_input,
        lambda texts: predict_reviews(model, texts),
        str(chosen.version),
        model_classes(model),
    )
