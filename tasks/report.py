"""The report task: publish the run report as a Prefect UI artifact (`rnn_retrain.reports`)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact

from rnn_retrain.orchestration.ui_artifacts import REPORT_ARTIFACT_KEY
from rnn_retrain.reports import render_run_report
from rnn_retrain.results import RetrainSummary


@task(name="report")
def publish_report(summary: RetrainSummary) -> str:
    """Render the run summary as markdown and publish it under a stable artifact key."""
    markdown = render_run_report(summary)
    create_markdown_artifact(markdown, key=REPORT_ARTIFACT_KEY, description="Retraining run report")
    return markdown
