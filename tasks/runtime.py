"""Prefect-side pieces shared by the stage tasks: run identity, retry policy, the store.

Pure stage functions never import this module; only the thin @task wrappers do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.runtime import flow_run

from rnn_retrain.artifacts import ArtifactStore
from rnn_retrain.config import RetrainConfig


def current_run_id() -> str:
    """The Prefect flow run id, or a fresh id when a task runs outside a flow (tests, notebooks)."""
    return flow_run.id or f"local-{uuid.uuid4().hex[:12]}"


def store_for(config: RetrainConfig) -> ArtifactStore:
    """The artifact store named by the configuration."""
    return ArtifactStore(config.artifact_root)


# Failures worth another attempt: I/O and network errors (OSError covers ConnectionError,
# TimeoutError and requests' errors). Anything else (bad data, bad configuration, a bug) fails
# the same way every time, so retrying would only delay the error.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, httpx.TransportError)


def retry_on_transient_errors(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: retry I/O and network errors, never a user error or a bug."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, TRANSIENT_ERRORS)


# Every stage task uses these settings: a transient failure is retried twice with growing,
# jittered delays, while any other failure ends the run at once so the user sees it without
# waiting.
RETRY_SETTINGS: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_on_transient_errors,
}


# Keys of the UI artifacts: stable, so the Prefect UI keeps one history per key across runs.
PROGRESS_ARTIFACT_KEY = "retrain-training-progress"
METRICS_ARTIFACT_KEY = "retrain-test-metrics"
REPORT_ARTIFACT_KEY = "retrain-run-report"
DATA_GATE_ARTIFACT_KEY = "retrain-data-gate"


def training_progress(epochs: int) -> Callable[[float], None]:
    """Create this run's training progress artifact; return a function that updates it (0-1)."""
    artifact_id = create_progress_artifact(
        0.0, key=PROGRESS_ARTIFACT_KEY, description=f"Training progress (of {epochs} epochs)"
    )

    def update(share: float) -> None:
        update_progress_artifact(artifact_id, round(100.0 * share, 1))

    return update
