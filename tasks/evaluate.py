"""The evaluate task: score the test split with the trained network (`rnn_retrain.stages.evaluate`)."""

from __future__ import annotations

import tempfile

import pyarrow as pa
from prefect import task
from prefect.artifacts import create_table_artifact

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.data.labels import predicted_ids
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.model.serving import THRESHOLD
from rnn_retrain.orchestration.caching import cached_stage
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.orchestration.ui_artifacts import METRICS_ARTIFACT_KEY
from rnn_retrain.results import EvaluateResult, TrainResult
from rnn_retrain.stages.evaluate import (
    CONFIG,
    compute_metrics,
    confusion_matrix,
    confusion_table,
    predictions_table,
    score_test_rows,
)
from rnn_retrain.store.artifacts import ArtifactRef
from rnn_retrain.store.chunks import read_row_groups
from rnn_retrain.store.paths import stage_folder


@task(**cached_stage("evaluate", CONFIG))
def evaluate(
    padded: ArtifactRef, trained: TrainResult, config: RetrainConfig, candidate: str = ""
) -> EvaluateResult:
    """Score the test split and store the metrics and the per-row predictions."""
    load_tensorflow_quietly()  # Only a stage that runs needs TensorFlow (seconds to load).
    from rnn_retrain.model.layers import load_network

    store = store_for(config)
    with tempfile.TemporaryDirectory() as directory:
        classifier = load_network(store.copy_to_local(trained.model, directory))
    with store.open_parquet(padded) as parquet:
        groups = read_row_groups(parquet, ["row_id", "split", "label", "x"])
        row_ids, y, probabilities = score_test_rows(
            groups, classifier, trained.length_buckets, config.text.padding
        )
    classes = trained.classes
    metrics = compute_metrics(y, probabilities, classes=classes)
    confusion = confusion_matrix(y, predicted_ids(probabilities, THRESHOLD), len(classes))
    create_table_artifact(
        [{"metric": name, "value": value} for name, value in metrics.items()],
        key=METRICS_ARTIFACT_KEY,
        description=f"Test metrics on {metrics['rows']} rows",
    )
    run_id = current_run_id()
    folder = stage_folder("evaluate", candidate)
    params = {"threshold": THRESHOLD, "split": "test"}
    return EvaluateResult(
        metrics=metrics,
        classes=classes,
        confusion=confusion,
        confusion_table=store.write_table(
            run_id, folder, "confusion", confusion_table(confusion, classes), params
        ),
        predictions=store.write_table(
            run_id, folder, "predictions", predictions_table(row_ids, y, probabilities), params
        ),
        metrics_table=store.write_table(
            run_id, folder, "metrics", pa.Table.from_pylist([metrics]), params
        ),
    )
