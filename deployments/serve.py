"""Serve the deployments of ``prefect.yaml`` from one long-running process, without a work pool.

``prefect.yaml`` is the one definition of the deployments: ``prefect deploy --all`` reads it for
workers, and ``retrain serve`` reads it here for the deployments of the process work pool. Both
read schedules (cron, interval, rrule) and triggers with Prefect's own parsers, so a key means
the same in both. A key that ``retrain serve`` cannot honour is refused, never dropped: the keys
that only say how a worker fetches code (``pull``, ``build``, ``push``) are the one exception,
because a served flow already runs from this checkout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from prefect import serve

# The parsers `prefect deploy` itself uses for these keys (private to Prefect, pinned in
# requirements.lock; tests/test_deployments.py checks what they build).
from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule
from prefect.cli.deploy._triggers import _initialize_deployment_triggers
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment

from rnn_retrain.errors import RetrainError

PREFECT_FILE = Path(__file__).with_name("prefect.yaml")
# `retrain serve` runs flows in its own process: it serves the deployments of the process work
# pool; the container variants (Docker, Kubernetes) are for `prefect deploy` and their workers.
SERVED_POOL = "retrain-pool"
# Keys `retrain serve` passes on, and those that only tell a worker how to fetch the code.
SERVED_KEYS = {
    "name",
    "description",
    "entrypoint",
    "tags",
    "version",
    "parameters",
    "enforce_parameter_schema",
    "concurrency_limit",
    "schedules",
    "triggers",
    "paused",
    "work_pool",
}
WORKER_ONLY_KEYS = {"pull", "build", "push"}


def _retrain() -> Any:
    from flows.retrain import retrain

    return retrain


def _sweep() -> Any:
    from flows.sweep import sweep

    return sweep


def _score() -> Any:
    from flows.score import score

    return score


def _gc() -> Any:
    from flows.gc import gc

    return gc


def _watch_source() -> Any:
    from flows.watch import watch_source

    return watch_source


# Every entrypoint a deployment may name, and how to import its flow (TensorFlow loads with the
# retraining flows; callers silence it first).
FLOWS: dict[str, Callable[[], Any]] = {
    "flows/retrain.py:retrain": _retrain,
    "flows/sweep.py:sweep": _sweep,
    "flows/score.py:score": _score,
    "flows/gc.py:gc": _gc,
    "flows/watch.py:watch_source": _watch_source,
}


def load_deployment_specs(path: Path = PREFECT_FILE) -> list[dict[str, Any]]:
    """The ``deployments`` entries of a prefect.yaml file."""
    return yaml.safe_load(path.read_text())["deployments"]


def served_specs(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deployments `retrain serve` runs: those of the process work pool."""
    return [spec for spec in specs if spec["work_pool"]["name"] == SERVED_POOL]


def concurrency_for(spec: dict[str, Any]) -> ConcurrencyLimitConfig | None:
    """The deployment's concurrency limit, in the form ``to_deployment`` takes."""
    limit = spec.get("concurrency_limit")
    if limit is None:
        return None
    if isinstance(limit, int):
        limit = {"limit": limit}
    strategy = ConcurrencyLimitStrategy(limit.get("collision_strategy", "ENQUEUE"))
    return ConcurrencyLimitConfig(limit=limit["limit"], collision_strategy=strategy)


def build_deployment(spec: dict[str, Any]) -> RunnerDeployment:
    """The runner deployment of one prefect.yaml entry, every key honoured or refused."""
    name = spec.get("name", "?")
    unknown = sorted(set(spec) - SERVED_KEYS - WORKER_ONLY_KEYS)
    if unknown:
        raise RetrainError(
            f"{PREFECT_FILE}: deployment {name!r} has keys `retrain serve` cannot honour: "
            f"{', '.join(unknown)}; serve it with `prefect deploy` and a worker instead"
        )
    load = FLOWS.get(spec["entrypoint"])
    if load is None:
        raise RetrainError(
            f"{PREFECT_FILE}: deployment {name!r} has entrypoint {spec['entrypoint']!r}, "
            f"expected one of {', '.join(sorted(FLOWS))}"
        )
    try:
        schedules = [
            _schedule_config_to_deployment_schedule(s) for s in spec.get("schedules") or []
        ]
        triggers = _initialize_deployment_triggers(name, list(spec.get("triggers") or []))
    except ValueError as error:
        message = str(error).splitlines()[0]
        raise RetrainError(f"{PREFECT_FILE}: deployment {name!r}: {message}") from None
    return load().to_deployment(
        name=name,
        description=spec.get("description"),
        tags=spec.get("tags"),
        version=spec.get("version"),
        schedules=schedules,
        triggers=triggers,
        paused=spec.get("paused"),
        concurrency_limit=concurrency_for(spec),
        parameters=spec.get("parameters") or {},
        enforce_parameter_schema=spec.get("enforce_parameter_schema", True),
        job_variables=spec["work_pool"].get("job_variables"),
    )


def build_deployments(specs: list[dict[str, Any]]) -> list[RunnerDeployment]:
    """Runner deployments, one per prefect.yaml entry."""
    return [build_deployment(spec) for spec in specs]


def serve_deployments() -> None:
    """Register the deployments with the server and run their flow runs until interrupted.

    Check the server first with `rnn_retrain.environment.services.require_prefect_server`: the CLI does,
    before TensorFlow loads.
    """
    serve(*build_deployments(served_specs(load_deployment_specs())))
