"""Settings a team shares across every deployment and worker, kept in Prefect Variables.

Where the registry and the artifacts live should be said once for a team, not in every
deployment's parameters: a run whose ``tracking_uri`` or ``artifact_root`` is empty takes it from
the Prefect Variables ``rnn-retrain-tracking-uri`` and ``rnn-retrain-artifact-root`` when they
are set (UI → Variables, or ``prefect variable set``). A value given in the run's parameters
still wins. A deployment run that would still fall back to this machine's SQLite registry says so
loudly in the run log: on a worker, that registry is invisible to everyone else.
"""

from __future__ import annotations

from typing import Any

from prefect.runtime import deployment
from prefect.variables import Variable

from rnn_retrain.config.secrets import has_password, redacted
from rnn_retrain.errors import RetrainError
from rnn_retrain.registry.tracking import resolve_tracking_uri

TRACKING_URI_VARIABLE = "rnn-retrain-tracking-uri"
ARTIFACT_ROOT_VARIABLE = "rnn-retrain-artifact-root"
# The config fields each Variable fills when they are empty.
VARIABLES = {"tracking_uri": TRACKING_URI_VARIABLE, "artifact_root": ARTIFACT_ROOT_VARIABLE}


def with_shared_settings(config: Any, logger: Any) -> Any:
    """The run's config with its empty storage settings filled from the team's Variables."""
    update = {}
    for field, variable in VARIABLES.items():
        if getattr(config.registry, field):
            continue
        value = Variable.get(variable, default=None)
        if isinstance(value, str) and has_password(value):
            raise RetrainError(
                f"the Prefect Variable {variable} holds a password, which Variables do not keep "
                "secret (the UI shows them): set it without one, and the credentials in the "
                "workers' environment (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME/PASSWORD, "
                "AWS_SECRET_ACCESS_KEY)"
            )
        if isinstance(value, str) and value:
            update[field] = value
            logger.info("%s from the Prefect Variable %s: %s", field, variable, value)
    config = config.model_copy(update=update) if update else config
    warn_if_local_registry(config, logger)
    return config


def warn_if_local_registry(config: Any, logger: Any) -> None:
    """Warn when a deployment's run writes to this machine's own SQLite registry."""
    tracking_uri = resolve_tracking_uri(config.registry.tracking_uri)
    if deployment.id and tracking_uri.startswith("sqlite:"):
        logger.warning(
            "This run of deployment %s registers its model in the local SQLite store %s, which "
            "only this machine sees: set the Prefect Variable %s (or MLFLOW_TRACKING_URI, or "
            "the registry's tracking_uri) to the team's MLflow server",
            deployment.name,
            redacted(tracking_uri),
            TRACKING_URI_VARIABLE,
        )
