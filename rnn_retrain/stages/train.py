"""Train's logic: the stored rows as training sees them, whether a fit starts warm, the
checkpoint key, the history table.

The Keras model lives in `rnn_retrain.model.network`, its fit loop in `rnn_retrain.model.fitting`
(TensorFlow loads only when a stage trains). Training reads the padded Parquet one row group at a
time through `tf.data` (pad wrote each group as a random sample of the rows), so the padded data
need not fit in memory; what is held for every row is its length and role, a few bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnn_retrain.config.retrain import ConfigSlice, ModelSettings
from rnn_retrain.config.sections import TrainingSettings
from rnn_retrain.data.preprocessing import to_matrix
from rnn_retrain.model.batching import FIT, RowGroups, assign_roles, bucket_boundaries
from rnn_retrain.results import StartingPoint, TrainResult
from rnn_retrain.store.artifacts import ArtifactRef
from rnn_retrain.store.chunks import read_row_groups, row_hash, validation_cutoff

# What shapes the model or its training. The padded input's sha256 covers maxlen and padding;
# the number of threads changes only the speed.
CONFIG = ConfigSlice(
    output=(
        *(f"model.{name}" for name in ModelSettings.model_fields),
        "training.epochs",
        "training.learning_rate",
        "training.learning_rate_schedule",
        "training.batch_size",
        "training.validation_fraction",
        "training.early_stopping_patience",
        "training.seed",
        "training.length_buckets",
        "training.xla",
        "training.warm_start",
        "training.warm_start_epochs",
    ),
    also_reads=("text.maxlen", "text.padding", "training.training_threads"),
)


# The settings that shape the network's weights: a champion differing in any of them cannot
# lend its weights. (Dropout rates, maxlen and the training settings change no weight's shape.)
ARCHITECTURE_FIELDS = (
    "cell",
    "units",
    "embedding_dim",
    "rnn_layers",
    "bidirectional",
    "pooling",
    "ngrams",
    "ngram_buckets",
)


def starting_point(
    champion: tuple[str, dict[str, str]] | None, settings: ModelSettings, classes: list[str]
) -> StartingPoint:
    """Whether a fit with ``settings`` and ``classes`` can start from the champion's weights.

    ``champion`` is its version and its version tags (the run's ``config`` JSON, ``classes``,
    ``model.sha256``: `rnn_retrain.registry.runs` tags all three), or None when there is none.
    """
    if champion is None:
        return StartingPoint(reason="there is no champion to start from")
    version, tags = champion
    try:
        model = json.loads(tags["config"])["model"]
        recorded = {name: model[name] for name in ARCHITECTURE_FIELDS}
        champion_classes = json.loads(tags["classes"])
        model_sha256 = tags["model.sha256"]
    except (KeyError, TypeError, ValueError):
        return StartingPoint(reason=f"champion version {version} records no readable configuration")
    for name, theirs in recorded.items():
        ours = getattr(settings, name)
        if theirs != ours:
            return StartingPoint(
                reason=f"champion version {version} has {name} {theirs!r}, this run {ours!r}"
            )
    if champion_classes != classes:
        return StartingPoint(
            reason=f"champion version {version} has classes {champion_classes}, this run {classes}"
        )
    return StartingPoint(
        version=version,
        model_sha256=model_sha256,
        reason=f"from champion version {version}",
    )


def checkpoint_key(padded_sha256: str, vocabulary_size: int, params: dict[str, Any]) -> str:
    """The training data and recipe's key: a retry or a re-run after a crash finds its checkpoints."""
    payload = json.dumps([padded_sha256, vocabulary_size, params], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def history_table(rows: list[dict[str, float]]) -> pa.Table:
    """One row per epoch: epoch number, every metric Keras logged, seconds and process id."""
    table = pa.Table.from_pylist(rows)
    names = ["epoch", *sorted(set(table.column_names) - {"epoch", "seconds", "process_id"})]
    return table.select([*names, "seconds", "process_id"]).cast(
        pa.schema(
            [("epoch", pa.int32())]
            + [(name, pa.float64()) for name in names[1:]]
            + [("seconds", pa.float64()), ("process_id", pa.int64())]
        )
    )


def fitting_rows(
    parquet: Any, training: TrainingSettings, maxlen: int
) -> tuple[RowGroups, list[int]]:
    """The padded file's rows in their fit and validation roles (`stored_rows`), read row group
    by row group, and the length buckets' boundaries for the fit rows."""
    rows = stored_rows(
        read_row_groups(parquet, ["group_key", "split", "length"]),
        lambda group: parquet.read_row_group(group, columns=["label", "x"]),
        training.validation_fraction,
        training.seed,
    )
    return rows, bucket_boundaries(rows.role_lengths(FIT), training.length_buckets, maxlen)


def warmed_start(start: StartingPoint, shared_tokens: int, tokens: int) -> StartingPoint:
    """Where a warm fit starts once the champion's weights were copied for ``shared_tokens`` of
    this run's ``tokens``: still warm, or cold when the vocabularies shared no token."""
    if not shared_tokens:
        reason = f"champion version {start.version} shares no token with this run's vocabulary"
        return StartingPoint(reason=reason)
    reason = f"{shared_tokens:,} of this run's {tokens:,} tokens keeping their embedding rows"
    return start.model_copy(update={"reason": f"{start.reason}, {reason}"})


def stored_rows(
    index: Iterable[pa.Table],
    read_padded: Callable[[int], pa.Table],
    validation_fraction: float,
    seed: int,
) -> RowGroups:
    """Padded rows stored in groups (Parquet row groups) as `RowGroups`.

    ``index`` gives each group's group_key, split and length columns, in group order;
    ``read_padded`` reads one group's label and x columns when training needs them. The
    validation rows are a seeded random ``validation_fraction`` of the train split, the same
    whatever the groups (`rnn_retrain.store.chunks.validation_cutoff`). They are drawn by each
    row's group key (`rnn_retrain.stages.ingest.group_keys`): a group's rows are all held out or
    all trained on; with no group column the key is the row id, so rows are drawn one by one.
    """
    group_keys, is_train, lengths = [], [], []
    for table in index:
        group_keys.append(table["group_key"].to_numpy())
        is_train.append(pc.equal(table["split"], "train").to_numpy())
        lengths.append(table["length"].to_numpy())
    train_hashes = np.concatenate(
        [row_hash(keys[mask], seed) for keys, mask in zip(group_keys, is_train)]
    )
    cutoff = validation_cutoff(train_hashes, validation_fraction)
    roles = [assign_roles(keys, mask, cutoff, seed) for keys, mask in zip(group_keys, is_train)]

    lock = threading.Lock()

    # One group stays in memory: all of the data when it fits one group, read once. The lock
    # keeps tf.data's generator threads from reading the one Parquet file at the same time.
    @functools.lru_cache(maxsize=1)
    def read_group(group: int) -> tuple[np.ndarray, np.ndarray]:
        table = read_padded(group)
        return to_matrix(table["x"]), table["label"].to_numpy().astype(np.float32)

    def read(group: int) -> tuple[np.ndarray, np.ndarray]:
        with lock:
            return read_group(group)

    return RowGroups(lengths, roles, read)


def train_result(
    outcome: Any,
    model: ArtifactRef,
    history: ArtifactRef,
    boundaries: list[int],
    seconds: float,
    classes: list[str],
    start: StartingPoint | None = None,
) -> TrainResult:
    """What train hands on, from the fit's outcome (`rnn_retrain.model.fitting.FitOutcome`)."""
    best_row = next(row for row in outcome.rows if int(row["epoch"]) == outcome.best_epoch)
    return TrainResult(
        model=model,
        history=history,
        epochs_run=outcome.epochs_run,
        best_epoch=outcome.best_epoch,
        resumed_from_epoch=outcome.resumed_from_epoch,
        train_rows=outcome.fit_rows,
        validation_rows=outcome.validation_rows,
        seconds=round(seconds, 2),
        length_buckets=boundaries,
        best_validation_loss=min(float(row["val_loss"]) for row in outcome.rows),
        classes=classes,
        validation_accuracy=best_row["val_accuracy"],
        start=start,
    )
