"""A served model that follows a registry alias: the version it points at, swapped in when it moves.

MLflow's scoring server takes one loaded model and keeps it for the life of the process
(`mlflow models serve` resolves ``@champion`` once, at start). `FollowingModel` stands in that
place: MLflow's handler calls its ``predict`` and reads its ``metadata`` as it would a
``PyFuncModel``'s, and both go to the version the alias pointed at when it was last read. A
thread reads the alias every few seconds (one registry call); when it has moved (a promotion, an
approval, a rollback), it loads the new version beside the old one, compiles its serving shapes,
and then swaps the reference in one assignment. A request in flight finishes on the model it
started with; the next one gets the new version. No request waits for a load, and none fails
because of one.

Why this and not a rolling restart of the server's workers (uvicorn's SIGHUP): a new worker
imports TensorFlow and builds the model from nothing, so each restart costs the machine about
ten seconds of a core while the workers left serve the load, where a swap in place only loads
the model's files and compiles its shapes. `benchmarks/serve_load.py --swap` measures both
(docs/serving.md, "A new champion").
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from rnn_retrain.errors import RetrainError
from rnn_retrain.registry.versions import ModelRegistry

log = logging.getLogger(__name__)

# A version that failed to load is tried again after this long, if the alias still names it.
RETRY_SECONDS = 60.0
# Set by the server around each request: the answering version is added to the list it holds.
ANSWERED_BY: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "rnn_retrain_answered_by", default=None
)


@dataclass(frozen=True)
class ServedVersion:
    """One loaded version: its number and its MLflow pyfunc model."""

    version: str
    model: Any
    load_seconds: float


class FollowingModel:
    """The version an alias points at, as MLflow's scoring server uses a loaded model.

    Args:
        registry: the registered model and the store it lives in.
        alias: the alias to follow (``champion``).
        poll_seconds: how often `follow` reads the alias.
    """

    def __init__(self, registry: ModelRegistry, alias: str, poll_seconds: float) -> None:
        self.registry = registry
        self.alias = alias
        self.poll_seconds = poll_seconds
        self.served = self._load(self.registry.get_version(alias=alias).version)
        self._failed: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def metadata(self) -> Any:
        """The served version's MLflow model metadata (signature, input example)."""
        return self.served.model.metadata

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """The served version's answer; the version is recorded for the request (`ANSWERED_BY`)."""
        served = self.served  # One read: the whole request is answered by one version.
        answered = ANSWERED_BY.get()
        if answered is not None:
            answered.append(served.version)
        return served.model.predict(data, params=params)

    def follow(self) -> None:
        """Start reading the alias in a daemon thread, every `poll_seconds`, until `stop`."""
        self._thread = threading.Thread(target=self._watch, name="follow-alias", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following; the served version stays."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def check_alias(self) -> bool:
        """Read the alias once; when it names another version, load it and swap. True on a swap."""
        version = str(self.registry.get_version(alias=self.alias).version)
        failed_at = self._failed.get(version)
        if version == self.served.version or (
            failed_at is not None and time.monotonic() - failed_at < RETRY_SECONDS
        ):
            return False
        try:
            loaded = self._load(version)
        except Exception:
            self._failed[version] = time.monotonic()
            log.exception(
                "could not load %s version %s; still serving version %s",
                self.registry.model_name,
                version,
                self.served.version,
            )
            return False
        previous, self.served = self.served, loaded
        log.info(
            "%s@%s moved: serving version %s (was %s), loaded in %.1f s",
            self.registry.model_name,
            self.alias,
            loaded.version,
            previous.version,
            loaded.load_seconds,
        )
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.check_alias()
            except Exception as error:  # The registry down, say: keep serving, read again later.
                log.warning("could not read %s@%s: %s", self.registry.model_name, self.alias, error)

    def _load(self, version: str) -> ServedVersion:
        started = time.monotonic()
        model = self.registry.load(version=version)
        # MLflow's handler parses requests with the input schema of the model it started with.
        current = getattr(self, "served", None)
        if current is not None and (
            model.metadata.get_input_schema() != current.model.metadata.get_input_schema()
        ):
            raise RetrainError(
                f"{self.registry.model_name} version {version} takes other inputs than version "
                f"{current.version}; restart the server to serve it"
            )
        return ServedVersion(str(version), model, time.monotonic() - started)
