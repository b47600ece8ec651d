"""Prefect-side pieces shared by the stage tasks: run identity, retry policy, the store.

Pure stage functions never import this module; only the thin @task wrappers do.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect.runtime import flow_run

from rnn_retrain.artifacts import ArtifactStore
from rnn_retrain.config import RetrainConfig
from rnn_retrain.errors import RetrainError


def current_run_id() -> str:
    """The Prefect flow run id, or a fresh id when a task runs outside a flow (tests, notebooks)."""
    return flow_run.id or f"local-{uuid.uuid4().hex[:12]}"


def store_for(config: RetrainConfig) -> ArtifactStore:
    """The artifact store named by the configuration."""
    return ArtifactStore(config.artifact_root)


def retry_on_transient_errors(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: retry I/O hiccups, never a `RetrainError` (bad data or configuration)."""
    error = state.result(raise_on_failure=False)
    return not isinstance(error, RetrainError)


# Every stage task uses these settings: a transient failure is retried twice with growing,
# jittered delays, while a user error fails at once so the user sees it without waiting.
RETRY_SETTINGS: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_on_transient_errors,
}
