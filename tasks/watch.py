"""The watch task: compare a source's listing with the last look.

The last look's listing is a Parquet file under the artifact root (any number of files); the
source's Prefect Variable holds only a pointer to it, its sha256 and counts, a few hundred
characters whatever the folder's size (Prefect caps a Variable at 5,000).
"""

from __future__ import annotations

import time
from typing import Any

from prefect import get_run_logger, task
from prefect.variables import Variable

from rnn_retrain.data.sources import stat_source_files
from rnn_retrain.orchestration.events import emit_source_changed, fingerprint_key
from rnn_retrain.orchestration.runtime import RETRY_SETTINGS
from rnn_retrain.stages.results import WatchResult
from rnn_retrain.stages.watch import (
    Fingerprint,
    WatchSettings,
    compare_fingerprints,
    fingerprint_digest,
    listing_fingerprint,
    listing_table,
)
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore, IntegrityError


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
    store = ArtifactStore(settings.artifact_root)
    previous = last_listing(store, Variable.get(name, default=None))
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
        # The listing first: a Variable never points at a file that is not all there.
        key = fingerprint_key(settings.source)
        listing = store.write_listing(key, listing_table(current))
        state = {
            "listing": listing.model_dump(),
            "files": len(current),
            "digest": fingerprint_digest(current),
        }
        Variable.set(name, state, overwrite=True)
        store.prune_listings(key, keep=listing)
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


def last_listing(store: ArtifactStore, state: Any) -> Fingerprint | None:
    """The fingerprint of the last look, from the source's Variable; None before the first.

    A Variable of an earlier release holds the listing itself (path → [size, mtime]). A
    listing that is gone or changed is told, and this look records the source afresh.
    """
    if state is None:
        return None
    if "listing" not in state:
        return {path: (stat[0], stat[1]) for path, stat in state.items()}
    ref = ArtifactRef.model_validate(state["listing"])
    try:
        return listing_fingerprint(store.read_table(ref))
    except IntegrityError as error:
        get_run_logger().warning(
            "The last listing of this source cannot be read (%s); this look records the source "
            "and starts no run",
            error,
        )
        return None
