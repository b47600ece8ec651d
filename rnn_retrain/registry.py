"""The model registry adapter: MLflow tracking and registry behind a few verbs.

The embedded default is a SQLite store and a local artifact folder under the project's home;
``tracking_uri`` (or ``MLFLOW_TRACKING_URI``) points at a team's MLflow server instead. Aliases
mark roles: ``challenger`` is the newest registered version, ``champion`` the one that serves.
Every move of ``champion`` is kept as a tag on the registered model, so the registry itself can
answer "which version was serving at time T" and roll back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mlflow
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from rnn_retrain.environment.services import require_tracking_server
from rnn_retrain.errors import RetrainError
from rnn_retrain.store import paths
from rnn_retrain.store.artifacts import ArtifactRef
from rnn_retrain.store.locks import exclusive_lock

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
EXPERIMENT = "rnn-retrain"
DATA_PROFILE = "data_profile.json"
# Evaluate's per-row scores of the test split, as register logs them with the run.
TEST_PREDICTIONS = "evaluation/predictions.parquet"
# How long a run waits for another run's promotion decision before it gives up.
PROMOTION_LOCK_SECONDS = 3600.0
MOVE_TAG_PREFIX = "champion.move."
# Where a run's bag-of-words baseline files are logged (see `stages.baseline`).
BASELINE_ARTIFACT_PATH = "baseline"


def resolve_tracking_uri(configured: str = "") -> str:
    """The configured URI, else ``$MLFLOW_TRACKING_URI``, else SQLite under the project's home."""
    if configured:
        return configured
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return paths.embedded_tracking_uri()


def log_snapshot_inputs(snapshot: ArtifactRef, split_rows: dict[str, int]) -> None:
    """Record the snapshot's train and test rows as the active run's datasets (MLflow inputs).

    They are metadata only (`MetaDataset`): where the snapshot is, its digest (the first 16
    hex digits of the sha256 the ``data.snapshot_sha256`` tag holds in full), its columns, and
    the split's row count as an input tag (the run's ``data`` parameter says where the snapshot
    was ingested from). The MLflow UI lists them under the run's datasets; nothing is copied.
    """
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types import ColSpec, DataType, Schema

    with warnings.catch_warnings():
        # MLflow registers its local artifact source twice and warns that the URI is ambiguous.
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
        source = resolve_dataset_source(snapshot.uri)
    schema = Schema([ColSpec(DataType.string, "text"), ColSpec(DataType.long, "label")])
    for context, split in (("training", "train"), ("testing", "test")):
        dataset = MetaDataset(
            source, name=f"snapshot.{split}", digest=snapshot.sha256[:16], schema=schema
        )
        tags = {"split": split, "rows": str(split_rows.get(split, ""))}
        mlflow.log_input(dataset, context=context, tags=tags)


_initialised: set[str] = set()


def initialise_store(client: MlflowClient, tracking_uri: str) -> None:
    """Create or upgrade a SQLite store under a lock, once per process.

    MLflow creates a new SQLite store's tables, and upgrades an old one, with Alembic on first
    use; two runs doing it at once on an empty home fail (``table _alembic_tmp_experiments
    already exists``). A server-backed or PostgreSQL store does this on its own side.
    """
    if not tracking_uri.startswith("sqlite:") or tracking_uri in _initialised:
        return
    lock = paths.lock_file("mlflow-store", tracking_uri)
    with exclusive_lock(lock, PROMOTION_LOCK_SECONDS, purpose="creation of the MLflow store"):
        client.search_experiments(max_results=1)  # The tracking store's tables.
        client.search_registered_models(max_results=1)  # The registry's, same database.
    _initialised.add(tracking_uri)


@dataclass(frozen=True)
class ChampionMove:
    """One change of the ``champion`` alias."""

    at: str
    version: str
    previous_version: str | None
    kind: str  # "promotion" or "rollback"
    reason: str
    flow_run_id: str | None


