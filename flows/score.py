"""The batch-scoring flow: score files of reviews with a registered model, then report."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.orchestration.events import report_failed_run
from rnn_retrain.orchestration.ui_artifacts import SCORE_REPORT_ARTIFACT_KEY
from rnn_retrain.reports import render_score_report
from rnn_retrain.results import ScoreResult
from rnn_retrain.tasks.score import score_files


@flow(
    name="score",
    description="Score Parquet or CSV files of reviews with a registered model.",
    on_failure=[report_failed_run],
    on_crashed=[report_failed_run],
)
def score(config: ScoreConfig) -> ScoreResult:
    """Score the input with the chosen model (the champion by default) and publish a report."""
    result = score_files(config)
    create_markdown_artifact(
        render_score_report(result),
        key=SCORE_REPORT_ARTIFACT_KEY,
        description=f"Batch scoring: {result.rows} reviews with v{result.model_version}",
    )
    return result
