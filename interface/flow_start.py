"""Starting a flow from the command line: Prefect's local API started early, user errors told once.

Shared by the commands that run a flow (`retrain run`, `sweep`, `score`): the flow's imports
overlap the start of Prefect's ephemeral API, and Prefect's console records of an error the
command prints as one line are kept off the terminal (they still reach the run log).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

from rnn_retrain.environment.faults import describe_fault, describe_text
from rnn_retrain.errors import RetrainError, ServiceUnavailableError
from rnn_retrain.store import paths
from rnn_retrain.store.locks import exclusive_lock


class _HideUserErrorRecords(logging.Filter):
    """Keep Prefect's records of a `RetrainError` or an environmental fault off the console.

    The CLI prints such an error once, as one line; the records, tracebacks included, still
    reach the Prefect API (its handler is not filtered), so the run log keeps the full story.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, RetrainError) or (error is not None and describe_fault(error)):
            return False
        # Prefect's "Finished in state Failed('... DataError: ...')" records carry only the name.
        message = record.getMessage()
        if describe_text(message) is not None or message.startswith(_SHUTDOWN_PROGRESS):
            return False
        return not any(name in message for name in _user_error_names())


# Prefect's event and log workers report their progress while they drain at exit (the failure
# event of a run that just failed, say): progress, not a problem, and after the error line.
_SHUTDOWN_PROGRESS = ("Still processing items",)


@functools.cache
def _user_error_names() -> frozenset[str]:
    """The names of `RetrainError` and every subclass of it."""
    names, pending = set(), [RetrainError]
    while pending:
        kind = pending.pop()
        names.add(kind.__name__)
        pending += kind.__subclasses__()
    return frozenset(names)


def hide_user_error_records() -> None:
    """Keep Prefect's tracebacks of user errors off the console (the CLI prints one line)."""
    # Prefect's console handler sits on the root logger (see prefect/logging/logging.yml).
    for handler in logging.getLogger().handlers:
        handler.addFilter(_HideUserErrorRecords())
    # MLflow logs a failed SQL statement with its traceback before raising it to the run.
    logging.getLogger("mlflow.store.db.utils").addFilter(_HideUserErrorRecords())


def open_tracking_store(tracking_uri: str) -> None:
    """Import MLflow and open (on a new home: create) the embedded store, once per process.

    Every run reads the registry (validate looks up the champion); done while Prefect's API
    starts, the seconds of MLflow's import and of a new SQLite store's tables are off the run's
    path (benchmarks/overhead.py). A store that cannot be opened is left to the stage that
    needs it, which reports it in its own words and retries.
    """
    from rnn_retrain.registry.tracking import TrackingStore, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if not uri.startswith("sqlite:"):
        return  # A server's store is created on its side; run_flow checked that it answers.
    with contextlib.suppress(Exception):
        TrackingStore(uri)


def load_flow_while_api_starts(
    ephemeral: bool, load: Callable[[], Any], tracking_uri: str = ""
) -> Any:
    """Import the flow and open the tracking store (seconds of each) while Prefect's ephemeral
    API starts.

    The API is a separate process that takes seconds to answer; overlapping the two halves the
    start-up of a run whose stages all come from the cache. TensorFlow is not among the
    imports: only the stages that train or score load it.
    """
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    starting = ephemeral and settings.server.ephemeral.enabled
    if starting:
        # Imported before the flow's imports begin: beside them, both would share one core
        # (the GIL), and the server's start (seconds on its own core) would begin seconds later.
        from prefect.logging.configuration import setup_logging
        from prefect.server.api.server import SubprocessASGIServer

        setup_logging()  # As `import prefect.main` does: the server's start is told on the console.

    def loaded() -> Any:
        flow = load()
        open_tracking_store(tracking_uri)
        return flow

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        loading = pool.submit(loaded)
        if starting:
            # The server creates or upgrades Prefect's database as it starts: one process at a
            # time, so runs started together on a new machine do not race on the migrations.
            lock = paths.lock_file("prefect-database", str(settings.home))
            with exclusive_lock(lock, 600, purpose="start of Prefect's local API"):
                try:
                    SubprocessASGIServer().start()  # The one Prefect's client would start.
                except RuntimeError as error:
                    if "Timed out" not in str(error):
                        raise
                    timeout = settings.server.ephemeral.startup_timeout_seconds
                    raise ServiceUnavailableError(
                        f"Prefect's temporary API did not answer within {timeout} s of its start "
                        "(a busy machine?): run again, raise "
                        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or start `prefect "
                        "server start` and set PREFECT_API_URL"
                    ) from None
        return loading.result()
