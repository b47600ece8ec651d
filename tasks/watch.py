"""The watch task: compare a source's listing with the last look, kept in a Prefect Variable."""

from __future__ import annotations

import time

from prefect import get_run_logger, task
from prefect.variables import Variable

from rnn_retrain.data.sources import stat_source_files
from rnn_retrain.orchestration.events import emit_source_changed, fingerprint_key
from rnn_retrain.orchestration.runtime import RETRY_SETTINGS
from rnn_retrain.stages.results import WatchResult
from rnn_retrain.stages.watch import WatchSettings, compare_fingerprints, fingerprint_digest


def state_variable(source: str) -> str:
    """The Prefect Variable that holds a source's last fingerprint."""
    return f"rnn-retrain-watch-{fingerprint_key(source)}"


@task(name="watch", **RETRY_SETTINGS)
def watch(settings: WatchSettings) -> WatchResult:
    """Look at the source; on a settled change, emit ``rnn-retrain.source.changed``.

    The Variable is updated only when the look is complete (first look, or a change reported),
    never while files are still settling, so a change is reported exactly once.
    """
    logger = get_run_logger()
    current = stat_source_files(settings.source)
    name = state_variable(settings.source)
    stored = Variable.get(name, default=None)
    previous = None if stored is None else {path: tuple(stat) for path, stat in stored.items()}
    result = compare_fingerprints(
        settings.source, previous, current, time.time_ns(), int(settings.settle_seconds * 1e9)
    )
    if result.start_run:
        emit_source_changed(
            settings.source,
            fingerprint_digest(current),
            result.changed + result.removed,
            result.files,
            settings.model_name,
        )
    if result.first_look or result.start_run:
        Variable.set(name, {path: list(stat) for path, stat in current.items()}, overwrite=True)
    logger.info(
        "%s: %d files; %d changed, %d removed, %d settling%s",
        settings.source,
        result.files,
        len(result.changed),
        len(result.removed),
        len(result.settling),
        "; a run starts" if result.start_run else "",
    )
    return result
