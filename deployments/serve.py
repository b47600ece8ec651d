"""Serve the deployments of ``prefect.yaml`` from one long-running process, without a work pool.

The schedules, concurrency limits and parameters come from ``prefect.yaml`` itself, so
``retrain serve`` and ``prefect deploy --all`` create the same deployments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from rnn_retrain.errors import RetrainError

PREFECT_FILE = Path(__file__).with_name("prefect.yaml")
ENTRYPOINT = "flows/retrain.py:retrain"
# `retrain serve` runs flows in its own process: it serves the deployments of the process work
# pool; the container variants (Docker, Kubernetes) are for `prefect deploy` and their workers.
SERVED_POOL = "retrain-pool"


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


def build_deployments(specs: list[dict[str, Any]]) -> list[RunnerDeployment]:
    """Runner deployments of the retraining flow, one per prefect.yaml entry."""
    from flows.retrain import retrain  # TensorFlow loads with the flow; callers silence it first.

    deployments = []
    for spec in specs:
        if spec["entrypoint"] != ENTRYPOINT:
            raise RetrainError(
                f"{PREFECT_FILE}: deployment {spec['name']!r} has entrypoint {spec['entrypoint']!r}, expected {ENTRYPOINT!r}"
            )
        schedules = [
            Cron(
                schedule["cron"],
                timezone=schedule.get("timezone"),
                active=schedule.get("active", True),
            )
            for schedule in spec.get("schedules") or []
        ]
        deployments.append(
            retrain.to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                tags=spec.get("tags"),
                schedules=schedules,
                concurrency_limit=concurrency_for(spec),
                parameters=spec.get("parameters") or {},
                enforce_parameter_schema=spec.get("enforce_parameter_schema", True),
            )
        )
    return deployments


def serve_deployments() -> None:
    """Register the deployments with the server and run their flow runs until interrupted.

    Check the server first with `rnn_retrain.services.require_prefect_server`: the CLI does,
    before TensorFlow loads.
    """
    serve(*build_deployments(served_specs(load_deployment_specs())))
