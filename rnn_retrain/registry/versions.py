"""One registered model's versions, aliases and tags."""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from rnn_retrain.errors import RetrainError
from rnn_retrain.registry.tracking import TrackingStore

CHAMPION = "champion"
CHALLENGER = "challenger"


class ModelRegistry:
    """One registered model in one MLflow store: its versions, their aliases and tags.

    Aliases mark roles: ``challenger`` is the newest registered version, ``champion`` the one that
    serves (its recorded moves and rollback are `rnn_retrain.registry.champion`'s). A version is
    created with its tags in one call, found by number, alias or tag, loaded as a pyfunc model,
    and discarded with its run when its registration fails or housekeeping removes it.
    """

    def __init__(self, tracking_uri: str, model_name: str) -> None:
        self.tracking = TrackingStore(tracking_uri)
        self.tracking_uri = self.tracking.uri
        self.model_name = model_name
        self._client = self.tracking.client

    def versions(self) -> list[ModelVersion]:
        """All versions of the model, oldest first."""
        found = self._client.search_model_versions(f"name = '{self.model_name}'")
        return sorted(found, key=lambda version: int(version.version))

    def aliases(self) -> dict[str, list[str]]:
        """Version number to its aliases (version search results leave aliases out)."""
        try:
            model = self._client.get_registered_model(self.model_name)
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
        found = self._client.search_model_versions(
            f"name = '{self.model_name}' AND tags.`{key}` = '{value}'"
        )
        return min(found, key=lambda version: int(version.version), default=None)

    def create_version(
        self, model_uri: str, model_id: str | None, run_id: str, tags: dict[str, str]
    ) -> ModelVersion:
        """Register a logged model as a new version, tags set in the same call."""
        try:
            self._client.create_registered_model(self.model_name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        # MLflow resolves a `models:/m-…` source through the fluent tracking URI.
        with self.tracking.activated():
            return self._client.create_model_version(
                self.model_name, source=model_uri, run_id=run_id, tags=tags, model_id=model_id
            )

    def get_version(
        self, version: str | int | None = None, alias: str | None = None
    ) -> ModelVersion:
        """A version by number or alias, or a one-line `RetrainError` naming what is missing."""
        try:
            if alias is not None:
                return self._client.get_model_version_by_alias(self.model_name, alias)
            return self._client.get_model_version(self.model_name, str(version))
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
            self._client.set_model_version_tag(self.model_name, version, key, str(value))

    def set_alias(self, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``."""
        self._client.set_registered_model_alias(self.model_name, alias, version)

    def set_model_tag(self, key: str, value: str) -> None:
        """Set a tag on the registered model itself (not on one version)."""
        self._client.set_registered_model_tag(self.model_name, key, value)

    def model_tags(self) -> dict[str, str]:
        """The registered model's own tags; none before its first version."""
        try:
            return dict(self._client.get_registered_model(self.model_name).tags)
        except MlflowException:
            return {}

    def discard_version(self, version: str) -> None:
        """Delete a version whose registration failed, and mark its MLflow run as failed."""
        run_id = self.get_version(version=version).run_id
        self._client.delete_model_version(self.model_name, version)
        if run_id:
            self._client.set_terminated(run_id, status="FAILED")

    def delete_version(self, version: str) -> None:
        """Delete a version with its run and its logged model (housekeeping's removal)."""
        found = self.get_version(version=version)
        self.discard_version(version)
        self.tracking.delete_run(found.run_id)
        if logged_model_id(found):
            self._client.delete_logged_model(logged_model_id(found))

    def version_bytes(self, version: ModelVersion) -> int:
        """The bytes of a version's files in the MLflow artifact store: its run's artifacts and
        its logged model's (MLflow 3 keeps a logged model's files apart from its run's)."""
        client = self._client
        total = _listed_bytes(lambda folder: client.list_artifacts(version.run_id, folder))
        model_id = logged_model_id(version)
        if model_id:
            total += _listed_bytes(
                lambda folder: client.list_logged_model_artifacts(model_id, folder)
            )
        return total

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
        with self.tracking.activated():
            return mlflow.pyfunc.load_model(uri, model_config=model_config)


def logged_model_id(version: ModelVersion) -> str | None:
    """The logged model a version was registered from (``models:/m-…``), None for a run path."""
    source = version.source or ""
    return source.removeprefix("models:/") if source.startswith("models:/m-") else None


def _listed_bytes(listing: Any) -> int:
    total, folders = 0, [None]
    while folders:
        for entry in listing(folders.pop()):
            if entry.is_dir:
                folders.append(entry.path)
            else:
                total += entry.file_size or 0
    return total
