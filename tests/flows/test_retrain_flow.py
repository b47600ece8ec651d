"""The whole retraining flow under a real (temporary) Prefect API, on small real corpora."""

import json
from pathlib import Path
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.errors import RetrainError
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.store.artifacts import ArtifactStore

pytestmark = pytest.mark.usefixtures("prefect_server")

STAGE_ARTIFACTS = {
    "ingest/snapshot.parquet",
    "ingest/labels.json",
    "tokenize/vocabulary.parquet",
    "tokenize/token_ids.parquet",
    "validate/data_profile.json",
    "pad/padded.parquet",
    "train/model.keras",
    "train/history.parquet",
    "evaluate/predictions.parquet",
    "evaluate/metrics.parquet",
    "evaluate/confusion.parquet",
    "baseline/terms.parquet",
    "baseline/model.json",
    "baseline/predictions.parquet",
}


def small(**overrides) -> RetrainConfig:
    return RetrainConfig.from_flat(
        **{"epochs": 2, "maxlen": 40, "units": 8, "embedding_dim": 8, **overrides}
    )


@pytest.mark.slow  # Trains through the whole flow.
def test_flow_runs_every_stage_and_stores_verified_artifacts(tmp_path: Path, reviews_csv: Path):
    root = tmp_path / "artifacts"
    summary = retrain(
        small(
            data=str(reviews_csv),
            text_column="review",
            label_column="sentiment",
            artifact_root=str(root),
        )
    )
    assert set(summary.artifacts) == STAGE_ARTIFACTS
    store = ArtifactStore(str(root))
    for ref in summary.artifacts.values():
        assert Path(ref.uri).is_relative_to(root / "runs" / summary.run_id)
        assert store.read_manifest(ref)["sha256"] == ref.sha256
        store.read_bytes(ref)  # Raises if the bytes do not match the recorded sha256.

    rows = summary.rows
    assert rows["total"] == 300 and rows["train"] + rows["test"] == 300
    assert summary.train_rows + summary.validation_rows == rows["train"]
    assert summary.split_method.startswith("hash of text")
    assert 1 <= summary.epochs_run <= 2 and 1 <= summary.best_epoch <= summary.epochs_run
    metrics = summary.metrics
    assert (
        metrics["rows"]
        == rows["test"]
        == metrics["tn"] + metrics["fp"] + metrics["fn"] + metrics["tp"]
    )
    assert all(
        0.0 <= metrics[name] <= 1.0 for name in ("accuracy", "precision", "recall", "f1", "roc_auc")
    )

    predictions = store.read_table(summary.artifacts["evaluate/predictions.parquet"])
    snapshot = store.read_table(summary.artifacts["ingest/snapshot.parquet"])
    test_ids = snapshot.filter(pc.equal(snapshot["split"], "test"))["row_id"].to_pylist()
    assert sorted(predictions["row_id"].to_pylist()) == sorted(test_ids)
    padded = store.read_table(summary.artifacts["pad/padded.parquet"])
    assert padded.schema.field("x").type.list_size == 40
    history = store.read_table(summary.artifacts["train/history.parquet"])
    assert history.num_rows == summary.epochs_run

    # The MLflow run shows the snapshot's splits as its datasets, by context.
    registry = ModelRegistry("", "review-sentiment")
    version = registry.get_version(version=summary.registration.version)
    inputs = registry.tracking.client.get_run(version.run_id).inputs.dataset_inputs
    by_context = {
        tags["mlflow.data.context"]: (item.dataset, tags)
        for item in inputs
        for tags in [{tag.key: tag.value for tag in item.tags}]
    }
    assert set(by_context) == {"training", "testing"}
    for context, split in (("training", "train"), ("testing", "test")):
        dataset, tags = by_context[context]
        assert dataset.name == f"snapshot.{split}" and tags["rows"] == str(rows[split])
        assert dataset.digest == version.tags["data.snapshot_sha256"][:16]
        assert json.loads(dataset.source)["uri"] == summary.artifacts["ingest/snapshot.parquet"].uri


def ui_artifacts(flow_run_id: str) -> dict:
    """The run's UI artifacts, its prepare-data subflow's (the data gate's) included."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    with get_client(sync_client=True) as client:
        subflows = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[UUID(flow_run_id)])
            )
        )
        assert [run.name for run in subflows] and len(subflows) == 1
        run_ids = [UUID(flow_run_id), subflows[0].id]
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids))
        )
    return {artifact.key: artifact for artifact in found}


@pytest.mark.slow  # Trains through the whole flow.
def test_run_publishes_metrics_report_and_progress_to_the_ui(tmp_path: Path, reviews_csv: Path):
    summary = retrain(
        small(
            data=str(reviews_csv),
            text_column="review",
            label_column="sentiment",
            artifact_root=str(tmp_path / "a"),
            epochs=3,
            xla=False,
        )
    )
    artifacts = ui_artifacts(summary.run_id)
    assert set(artifacts) == {
        "retrain-data-gate",
        "retrain-test-metrics",
        "retrain-run-report",
        "retrain-training-progress",
    }
    assert artifacts["retrain-training-progress"].data == 100.0
    assert "| leakage | ok |" in artifacts["retrain-data-gate"].data
    metrics = {
        row["metric"]: row["value"] for row in json.loads(artifacts["retrain-test-metrics"].data)
    }
    assert metrics["accuracy"] == pytest.approx(summary.metrics["accuracy"])
    report = artifacts["retrain-run-report"].data
    assert f"# Retraining run `{summary.run_id}`" in report
    assert f"| train | {summary.rows['train']} |" in report
    assert (
        "## Champion / challenger decision" in report
        and summary.registration.decision.reason in report
    )
    assert summary.registration.mlflow_run_id in report


@pytest.mark.slow  # Trains through the whole flow.
def test_vocabulary_is_fitted_on_train_rows_only(tmp_path: Path):
    train_texts = [f"the film was {'good' if i % 2 else 'bad'} number{i % 5}" for i in range(40)]
    test_texts = [f"zebra film {'good' if i % 2 else 'bad'}" for i in range(10)]
    data = tmp_path / "reviews.parquet"
    pq.write_table(
        pa.table(
            {
                "text": train_texts + test_texts,
                "label": [i % 2 for i in range(40)] + [i % 2 for i in range(10)],
                "split": ["train"] * 40 + ["test"] * 10,
            }
        ),
        data,
    )
    summary = retrain(small(data=str(data), artifact_root=str(tmp_path / "a"), epochs=1))
    vocabulary = ArtifactStore(str(tmp_path / "a")).read_table(
        summary.artifacts["tokenize/vocabulary.parquet"]
    )
    assert "zebra" not in vocabulary["token"].to_pylist()
    assert {"film", "good", "bad", "number0"} <= set(vocabulary["token"].to_pylist())
    assert summary.rows["test"] == 10 and summary.split_method == "column 'split'"


def test_bad_input_fails_with_the_user_error_and_leaves_no_artifacts(
    tmp_path: Path, reviews_csv: Path
):
    root = tmp_path / "artifacts"
    with pytest.raises(RetrainError, match="no label column 'label'"):
        retrain(small(data=str(reviews_csv), text_column="review", artifact_root=str(root)))
    assert not (root / "runs").exists()  # Only the stage cache's index of attempted keys.