class ModelRegistry:
    """One registered model in one MLflow tracking/registry store."""

    def __init__(self, tracking_uri: str, model_name: str) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        require_tracking_server(self.tracking_uri)
        self.model_name = model_name
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        initialise_store(self.client, self.tracking_uri)

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
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
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

    # Runs.

    def experiment_id(self) -> str:
        """The project's MLflow experiment, created on first use."""
        experiment = self.client.get_experiment_by_name(EXPERIMENT)
        if experiment is not None:
            return experiment.experiment_id
        location = None
        if self.tracking_uri.startswith("sqlite:"):
            # Without this, MLflow writes artifacts to ./mlruns in whatever folder we run from.
            location = paths.embedded_model_location()
        try:
            return self.client.create_experiment(EXPERIMENT, artifact_location=location)
        except MlflowException:  # Created by a concurrent run in the meantime.
            return self.client.get_experiment_by_name(EXPERIMENT).experiment_id

    # Versions.

    def versions(self) -> list[ModelVersion]:
        """All versions of the model, oldest first."""
        found = self.client.search_model_versions(f"name = '{self.model_name}'")
        return sorted(found, key=lambda version: int(version.version))

    def aliases(self) -> dict[str, list[str]]:
        """Version number to its aliases (version search results leave aliases out)."""
        try:
            model = self.client.get_registered_model(self.model_name)
        except MlflowException:
            return {}
        by_version: dict[str, list[str]] = {}
        for alias, version in model.aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        return by_version

    def version_with_tag(self, key: str, value: str) -> ModelVersion | None:
        """The oldest version carrying tag ``key=value`` (the lineage key, say), if any.

        The store filters by tag on its side (SQL on SQLite or PostgreSQL, the REST search on a
        server): one query however many versions the model has.
        """
        for text in (key, value):
            if "'" in text or "`" in text:
                raise ValueError(f"a registry tag filter cannot hold quotes: {text!r}")
        found = self.client.search_model_versions(
            f"name = '{self.model_name}' AND tags.`{key}` = '{value}'"
        )
        return min(found, key=lambda version: int(version.version), default=None)

    def create_version(
        self, model_uri: str, model_id: str | None, run_id: str, tags: dict[str, str]
    ) -> ModelVersion:
        """Register a logged model as a new version, tags set in the same call."""
        try:
            self.client.create_registered_model(self.model_name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        # MLflow resolves a `models:/m-…` source through the fluent tracking URI.
        with self.activated():
            return self.client.create_model_version(
                self.model_name, source=model_uri, run_id=run_id, tags=tags, model_id=model_id
            )

    def get_version(
        self, version: str | int | None = None, alias: str | None = None
    ) -> ModelVersion:
        """A version by number or alias, or a one-line `RetrainError` naming what is missing."""
        try:
            if alias is not None:
                return self.client.get_model_version_by_alias(self.model_name, alias)
            return self.client.get_model_version(self.model_name, str(version))
        except MlflowException:
            if alias == CHAMPION:
                raise RetrainError(
                    f"model {self.model_name!r} has no champion yet; run `retrain run` first "
                    "(its first model that clears min_accuracy becomes champion)"
                ) from None
            what = f"alias {alias!r}" if alias is not None else f"version {version}"
            raise RetrainError(f"model {self.model_name!r} has no {what}") from None

    def champion(self) -> ModelVersion | None:
        """The current champion, or None before the first promotion."""
        try:
            return self.get_version(alias=CHAMPION)
        except RetrainError:
            return None

    def set_tags(self, version: str, tags: dict[str, Any]) -> None:
        """Set tags on one version (values are stored as strings)."""
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, version, key, str(value))

    def champion_data_profile(self) -> dict[str, Any] | None:
        """The champion's training-data profile (see `rnn_retrain.tasks.validate`), if it has one."""
        champion = self.champion()
        return None if champion is None else self.data_profile(champion.run_id)

    def data_profile(self, run_id: str | None) -> dict[str, Any] | None:
        """The training-data profile (see `rnn_retrain.tasks.validate`) a version's run logged, if any."""
        if not run_id:
            return None
        try:
            with self.activated():
                return mlflow.artifacts.load_dict(f"runs:/{run_id}/{DATA_PROFILE}")
        except (MlflowException, OSError):  # Registered before profiles existed.
            return None

    def download_model_files(
        self, version: str, names: list[str], directory: str | os.PathLike[str]
    ) -> dict[str, Path]:
        """Download a version's servable model into ``directory``; the paths of its named
        artifacts (`rnn_retrain.model.serving`'s ``ARTIFACT_*``), without loading it."""
        from mlflow.models import Model

        with self.activated():
            folder = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{self.model_name}/{version}", dst_path=str(directory)
                )
            )
        artifacts = Model.load(str(folder)).flavors["python_function"]["artifacts"]
        return {name: folder / artifacts[name]["path"] for name in names}

    def test_predictions(self, run_id: str | None) -> pa.Table | None:
        """A version's scores on its own test rows (evaluate's predictions, as its run logged
        them), if any."""
        if not run_id:
            return None
        try:
            with tempfile.TemporaryDirectory() as directory, self.activated():
                path = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=TEST_PREDICTIONS, dst_path=directory
                )
                return pq.read_table(path, columns=["probability", "prediction"])
        except (MlflowException, OSError):
            return None

    def download_baseline(self, version: str, directory: str | os.PathLike[str]) -> Path:
        """Download the baseline files logged with a version's run; return their folder.

        Raises:
            RetrainError: if the version's run logged no baseline (registered before baselines
                existed, or by a run with the baseline off).
        """
        run_id = self.get_version(version=version).run_id
        try:
            with self.activated():
                folder = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=BASELINE_ARTIFACT_PATH, dst_path=str(directory)
                )
        except (MlflowException, OSError):
            folder = None
        if folder is None or not any(Path(folder).iterdir()):
            raise RetrainError(
                f"model {self.model_name!r} version {version} has no baseline (registered before "
                "baselines, or by a run with --no-baseline)"
            )
        return Path(folder)

    def discard_version(self, version: str) -> None:
        """Delete a version whose registration failed, and mark its MLflow run as failed."""
        run_id = self.get_version(version=version).run_id
        self.client.delete_model_version(self.model_name, version)
        if run_id:
            self.client.set_terminated(run_id, status="FAILED")

    @contextlib.contextmanager
    def promotion_lock(self, timeout: float = PROMOTION_LOCK_SECONDS) -> Iterator[None]:
        """Let one run at a time register and judge a version of this model, on this machine.

        The lock is a file in ``$RETRAIN_HOME/locks`` named after the store and the model, so
        overlapping runs (a manual run during the scheduled one) take their decisions one after
        the other, each against the champion the previous one left.
        """
        path = paths.lock_file("registry", f"{self.tracking_uri}\n{self.model_name}")
        with exclusive_lock(path, timeout, purpose=f"promotion decision on {self.model_name}"):
            yield

    def set_alias(self, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``."""
        self.client.set_registered_model_alias(self.model_name, alias, version)

    def load(
        self,
        version: str | int | None = None,
        alias: str | None = None,
        model_config: dict[str, Any] | None = None,
    ) -> Any:
        """Load a version (by number or alias) as an MLflow pyfunc model.

        ``model_config`` reaches the model's ``load_context`` (MLflow's own argument), e.g.
        `rnn_retrain.model.serving.BULK_LOADING`.
        """
        resolved = self.get_version(version=version, alias=alias)
        uri = f"models:/{self.model_name}/{resolved.version}"
        with self.activated():
            return mlflow.pyfunc.load_model(uri, model_config=model_config)

    # Champion history.

    def move_champion(
        self, version: str, kind: str, reason: str, flow_run_id: str | None
    ) -> ChampionMove:
        """Point ``champion`` at ``version`` and record the move.

        The alias moves first, in one call; the record follows. A crash in between leaves the
        registry consistent (the alias is the truth) with one move missing from the history.
        """
        previous = self.champion()
        move = ChampionMove(
            at=datetime.now(timezone.utc).isoformat(timespec="microseconds"),
            version=str(version),
            previous_version=str(previous.version) if previous else None,
            kind=kind,
            reason=reason,
            flow_run_id=flow_run_id,
        )
        self.set_alias(CHAMPION, move.version)
        stamp = move.at.replace("-", "").replace(":", "").replace(".", "").replace("+0000", "Z")
        self.client.set_registered_model_tag(
            self.model_name, MOVE_TAG_PREFIX + stamp, json.dumps(move.__dict__)
        )
        return move

    def champion_history(self) -> list[ChampionMove]:
        """Every recorded move of ``champion``, oldest first."""
        try:
            tags = self.client.get_registered_model(self.model_name).tags
        except MlflowException:
            return []
        moves = [
            ChampionMove(**json.loads(value))
            for key, value in tags.items()
            if key.startswith(MOVE_TAG_PREFIX)
        ]
        return sorted(moves, key=lambda move: move.at)

    def champion_at(self, when: datetime) -> ChampionMove | None:
        """The move that made the version serving at ``when`` champion, or None."""
        earlier = [
            move for move in self.champion_history() if datetime.fromisoformat(move.at) <= when
        ]
        return earlier[-1] if earlier else None

    def rollback(self, reason: str = "rollback requested") -> ChampionMove:
        """Put the champion that preceded the current one back.

        Promotions stack up and each rollback pops one, so repeated rollbacks walk back through
        earlier champions rather than toggling between the last two.
        """
        stack: list[str] = []
        for move in self.champion_history():
            if move.kind == "rollback":
                stack.pop() if stack else None
            else:
                stack.append(move.version)
        current = self.champion()
        if current is None:
            raise RetrainError(f"model {self.model_name!r} has no champion to roll back")
        if len(stack) < 2 or stack[-1] != str(current.version):
            raise RetrainError(
                f"model {self.model_name!r}: no earlier champion to roll back to from version "
                f"{current.version}"
            )
        return self.move_champion(stack[-2], "rollback", reason, None)
