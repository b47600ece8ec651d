"""How a training run is logged to MLflow: its parameters, metrics, files and servable model.

A `Candidate` gathers what register receives from the stages before it; `lineage_tags` says
where its model came from; `log_training_run` writes one MLflow run with it (the baseline's
figures beside the network's, its files under ``baseline/``, where ``retrain predict
--baseline`` finds them).
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.model.package import code_version
from rnn_retrain.registry.files import BASELINE_ARTIFACT_PATH
from rnn_retrain.registry.servable import log_text_classifier
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.results import (
    BaselineResult,
    EvaluateResult,
    PreparedData,
    TrainResult,
    validation_test_gap,
)
from rnn_retrain.stages.register import (
    CLASSES_TAG,
    LINEAGE_TAG,
    SNAPSHOT_TAG,
    WARM_START_TAG,
    baseline_metrics,
    baseline_tags,
    serving_preprocessing,
)
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore

# Evaluate's files, logged under ``evaluation/`` (its predictions are `files.TEST_PREDICTIONS`).
EVALUATION_FILES = ("history", "metrics", "predictions", "confusion")


@dataclass(frozen=True)
class Candidate:
    """A run's results as register receives them: the model to log, register and judge."""

    prepared: PreparedData
    trained: TrainResult
    evaluated: EvaluateResult
    config: RetrainConfig
    baseline: BaselineResult | None = None

    @property
    def classes(self) -> list[str]:
        return self.prepared.ingested.classes

    def refs(self) -> dict[str, ArtifactRef | None]:
        """The stored files register reads, by name."""
        prepared, evaluated = self.prepared, self.evaluated
        return {
            "snapshot": prepared.ingested.snapshot,
            "vocabulary": prepared.tokens.vocabulary,
            "profile": prepared.validated.profile,
            "model": self.trained.model,
            "history": self.trained.history,
            "predictions": evaluated.predictions,
            "metrics": evaluated.metrics_table,
            "labels": prepared.ingested.labels,
            "confusion": evaluated.confusion_table,
        }


@dataclass(frozen=True)
class LoggedRun:
    """A logged MLflow run and the servable model logged with it."""

    run_id: str
    model_uri: str
    model_id: str | None


def lineage_tags(
    candidate: Candidate, key: str, flow_run_id: str, deployment_name: str
) -> dict[str, str]:
    """The tags of the run and of its version: where the model came from, and its figures."""
    refs, start = candidate.refs(), candidate.trained.start
    warm = start is not None and start.warm
    baseline = candidate.baseline
    return {
        LINEAGE_TAG: key,
        SNAPSHOT_TAG: refs["snapshot"].sha256,
        "data.vocabulary_sha256": refs["vocabulary"].sha256,
        "model.sha256": refs["model"].sha256,
        "config": candidate.config.model_dump_json(),
        "prefect.flow_run_id": flow_run_id,
        "prefect.deployment": deployment_name,
        "code_version": code_version(),
        CLASSES_TAG: json.dumps(candidate.classes),
        # The version whose weights training began from ("" for a cold start), and why.
        WARM_START_TAG: start.version if warm else "",
        **({f"{WARM_START_TAG}.reason": start.reason} if start is not None else {}),
        **{f"test.{name}": str(value) for name, value in candidate.evaluated.metrics.items()},
        **(baseline_tags(baseline) if baseline is not None else {}),
    }


