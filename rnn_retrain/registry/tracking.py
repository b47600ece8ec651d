"""The tracking store a registry lives in: which one, its creation, and MLflow's client for it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from rnn_retrain.environment.services import require_tracking_server
from rnn_retrain.store import paths
from rnn_retrain.store.locks import exclusive_lock

EXPERIMENT = "rnn-retrain"
# How long a process waits for another one creating the embedded store (or deciding a promotion).
STORE_LOCK_SECONDS = 3600.0


def resolve_tracking_uri(configured: str = "") -> str:
    """The configured URI, else ``$MLFLOW_TRACKING_URI``, else SQLite under the project's home."""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return paths.embedded_tracking_uri()


_initialised: set[str] = set()


def open_client(tracking_uri: str) -> MlflowClient:
    """MLflow's client for the store; a SQLite store created or upgraded under a lock, once per
    process.

    MLflow creates a new SQLite store's tables, and upgrades an old one, with Alembic as its
    client is made; two processes doing it at once on an empty home fail (``table
    _alembic_tmp_experiments already exists``). A server-backed or PostgreSQL store does this on
    its own side.
    """
    if not tracking_uri.startswith("sqlite:") or tracking_uri in _initialised:
        return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    lock = paths.lock_file("mlflow-store", tracking_uri)
    with exclusive_lock(lock, STORE_LOCK_SECONDS, purpose="creation of the MLflow store"):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        client.search_experiments(max_results=1)  # The tracking store's tables.
        client.search_registered_models(max_results=1)  # The registry's, same database.
    _initialised.add(tracking_uri)
    return client


class TrackingStore:
    """One MLflow tracking and registry store: its URI, MLflow's client for it, the experiment.

    The embedded default is a SQLite store and a local artifact folder under the project's home;
    ``tracking_uri`` (or ``MLFLOW_TRACKING_URI``) points at a team's MLflow server instead. The
    server must answer before anything else happens, and an embedded store is created once, under
    a lock. MLflow's client is used only inside `rnn_retrain.registry`.
    """

    def __init__(self, tracking_uri: str = "") -> None:
        self.uri = resolve_tracking_uri(tracking_uri)
        require_tracking_server(self.uri)
        self.client = open_client(self.uri)

    @contextlib.contextmanager
    def activated(self) -> Iterator[None]:
        """Point MLflow's fluent API (runs, log_model, load_model) at this store for a block.

        `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI to the environment; the
        variables are put back afterwards, so a later run in the same process that relies on the
        default store does not silently inherit this one.
        """
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        saved = {
            name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
        }
        # MLflow keeps the URIs in module globals too; a process that serves several runs
        # (`retrain serve`, a worker, tests) must not keep talking to this store afterwards.
        saved_uris = (tracking_utils._tracking_uri, registry_utils._registry_uri)
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(saved_uris[0])
            mlflow.set_registry_uri(saved_uris[1])
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def experiment_id(self) -> str:
        """The project's MLflow experiment, created on first use."""
        experiment = self.client.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            return experiment.experiment_id
        location = None
        if self.uri.startswith("sqlite:"):
            # Without this, MLflow writes artifacts to ./mlruns in whatever folder we run from.
            location = paths.embedded_model_location()
        try:
            return self.client.create_experiment(EXPERIMENT, artifact_location=location)
        except MlflowException:  # Created by a concurrent run in the meantime.
            return self.client.get_experiment_by_name(EXPERIMENT).experiment_id

    def run_experiment_id(self, run_id: str) -> str:
        """The experiment a run was logged in."""
        return self.client.get_run(run_id).info.experiment_id

    def delete_run(self, run_id: str) -> None:
        """Delete a logged run (MLflow keeps it in the trash until its own garbage collection)."""
        self.client.delete_run(run_id)
