"""Keeping framework chatter off a user's terminal: TensorFlow, Prefect's server, MLflow."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


def prepare_environment() -> None:
    """Settings for local commands, each one overridable from the environment.

    Prefect's ephemeral server would try to send telemetry (this pipeline often runs offline)
    and, on SQLite, its heartbeat races the run's own writes ("database is locked").
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's default wait for its temporary API to start is short: on a busy 2-core machine a
    # first run's start (the database created and migrated) took longer, so a user waits rather
    # than fails. `benchmarks/pipeline.py` times the start (benchmarks/RESULTS.md, "Performance
    # targets").
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    # MLflow announces its database migrations and environment checks at INFO.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # MLflow prints "View run at <url>" on stdout when a run ends on a tracking server; stdout
    # belongs to the command's own output (`--json` prints one document there).
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Silence file descriptor 2 for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_tensorflow_quietly() -> None:
    """Import TensorFlow (through Keras) with its C++ start-up notes silenced.

    TensorFlow prints them (oneDNN, missing CUDA drivers) before its logging is configured, so
    TF_CPP_MIN_LOG_LEVEL cannot hide them. An import error is raised again, with stderr back.
    """
    if "keras" in sys.modules:
        return
    with stderr_silenced():
        import keras  # noqa: F401
