"""Serve the deployments of ``prefect.yaml`` from one long-running process, without a work pool.

``prefect.yaml`` is the one definition of the deployments: ``prefect deploy --all`` reads it for
workers, and ``retrain serve`` reads it here for the deployments of the process work pool. Both
read schedules (cron, interval, rrule) into Prefect's public ``prefect.schedules`` classes and
triggers with Prefect's own trigger models, so a key means the same in both. A key that
``retrain serve`` cannot honour is refused, never dropped: the keys that only say how a worker
fetches code (``pull``, ``build``, ``push``) are the one exception, because a served flow
already runs from this checkout.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentTriggerTypes
from prefect.schedules import Cron, Interval, RRule, Schedule
from pydantic import TypeAdapter, ValidationError

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
# A schedule entry of prefect.yaml is one of these kinds, named by its key, plus the options
# `prefect.schedules` takes for it (`prefect deploy` reads the same keys).
SCHEDULE_KINDS: dict[str, tuple[Callable[..., Schedule], set[str]]] = {
    "cron": (Cron, {"timezone", "day_or", "active", "parameters", "slug"}),
    "interval": (Interval, {"anchor_date", "timezone", "active", "parameters", "slug"}),
    "rrule": (RRule, {"timezone", "active", "parameters", "slug"}),
}
# Prefect's own union of deployment triggers (event, metric, compound, sequence), discriminated
# by `type`, as `prefect deploy` validates them.
TRIGGERS = TypeAdapter(list[DeploymentTriggerTypes])


def schedule_from(entry: dict[str, Any]) -> Schedule:
    """One ``schedules`` entry as a ``prefect.schedules`` schedule; a key it cannot take is refused."""
    kinds = [kind for kind in SCHEDULE_KINDS if kind in entry]
    if len(kinds) != 1:
        raise ValueError(
            f"a schedule needs exactly one of {', '.join(SCHEDULE_KINDS)} (got {sorted(entry)})"
        )
    kind = kinds[0]
    build, options = SCHEDULE_KINDS[kind]
    unknown = sorted(set(entry) - options - {kind})
    if unknown:
        raise ValueError(f"a {kind} schedule does not take {', '.join(unknown)}")
    settings = {key: entry[key] for key in options & set(entry)}
    if isinstance(settings.get("anchor_date"), str):
        settings["anchor_date"] = datetime.fromisoformat(settings["anchor_date"])
    return build(entry[kind], **settings)


def triggers_from(name: str, entries: list[dict[str, Any]]) -> list[Any]:
    """The ``triggers`` entries, each named after its deployment unless it has a name."""
    named = [{"name": f"{name}__automation_{i}", **entry} for i, entry in enumerate(entries, 1)]
    return TRIGGERS.validate_python(named)


def _retrain() -> Any:
    from rnn_retrain.flows.retrain import retrain

    return retrain


def _sweep() -> Any:
    from rnn_retrain.flows.sweep import sweep

    return sweep


def _score() -> Any:
    from rnn_retrain.flows.score import score

    return score


def _gc() -> Any:
    from rnn_retrain.flows.gc import gc

    return gc


def _watch_source() -> Any:
    from rnn_retrain.flows.watch import watch_source

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
        schedules = [schedule_from(entry) for entry in spec.get("schedules") or []]
        triggers = triggers_from(name, list(spec.get("triggers") or []))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = f"triggers: {where}: {first['msg']}"
        raise RetrainError(f"{PREFECT_FILE}: deployment {name!r}: {message}") from None
    except (ValueError, TypeError) as error:
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
