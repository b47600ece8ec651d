"""The compare task: publish a sweep's comparison table (`rnn_retrain.stages.select`)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact

from rnn_retrain.orchestration.runtime import COMPARISON_ARTIFACT_KEY


@task(name="compare")
def publish_comparison(rows: list[dict]) -> list[dict]:
    """Publish the candidates' comparison table to the Prefect UI."""
    create_table_artifact(
        rows, key=COMPARISON_ARTIFACT_KEY, description="Sweep candidates, chosen on val_loss"
    )
    return rows
