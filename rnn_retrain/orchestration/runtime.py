"""Prefect-side pieces shared by the stage tasks: run identity, retry policy, the store, UI keys.

Pure stage functions (`rnn_retrain.stages`) never import this module; the thin @task wrappers in
`tasks/` and the flows do.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.runtime import flow_run

from rnn_retrain.config.retrain import RetrainConfig, SweepSettings
from rnn_retrain.environment.faults import describe_fault
from rnn_retrain.environment.services import require_dask_scheduler
from rnn_retrain.store.artifacts import ArtifactStore

# The subflow whose tasks belong to the run that called it (see `rnn_retrain.flows.prepare`).
PREPARE_FLOW = "prepare-data"


def current_run_id() -> str:
    """The run's id: the retrain or sweep flow run (its prepare-data subflow's tasks included).

    A fresh id when a task runs outside a flow (tests, notebooks).
    """
    run_id = flow_run.id
    return _owning_run(run_id) if run_id else f"local-{uuid.uuid4().hex[:12]}"


@functools.lru_cache(maxsize=1024)
def _owning_run(run_id: str) -> str:
    # At most two API calls per run and process (none inside a flow): the flow's name, and for
    # a prepare-data run its parent. Called on its own, the subflow is the run.
    if flow_run.flow_name == PREPARE_FLOW:
        return flow_run.parent_flow_run_id or run_id
    return run_id


def store_for(config: RetrainConfig) -> ArtifactStore:
    """The artifact store named by the configuration."""
    return ArtifactStore(config.registry.artifact_root)


# Failures worth another attempt: I/O and network errors (OSError covers ConnectionError,
# TimeoutError and requests' errors). Anything else (bad data, bad configuration, a bug) fails
# the same way every time, so retrying would only delay the error.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, httpx.TransportError)


def retry_on_transient_errors(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: retry I/O and network errors, never a user error or a bug.

    A full disk, a read-only folder or memory running out are I/O errors too, but they do not
    clear in seconds: they fail at once, with the one-line message of `rnn_retrain.environment.faults`.
    """
    error = state.result(raise_on_failure=False)
    return isinstance(error, TRANSIENT_ERRORS) and describe_fault(error) is None


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
SCORE_REPORT_ARTIFACT_KEY = "retrain-score-report"


def training_progress(epochs: int) -> Callable[[float], None]:
    """Create this run's training progress artifact; return a function that updates it (0-1)."""
    artifact_id = create_progress_artifact(
        0.0, key=PROGRESS_ARTIFACT_KEY, description=f"Training progress (of {epochs} epochs)"
    )

    def update(share: float) -> None:
        update_progress_artifact(artifact_id, round(100.0 * share, 1))

    return update


def task_runner_for(settings: SweepSettings, candidates: int) -> Any:
    """The task runner a sweep trains its candidates on (see `SweepSettings.task_runner`).

    ``local``: a thread pool in this process, one thread per candidate. ``dask``: prefect-dask's
    `DaskTaskRunner`, on the scheduler at ``dask_address`` (checked first) or on a local cluster
    of worker processes with one thread each, so every candidate trains in its own process.
    """
    if settings.task_runner == "local":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=max(candidates, 1))
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        require_dask_scheduler(settings.dask_address)
        return DaskTaskRunner(address=settings.dask_address)
    workers = settings.dask_workers or max(1, min(candidates, os.cpu_count() or 1))
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


def warn_if_flat(config: Any, logger: Any) -> None:
    """Log, into the run log, that the parameters came in the deprecated flat shape."""
    if config.flat_fields:
        logger.warning(
            "Deprecated: the config parameter was given flat (%s). Send it in sections "
            '(source, model, training, text, data_gate, registry), e.g. {"model": {"cell": '
            '"gru"}}; the flat shape is accepted for this release only.',
            ", ".join(config.flat_fields),
        )
