"""Train: the tutorial's recurrent classifier, built from the configuration and fitted with early stopping.

The Keras model and fit loop live in `rnn_retrain.modeling`, imported only when the task trains.
Training reads the padded Parquet one row group at a time through `tf.data` (pad wrote each group
as a random sample of the rows), so the padded data need not fit in memory; what is held for
every row is its length and role, a few bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import get_run_logger, task
from pydantic import BaseModel, ConfigDict

from rnn_retrain.artifacts import ArtifactRef
from rnn_retrain.batching import FIT, RowGroups, assign_roles, bucket_boundaries
from rnn_retrain.chunks import read_row_groups, row_hash, validation_cutoff
from rnn_retrain.config import RetrainConfig
from rnn_retrain.locks import lock_if_free
from rnn_retrain.quiet import load_tensorflow_quietly
from tasks.caching import StageCache
from tasks.pad import to_matrix
from tasks.runtime import (
    RETRY_SETTINGS,
    current_run_id,
    stage_folder,
    store_for,
    training_progress,
)

# The configuration fields that shape the model or its training, recorded in the manifests.
TRAIN_FIELDS = {
    "cell",
    "units",
    "embedding_dim",
    "dropout",
    "rnn_layers",
    "bidirectional",
    "learning_rate",
    "batch_size",
    "epochs",
    "validation_fraction",
    "early_stopping_patience",
    "seed",
    "length_buckets",
    "xla",
}


class TrainResult(BaseModel):
    """What train hands on."""

    model_config = ConfigDict(frozen=True)

    model: ArtifactRef
    history: ArtifactRef
    epochs_run: int
    best_epoch: int
    train_rows: int
    validation_rows: int
    seconds: float
    length_buckets: list[int]  # The bucket lengths the model was trained at; scoring uses them.
    best_validation_loss: float  # Of the kept weights: what a sweep chooses on.


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


def stored_rows(
    index: Iterable[pa.Table],
    read_padded: Callable[[int], pa.Table],
    validation_fraction: float,
    seed: int,
) -> RowGroups:
    """Padded rows stored in groups (Parquet row groups) as `RowGroups`.

    ``index`` gives each group's row_id, split and length columns, in group order;
    ``read_padded`` reads one group's label and x columns when training needs them. The
    validation rows are a seeded random ``validation_fraction`` of the train split, the same
    whatever the groups (`rnn_retrain.chunks.validation_cutoff`).
    """
    row_ids, is_train, lengths = [], [], []
    for table in index:
        row_ids.append(table["row_id"].to_numpy())
        is_train.append(pc.equal(table["split"], "train").to_numpy())
        lengths.append(table["length"].to_numpy())
    train_hashes = np.concatenate(
        [row_hash(ids[mask], seed) for ids, mask in zip(row_ids, is_train)]
    )
    cutoff = validation_cutoff(train_hashes, validation_fraction)
    roles = [assign_roles(ids, mask, cutoff, seed) for ids, mask in zip(row_ids, is_train)]

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


@task(
    name="train",
    cache_policy=StageCache(stage="train", fields=tuple(sorted(TRAIN_FIELDS))),
    persist_result=True,
    **RETRY_SETTINGS,
)
def train(
    padded: ArtifactRef, vocabulary_size: int, config: RetrainConfig, candidate: str = ""
) -> TrainResult:
    """Train the configured model on the train split and store it with its history.

    A sweep names each ``candidate``, so candidates of one run store their files apart.
    """
    load_tensorflow_quietly()  # Only a stage that runs needs TensorFlow (seconds to load).
    from rnn_retrain.modeling import build_model, fit_model, limit_threads

    if config.training_threads:
        limit_threads(config.training_threads)

    run_logger = get_run_logger()
    store = store_for(config)
    model = build_model(vocabulary_size, config)
    started = time.perf_counter()
    update_progress = training_progress(config.epochs)
    params = config.model_dump(include=TRAIN_FIELDS)
    # Keyed on the training data and recipe, so a retry or a re-run after a crash resumes.
    key = hashlib.sha256(json.dumps([padded.sha256, vocabulary_size, params]).encode()).hexdigest()
    checkpoint_dir = store.checkpoint_dir(key)
    run_id = current_run_id()
    folder = stage_folder("train", candidate)
    # Two runs training the same data and recipe at once must not share a checkpoint folder:
    # the first holds it (the OS frees the lock if it dies), a second keeps its own.
    with (
        lock_if_free(checkpoint_dir.with_name(f"{key}.lock")) as owner,
        store.open_parquet(padded) as parquet,
    ):
        rows = stored_rows(
            read_row_groups(parquet, ["row_id", "split", "length"]),
            lambda group: parquet.read_row_group(group, columns=["label", "x"]),
            config.validation_fraction,
            config.seed,
        )
        boundaries = bucket_boundaries(rows.role_lengths(FIT), config.length_buckets, config.maxlen)
        if not owner:
            run_logger.warning(
                "Another run is training the same data and recipe; this run keeps its own "
                "checkpoints"
            )
            checkpoint_dir = checkpoint_dir.with_name(f"{key}-{run_id}")
        outcome = fit_model(
            model,
            rows,
            config,
            report=run_logger.info,
            on_epoch=update_progress,
            checkpoint_dir=checkpoint_dir,
            boundaries=boundaries,
        )
        update_progress(1.0)  # Early stopping ends training before the planned last epoch.
        elapsed = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "model.keras"
            model.save(path)
            model_ref = store.write_file(run_id, folder, "model.keras", path, params)
        history = store.write_table(run_id, folder, "history", history_table(outcome.rows), params)
        # Only once the model and history are stored.
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return TrainResult(
        model=model_ref,
        history=history,
        epochs_run=outcome.epochs_run,
        best_epoch=outcome.best_epoch,
        train_rows=outcome.fit_rows,
        validation_rows=outcome.validation_rows,
        seconds=round(elapsed, 2),
        length_buckets=boundaries,
        best_validation_loss=min(float(row["val_loss"]) for row in outcome.rows),
    )