def log_training_run(
    registry: ModelRegistry,
    store: ArtifactStore,
    candidate: Candidate,
    tags: dict[str, str],
    run_name: str | None,
) -> LoggedRun:
    """Log params, metrics, history, files and the servable model as one MLflow run.

    The kept weights' validation accuracy and its gap to the test accuracy are logged too: a
    large gap marks an optimistic validation split.
    """
    tracking, config = registry.tracking, candidate.config
    with (
        tempfile.TemporaryDirectory() as directory,
        tracking.activated(),
        mlflow.start_run(
            experiment_id=tracking.experiment_id(), run_name=run_name, tags=tags
        ) as run,
    ):
        mlflow.log_params(config.flat())
        # The snapshot's train and test rows, shown as the run's datasets in the MLflow UI.
        log_snapshot_inputs(candidate.prepared.ingested.snapshot, candidate.prepared.ingested.rows)
        _log_metrics(store, candidate)
        local = _log_files(store, candidate, Path(directory))
        preprocessing = serving_preprocessing(config, candidate.trained.length_buckets)
        info = log_text_classifier(
            local["model"], local["vocabulary"], preprocessing, local["labels"], candidate.classes
        )
        return LoggedRun(run.info.run_id, info.model_uri, getattr(info, "model_id", None))


def _log_metrics(store: ArtifactStore, candidate: Candidate) -> None:
    """The test metrics, the validation gap, each epoch's figures and the baseline's."""
    metrics = candidate.evaluated.metrics
    mlflow.log_metrics(
        {f"test_{name}": value for name, value in metrics.items() if value is not None}
    )
    validation_accuracy = candidate.trained.validation_accuracy
    gap = validation_test_gap(validation_accuracy, metrics)
    mlflow.log_metrics({"validation_accuracy": validation_accuracy, "validation_test_gap": gap})
    for row in store.read_table(candidate.trained.history).to_pylist():
        epoch = row.pop("epoch")
        row.pop("process_id", None)
        mlflow.log_metrics(row, step=epoch)
    if candidate.baseline is not None:
        mlflow.log_metrics(baseline_metrics(candidate.baseline))


def _log_files(store: ArtifactStore, candidate: Candidate, directory: Path) -> dict[str, Path]:
    """Copy the run's files out of the store and log them; return the local copies by name."""
    refs = candidate.refs()
    local = {
        name: store.copy_to_local(ref, directory) for name, ref in refs.items() if ref is not None
    }
    for name in EVALUATION_FILES:
        if name in local:
            mlflow.log_artifact(str(local[name]), artifact_path="evaluation")
    # What the next run's data gate compares its data with (see `rnn_retrain.tasks.validate`).
    mlflow.log_artifact(str(local["profile"]))
    if candidate.baseline is not None:
        # A folder of its own: its predictions.parquet must not replace evaluate's.
        folder = directory / BASELINE_ARTIFACT_PATH
        folder.mkdir()
        baseline = candidate.baseline
        for ref in (baseline.terms, baseline.model, baseline.predictions):
            mlflow.log_artifact(
                str(store.copy_to_local(ref, folder)), artifact_path=BASELINE_ARTIFACT_PATH
            )
    return local


def log_snapshot_inputs(snapshot: ArtifactRef, split_rows: dict[str, int]) -> None:
    """Record the snapshot's train and test rows as the active run's datasets (MLflow inputs).

    They are metadata only (`MetaDataset`): where the snapshot is, its digest (the first 16
    hex digits of the sha256 the ``data.snapshot_sha256`` tag holds in full), its columns, and
    the split's row count as an input tag (the run's ``data`` parameter says where the snapshot
    was ingested from). The MLflow UI lists them under the run's datasets; nothing is copied.
    """
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types import ColSpec, DataType, Schema

    with warnings.catch_warnings():
        # MLflow registers its local artifact source twice and warns that the URI is ambiguous.
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
        source = resolve_dataset_source(snapshot.uri)
    schema = Schema([ColSpec(DataType.string, "text"), ColSpec(DataType.long, "label")])
    for context, split in (("training", "train"), ("testing", "test")):
        dataset = MetaDataset(
            source, name=f"snapshot.{split}", digest=snapshot.sha256[:16], schema=schema
        )
        tags = {"split": split, "rows": str(split_rows.get(split, ""))}
        mlflow.log_input(dataset, context=context, tags=tags)
