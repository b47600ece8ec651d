"""Report: publish the run report as a Prefect UI artifact."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact

from rnn_retrain.report import render_run_report
from tasks.runtime import REPORT_ARTIFACT_KEY


@task(name="report")
def publish_report(summary: Any) -> str:
    """Render the run summary as markdown and publish it under a stable artifact key."""
    markdown = render_run_report(summary)
    create_markdown_artifact(markdown, key=REPORT_ARTIFACT_KEY, description="Retraining run report")
    return markdown
