"""The Prefect UI's artifacts: their stable keys, and the training progress bar."""

from __future__ import annotations

from collections.abc import Callable

from prefect.artifacts import create_progress_artifact, update_progress_artifact

# Keys of the UI artifacts: stable, so the Prefect UI keeps one history per key across runs.
PROGRESS_ARTIFACT_KEY = "retrain-training-progress"
METRICS_ARTIFACT_KEY = "retrain-test-metrics"
REPORT_ARTIFACT_KEY = "retrain-run-report"
DATA_GATE_ARTIFACT_KEY = "retrain-data-gate"
COMPARISON_ARTIFACT_KEY = "retrain-sweep-comparison"
SCORE_REPORT_ARTIFACT_KEY = "retrain-score-report"


def training_progress(epochs: int) -> Callable[[float], None]:
    """Create this run's training progress artifact; return a function that updates it (0-1)."""
    artifact_id = create_progress_artifact(
        0.0, key=PROGRESS_ARTIFACT_KEY, description=f"Training progress (of {epochs} epochs)"
    )

    def update(share: float) -> None:
        update_progress_artifact(artifact_id, round(100.0 * share, 1))

    return update
