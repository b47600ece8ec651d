"""The task runner a sweep trains its candidates on: threads, or Dask worker processes."""

from __future__ import annotations

import os
from typing import Any

from rnn_retrain.config.retrain import SweepSettings
from rnn_retrain.environment.services import require_dask_scheduler


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
