"""The select task: choose a sweep's candidate and publish the comparison (`rnn_retrain.stages.select`)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact

from rnn_retrain.orchestration.ui_artifacts import COMPARISON_ARTIFACT_KEY
from rnn_retrain.results import CandidateOutcome
from rnn_retrain.stages.select import choose_best, comparison_rows


@task(name="select")
def select(outcomes: list[CandidateOutcome]) -> tuple[CandidateOutcome, list[dict]]:
    """The candidate with the lowest validation loss, and the comparison table shown in the UI."""
    best = choose_best(outcomes)
    rows = comparison_rows(outcomes, best)
    create_table_artifact(
        rows, key=COMPARISON_ARTIFACT_KEY, description="Sweep candidates, chosen on val_loss"
    )
    return best, rows
