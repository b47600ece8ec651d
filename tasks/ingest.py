"""The ingest task: read the configured source and write the raw snapshot (`rnn_retrain.stages.ingest`)."""

from __future__ import annotations

from prefect import get_run_logger, task

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.data.labels import distinct_labels, fit_classes
from rnn_retrain.data.sources import RawSource, fingerprint_source, grouped_by, read_source
from rnn_retrain.orchestration.caching import cached_stage
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.results import IngestResult
from rnn_retrain.stages.ingest import (
    CONFIG,
    SNAPSHOT_SCHEMA,
    SnapshotTally,
    snapshot_chunks,
    split_method,
)


def source_fingerprint(config: RetrainConfig) -> str:
    """Digest of the configured source's content (sizes and hashes of its files), for the cache."""
    return fingerprint_source(
        config.source.data,
        demo_size=config.source.demo_size,
        seed=config.training.seed,
        demo_classes=config.source.demo_classes,
    )


def configured_source(config: RetrainConfig) -> RawSource:
    """The configured source, read lazily, its rows grouped by ``group_column`` when set."""
    data = config.source
    source = read_source(
        data.data,
        text_column=data.text_column,
        label_column=data.label_column,
        split_column=data.split_column,
        demo_size=data.demo_size,
        seed=config.training.seed,
        demo_classes=data.demo_classes,
    )
    return grouped_by(source, data.group_column)


@task(**cached_stage("ingest", CONFIG, fingerprint=source_fingerprint))
def ingest(config: RetrainConfig) -> IngestResult:
    """Read the configured source chunk by chunk, validate it and write the raw snapshot.

    A first pass over the label column alone finds the classes, so every chunk's labels map to
    the same class ids; the classes are stored beside the snapshot (``labels.json``).
    """
    data = config.source
    source = configured_source(config)
    classes = fit_classes(
        distinct_labels(source.iter_labels(data.chunk_rows)),
        source.origin,
        source.label_column,
        data.max_classes,
    )
    tally = SnapshotTally()
    method = split_method(source, data.test_fraction)
    chunks = snapshot_chunks(source, classes, data.test_fraction, data.chunk_rows, tally)
    store, run_id = store_for(config), current_run_id()
    # Written as the chunks come; the checks after the last chunk decide whether it is kept.
    snapshot = store.write_batches(
        run_id,
        "ingest",
        "snapshot",
        SNAPSHOT_SCHEMA,
        chunks,
        lambda: {
            **CONFIG.values(config),
            "source": source.origin,
            "split_method": method,
            "dropped_empty": tally.dropped,
            "classes": classes,
            **tally.counts,
        },
    )
    labels = store.write_json(
        run_id,
        "ingest",
        "labels",
        {"classes": classes, "label_column": source.label_column},
        CONFIG.values(config),
    )
    if tally.dropped:
        get_run_logger().warning("Dropped %d rows with empty or missing text", tally.dropped)
    return IngestResult(
        snapshot=snapshot,
        rows=tally.counts,
        dropped_empty=tally.dropped,
        split_method=method,
        classes=classes,
        labels=labels,
    )
