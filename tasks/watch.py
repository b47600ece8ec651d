"""The watcher's tasks: compare a source's listing with the last look (`watch`), and, with drift
on, score a change's files with the champion and report their drift (`source_drift`).

The last look's listing is a Parquet file under the artifact root (any number of files); the
source's Prefect Variable holds only a pointer to it, its sha256 and counts, a few hundred
characters whatever the folder's size (Prefect caps a Variable at 5,000).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.variables import Variable

from rnn_retrain.data.sources import stat_source_files
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.errors import DataError
from rnn_retrain.orchestration.drift_reports import drift_counter, report_drift
from rnn_retrain.orchestration.events import emit_source_changed, fingerprint_key
from rnn_retrain.orchestration.retries import RETRY_SETTINGS
from rnn_retrain.results import WatchResult
from rnn_retrain.stages.drift import drift_findings
from rnn_retrain.stages.score import read_input_chunks
from rnn_retrain.stages.watch import (
    Fingerprint,
    WatchSettings,
    compare_fingerprints,
    fingerprint_digest,
    listing_fingerprint,
    listing_table,
)
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore, IntegrityError
from rnn_retrain.store.listings import SourceListings


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
        listing = SourceListings(store).write(key, listing_table(current))
        state = {
            "listing": listing.model_dump(),
            "files": len(current),
            "digest": fingerprint_digest(current),
        }
        Variable.set(name, state, overwrite=True)
        SourceListings(store).prune(key, keep=listing)
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


# Reviews scored at a time by the watcher's drift check (batch scoring's default chunk_rows).
WATCH_CHUNK_ROWS = 20_000


def file_locations(source: str, paths: list[str]) -> list[str]:
    """The watcher's paths (a file system's own, as listed) as locations that can be opened."""
    if "://" not in source:
        return paths
    scheme = source.split("://", 1)[0]
    return [f"{scheme}://{path}" for path in paths]


@task(name="source-drift", **RETRY_SETTINGS)
def source_drift(settings: WatchSettings, looked: WatchResult) -> WatchResult:
    """Score the source's new and changed files with the champion and report their drift.

    Advisory: without a champion, a training profile, or with a file that cannot be scored, it
    logs why and returns ``looked`` as it was; the change itself was reported already.
    """
    # MLflow and TensorFlow load only for a look that found a change.
    from rnn_retrain.model.package import model_classes, predict_reviews
    from rnn_retrain.model.serving import BULK_LOADING
    from rnn_retrain.registry.versions import ModelRegistry

    logger = get_run_logger()
    registry = ModelRegistry(settings.tracking_uri, settings.model_name)
    champion = registry.champion()
    if champion is None:
        logger.warning("%s has no champion yet: no drift report", settings.model_name)
        return looked
    version = str(champion.version)
    load_tensorflow_quietly()
    model = registry.load(version=version, model_config=BULK_LOADING)
    counter = drift_counter(registry, version, champion.run_id, model_classes(model))
    if counter is None:
        return looked
    files = file_locations(settings.source, looked.changed)
    try:
        for chunk in read_input_chunks(files, settings.text_column, WATCH_CHUNK_ROWS):
            texts = chunk[settings.text_column].to_pylist()
            counter.add(texts, np.asarray(predict_reviews(model, texts), dtype=np.float64))
    except DataError as error:
        logger.warning("No drift report: %s", error)
        return looked
    findings = drift_findings(counter, settings)
    what = f"{counter.rows:,} reviews in {len(files)} new or changed files of {settings.source}"
    store = ArtifactStore(settings.artifact_root)
    report = report_drift(
        store, "watch", settings.model_name, version, counter.rows, findings, what
    )
    return looked.model_copy(update={"drift": findings, "drift_report": report})
