"""Prefect-side pieces shared by the stage tasks: run identity, retry policy, the store.

Pure stage functions never import this module; only the thin @task wrappers do.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.runtime import flow_run

from rnn_retrain.artifacts import ArtifactStore
from rnn_retrain.config import RetrainConfig
from rnn_retrain.errors import RetrainError


def current_run_id() -> str:
    """The Prefect flow run id, or a fresh id when a task runs outside a flow (tests, notebooks)."""
    return flow_run.id or f"local-{uuid.uuid4().hex[:12]}"


def stage_folder(stage: str, candidate: str = "") -> str:
    """The run's folder for a stage's files; a sweep candidate gets its own below it."""
    if not candidate:
        return stage
    return f"{stage}/{re.sub(r'[^A-Za-z0-9.]+', '-', candidate).strip('-')}"


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
COMPARISON_ARTIFACT_KEY = "retrain-sweep-comparison"


def training_progress(epochs: int) -> Callable[[float], None]:
    """Create this run's training progress artifact; return a function that updates it (0-1)."""
    artifact_id = create_progress_artifact(
        0.0, key=PROGRESS_ARTIFACT_KEY, description=f"Training progress (of {epochs} epochs)"
    )

    def update(share: float) -> None:
        update_progress_artifact(artifact_id, round(100.0 * share, 1))

    return update


def task_runner_for(config: Any, candidates: int) -> Any:
    """The task runner a sweep trains its candidates on (see `SweepConfig.task_runner`).

    ``local``: a thread pool in this process, one thread per candidate. ``dask``: prefect-dask's
    `DaskTaskRunner`, on the scheduler at ``dask_address`` (checked first) or on a local cluster
    of worker processes with one thread each, so every candidate trains in its own process.
    """
    if config.task_runner == "local":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=max(candidates, 1))
    from prefect_dask import DaskTaskRunner

    if config.dask_address:
        require_dask_scheduler(config.dask_address)
        return DaskTaskRunner(address=config.dask_address)
    workers = config.dask_workers or max(1, min(candidates, os.cpu_count() or 1))
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


def require_dask_scheduler(address: str, timeout: float = 10.0) -> None:
    """Refuse, in one line, a Dask scheduler address that does not answer."""
    from distributed import Client

    try:
        with Client(address, timeout=timeout):
            pass
    except (OSError, TimeoutError, ValueError) as error:
        raise RetrainError(
            f"dask_address {address!r}: no Dask scheduler answers there "
            f"({type(error).__name__}: {error}); start one with `dask scheduler` or leave "
            "dask_address empty for a local cluster"
        ) from None
