"""Ingest's logic: a review source becomes a validated raw snapshot (row_id, text, label, split,
group_key).

Pure functions of pyarrow tables; the task (`rnn_retrain.tasks.ingest`) reads the source and writes the
snapshot through the artifact store.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnn_retrain.config.retrain import ConfigSlice
from rnn_retrain.data.labels import encode_labels, is_binary
from rnn_retrain.data.sources import RawSource, require_text
from rnn_retrain.errors import DataError

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
# group_key: the row's group (`group_keys`), its row id when the source names no group column.
SNAPSHOT_SCHEMA = pa.schema(
    [
        ("row_id", pa.int64()),
        ("text", pa.string()),
        ("label", pa.int8()),
        ("split", pa.string()),
        ("group_key", pa.int64()),
    ]
)
# Each label needs this many train rows, or the network never learns it (K-class labels).
MIN_TRAIN_ROWS_PER_CLASS = 2


def normalize_splits(splits: pa.ChunkedArray, origin: str, column: str) -> pa.Array:
    """Lower-case and check a split column: every value must be 'train' or 'test'."""
    as_text = pc.utf8_lower(pc.utf8_trim_whitespace(splits.combine_chunks().cast(pa.string())))
    unknown = pc.invert(pc.fill_null(pc.is_in(as_text, value_set=pa.array(SPLITS)), False))
    if pc.any(unknown).as_py():
        bad = pc.unique(splits.combine_chunks().filter(unknown)).slice(0, 5).to_pylist()
        raise DataError(
            f"{origin}: split column {column!r} must hold 'train' or 'test', found {bad}"
        )
    return as_text


def text_hashes(texts: pa.Array) -> np.ndarray:
    """A 64-bit hash (blake2b) of each string: the same string, the same hash, in any run."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
            for text in texts.to_pylist()
        ),
        dtype=np.uint64,
        count=len(texts),
    )


def assign_hash_split(keys: np.ndarray, test_fraction: float) -> pa.Array:
    """Split rows by a 64-bit hash of each row's text or group (`text_hashes`).

    Keyed on the text, the same review always lands in the same split, so next week's data (old
    reviews plus new ones) never moves a test review into training, and duplicate texts cannot
    straddle the split. Keyed on a group, a group's rows all land on one side.
    """
    is_test = keys < np.uint64(int(test_fraction * 2**64))
    return pa.array(np.where(is_test, "test", "train"), pa.string())


def group_keys(groups: pa.ChunkedArray | pa.Array, row_ids: np.ndarray) -> np.ndarray:
    """Each row's group as a 64-bit key: a hash of the group's value as text (`text_hashes`).

    A row without a group (a null) is a group of its own, keyed on its row id. The key, not the
    row id, decides which rows the validation split holds out (`rnn_retrain.stages.train`).
    """
    values = pc.cast(groups, pa.string())
    # One hash per distinct value: a group has many rows.
    distinct = pc.unique(pc.drop_null(values))
    hashes = text_hashes(distinct).view(np.int64)
    positions = pc.fill_null(pc.index_in(values, value_set=distinct), 0).to_numpy()
    present = pc.is_valid(values).to_numpy(zero_copy_only=False)
    return np.where(present, hashes[positions] if len(hashes) else 0, row_ids).astype(np.int64)


def drop_empty_texts(table: pa.Table) -> tuple[pa.Table, int]:
    """Drop rows whose text is null or only whitespace; return the table and how many went."""
    keep = pc.fill_null(
        pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(table["text"])), 0), False
    )
    kept = table.filter(keep)
    return kept, table.num_rows - kept.num_rows


def count_rows(snapshot: pa.Table, classes: list[str]) -> dict[str, int]:
    """Row counts per split and class.

    Binary labels: ``{"train": 80, "train_pos": 40, "train_neg": 40, ...}``, as ever. K classes:
    ``train_class_<id>`` and ``test_class_<id>`` for each class id.
    """
    counts = {"total": snapshot.num_rows}
    for split in SPLITS:
        labels = snapshot.filter(pc.equal(snapshot["split"], split))["label"].to_numpy()
        counts[split] = len(labels)
        if is_binary(classes):
            counts[f"{split}_pos"] = int(labels.sum())
            counts[f"{split}_neg"] = counts[split] - counts[f"{split}_pos"]
            continue
        per_class = np.bincount(labels.astype(np.int64), minlength=len(classes))
        for class_id, count in enumerate(per_class):
            counts[f"{split}_class_{class_id}"] = int(count)
    return counts


def check_snapshot(counts: dict[str, int], classes: list[str], origin: str) -> None:
    """Refuse snapshots that cannot train or evaluate the classifier.

    Binary labels need both classes among the train rows. Each of K classes needs at least
    `MIN_TRAIN_ROWS_PER_CLASS` train rows; a class seen only in test rows is named as such.
    """
    if counts["train"] == 0:
        raise DataError(f"{origin}: no train rows; the split column or test_fraction leaves none")
    if counts["test"] == 0:
        raise DataError(
            f"{origin}: no test rows; add 'test' rows to the split column or raise test_fraction"
        )
    if is_binary(classes):
        if counts["train_pos"] == 0 or counts["train_neg"] == 0:
            only = "positive" if counts["train_pos"] else "negative"
            raise DataError(f"{origin}: the train split has a single class (only {only} reviews)")
        return
    for class_id, name in enumerate(classes):
        train, test = counts[f"train_class_{class_id}"], counts[f"test_class_{class_id}"]
        if train == 0 and test > 0:
            raise DataError(
                f"{origin}: label {name!r} is seen only in the test rows ({test}), never in "
                "train; a model cannot learn a class it never saw: add train rows of it or "
                "drop its rows"
            )
        if train < MIN_TRAIN_ROWS_PER_CLASS:
            raise DataError(
                f"{origin}: label {name!r} has {train} train row(s), fewer than "
                f"{MIN_TRAIN_ROWS_PER_CLASS}; add train rows of it or drop its rows"
            )


def split_method(source: RawSource, test_fraction: float) -> str:
    """How the snapshot's rows are split into train and test, for the manifest and report."""
    grouped = f", validation grouped by {source.group_column!r}" if source.group_column else ""
    if source.split_column:
        return f"column {source.split_column!r}{grouped}"
    if source.group_column:
        return f"hash of column {source.group_column!r}, test_fraction={test_fraction}{grouped}"
    return f"hash of text, test_fraction={test_fraction}"


def snapshot_chunk(
    chunk: pa.Table,
    source: RawSource,
    classes: list[str],
    test_fraction: float,
    first_row_id: int,
) -> tuple[pa.Table, int]:
    """Turn one chunk of source rows into snapshot rows numbered from ``first_row_id``.

    Returns:
        The snapshot rows and the number of empty texts dropped.
    """
    text = chunk[source.text_column]
    require_text(text, source.origin, source.text_column)
    table = pa.table({"text": text.cast(pa.string()), "label": chunk[source.label_column]})
    if source.split_column:
        table = table.append_column("split", chunk[source.split_column])
    if source.group_column:
        table = table.append_column("group", chunk[source.group_column])
    table, dropped = drop_empty_texts(table)
    labels = encode_labels(table["label"], classes, source.origin, source.label_column)
    row_ids = np.arange(first_row_id, first_row_id + table.num_rows)
    keys = group_keys(table["group"], row_ids) if source.group_column else row_ids
    if source.split_column:
        splits = normalize_splits(table["split"], source.origin, source.split_column)
    else:
        # By the group's hash; by the text's for rows without a group (or a group column).
        split_keys = text_hashes(table["text"].combine_chunks())
        if source.group_column:
            grouped = pc.is_valid(table["group"]).to_numpy(zero_copy_only=False)
            split_keys[grouped] = keys[grouped].view(np.uint64)
        splits = assign_hash_split(split_keys, test_fraction)
    snapshot = pa.table(
        [pa.array(row_ids, pa.int64()), table["text"], labels, splits, pa.array(keys, pa.int64())],
        schema=SNAPSHOT_SCHEMA,
    )
    return snapshot, dropped


@dataclass
class SnapshotTally:
    """What `snapshot_chunks` has seen so far: rows read, rows dropped, and the counts kept."""

    read: int = 0
    dropped: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, read: int, dropped: int, counts: dict[str, int]) -> None:
        self.read += read
        self.dropped += dropped
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value


def snapshot_chunks(
    source: RawSource,
    classes: list[str],
    test_fraction: float,
    chunk_rows: int,
    tally: SnapshotTally,
) -> Iterator[pa.Table]:
    """The raw snapshot, ``chunk_rows`` source rows at a time, with ``tally`` kept up to date.

    ``classes`` are the label column's classes (`rnn_retrain.data.labels.fit_classes`). The checks
    that need every row (an empty source, no train or test rows, a single class, a class seen
    only in test) run after the last chunk, before the consumer can commit what it received.

    Raises:
        RetrainError: if a chunk or the whole source cannot make a usable snapshot.
    """
    for chunk in source.iter_chunks(chunk_rows):
        first_row_id = tally.counts.get("total", 0)  # Rows kept so far.
        snapshot, dropped = snapshot_chunk(chunk, source, classes, test_fraction, first_row_id)
        tally.add(chunk.num_rows, dropped, count_rows(snapshot, classes))
        yield snapshot
    if tally.read == 0:
        raise DataError(f"{source.origin}: the dataset is empty")
    if tally.read == tally.dropped:
        raise DataError(f"{source.origin}: every text is empty; nothing is left to train on")
    check_snapshot(tally.counts, classes, source.origin)


# The fields that change the snapshot; the source's content (data, demo_size, seed) is covered
# by its fingerprint, and chunk_rows changes only how much is held at once.
CONFIG = ConfigSlice(
    output=(
        "source.text_column",
        "source.label_column",
        "source.split_column",
        "source.group_column",
        "source.test_fraction",
        "source.max_classes",
    ),
    also_reads=(
        "source.data",
        "source.demo_size",
        "source.demo_classes",
        "training.seed",
        "source.chunk_rows",
    ),
)
