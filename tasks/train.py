"""Train: the tutorial's recurrent classifier, built from the configuration and fitted with early stopping."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from keras import layers
from prefect import get_run_logger, task
from pydantic import BaseModel, ConfigDict

from rnn_retrain.artifacts import ArtifactRef
from rnn_retrain.config import RetrainConfig
from rnn_retrain.locks import lock_if_free
from tasks.caching import StageCache
from tasks.pad import to_matrix
from tasks.runtime import RETRY_SETTINGS, current_run_id, store_for, training_progress

logger = logging.getLogger(__name__)

EPOCH_LOG = "epochs.csv"
CELLS = {"simplernn": layers.SimpleRNN, "gru": layers.GRU, "lstm": layers.LSTM}
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


def build_model(vocabulary_size: int, config: RetrainConfig) -> keras.Model:
    """Embedding → (stacked, optionally bidirectional) RNN → Dropout → Dense(1, sigmoid).

    Args:
        vocabulary_size: Number of token ids, padding and OOV included.
        config: Supplies cell, units, embedding_dim, dropout, rnn_layers, bidirectional and
            learning_rate.

    Returns:
        A compiled model that maps int id sequences to the probability of a positive review.
    """
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    hidden = layers.Embedding(vocabulary_size, config.embedding_dim, name="embedding")(inputs)
    for index in range(config.rnn_layers):
        # Every layer but the last returns the whole sequence so the next one can read it.
        recurrent = CELLS[config.cell](
            config.units,
            return_sequences=index < config.rnn_layers - 1,
            name=f"{config.cell}_{index}",
        )
        if config.bidirectional:
            recurrent = layers.Bidirectional(recurrent, name=f"bidirectional_{index}")
        hidden = recurrent(hidden)
    hidden = layers.Dropout(config.dropout, name="dropout")(hidden)
    outputs = layers.Dense(1, activation="sigmoid", name="probability")(hidden)
    model = keras.Model(inputs, outputs, name=f"{config.cell}_classifier")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def carve_validation(rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle row indices with ``seed`` and hold out ``fraction`` of them for validation.

    The train split arrives sorted (by label, in IMDB), so the shuffle comes before the cut.
    At least one row goes to each side.
    """
    order = np.random.default_rng(seed).permutation(rows)
    held_out = min(max(int(round(rows * fraction)), 1), rows - 1)
    return order[held_out:], order[:held_out]


class EpochProgress(keras.callbacks.Callback):
    """Records and reports each finished epoch: one line through ``report`` (a logger method).

    It adds the epoch's ``seconds`` and the ``process_id`` that trained it to the epoch logs, so
    callbacks after it (the resumable history log) record them too. ``on_epoch``, if given,
    receives the share of the planned epochs done (0 to 1).
    """

    def __init__(
        self,
        epochs: int,
        report: Callable[[str], None],
        on_epoch: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__()
        self.epochs = epochs
        self.report = report
        self.on_epoch = on_epoch
        self.rows: list[dict[str, float]] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        figures = " ".join(f"{name}={value:.4f}" for name, value in sorted(logs.items()))
        logs["seconds"] = time.perf_counter() - self._started
        logs["process_id"] = os.getpid()
        self.rows.append({"epoch": epoch + 1, **logs})
        self.report(f"epoch {epoch + 1}/{self.epochs} {figures} ({logs['seconds']:.1f}s)")
        if self.on_epoch is not None:
            self.on_epoch((epoch + 1) / self.epochs)


@dataclass(frozen=True)
class FitOutcome:
    """Per-epoch rows (epoch, metrics, seconds, process_id) of the whole fit, and row counts.

    After a resumed fit the rows include the epochs trained before the interruption.
    """

    rows: list[dict[str, float]]
    fit_rows: int
    validation_rows: int

    @property
    def epochs_run(self) -> int:
        return len(self.rows)

    @property
    def best_epoch(self) -> int:
        """The epoch with the lowest validation loss (1-based): the weights that were kept."""
        return int(min(self.rows, key=lambda row: row["val_loss"])["epoch"])


def fit_model(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    config: RetrainConfig,
    report: Callable[[str], None] = logger.info,
    on_epoch: Callable[[float], None] | None = None,
    checkpoint_dir: Path | None = None,
) -> FitOutcome:
    """Fit on a deterministic train/validation cut of ``x``, ``y`` with early stopping.

    With ``checkpoint_dir``, the fit backs up its state after every epoch (Keras
    ``BackupAndRestore``) and logs each epoch there, so a fit that was killed resumes from its
    last completed epoch when it is started again with the same directory. The backup is
    removed when the fit completes. Early stopping counts patience from the resumed epoch.
    """
    keras.utils.set_random_seed(config.seed)
    fit_rows, validation_rows = carve_validation(len(x), config.validation_fraction, config.seed)
    progress = EpochProgress(config.epochs, report, on_epoch)
    callbacks: list[keras.callbacks.Callback] = [progress]
    if config.early_stopping_patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=config.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    if checkpoint_dir is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        if not (checkpoint_dir / "backup").exists():
            # Nothing to resume: an epoch log left by a finished fit must not be appended to.
            (checkpoint_dir / EPOCH_LOG).unlink(missing_ok=True)
        callbacks += [
            keras.callbacks.BackupAndRestore(str(checkpoint_dir / "backup")),
            keras.callbacks.CSVLogger(str(checkpoint_dir / EPOCH_LOG), append=True),
        ]
    model.fit(
        x[fit_rows],
        y[fit_rows],
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=(x[validation_rows], y[validation_rows]),
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )
    rows = progress.rows if checkpoint_dir is None else read_epoch_log(checkpoint_dir / EPOCH_LOG)
    return FitOutcome(rows, len(fit_rows), len(validation_rows))


def read_epoch_log(path: Path) -> list[dict[str, float]]:
    """The rows Keras' CSVLogger wrote (0-based epochs), with 1-based epoch numbers."""
    rows = pacsv.read_csv(path).to_pylist()
    return [{**row, "epoch": int(row["epoch"]) + 1} for row in rows]


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


def select_split(table: pa.Table, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The padded ids, labels and row ids of one split of a padded table."""
    rows = table.filter(pc.equal(table["split"], split))
    return (
        to_matrix(rows["x"]),
        rows["label"].to_numpy().astype(np.float32),
        rows["row_id"].to_numpy(),
    )


@task(
    name="train",
    cache_policy=StageCache(stage="train", fields=tuple(sorted(TRAIN_FIELDS))),
    persist_result=True,
    **RETRY_SETTINGS,
)
def train(padded: ArtifactRef, vocabulary_size: int, config: RetrainConfig) -> TrainResult:
    """Train the configured model on the train split and store it with its history."""
    run_logger = get_run_logger()
    store = store_for(config)
    x, y, _ = select_split(
        store.read_table(padded, columns=["split", "label", "row_id", "x"]), "train"
    )
    model = build_model(vocabulary_size, config)
    started = time.perf_counter()
    update_progress = training_progress(config.epochs)
    params = config.model_dump(include=TRAIN_FIELDS)
    # Keyed on the training data and recipe, so a retry or a re-run after a crash resumes.
    key = hashlib.sha256(json.dumps([padded.sha256, vocabulary_size, params]).encode()).hexdigest()
    checkpoint_dir = store.checkpoint_dir(key)
    run_id = current_run_id()
    # Two runs training the same data and recipe at once must not share a checkpoint folder:
    # the first holds it (the OS frees the lock if it dies), a second keeps its own.
    with lock_if_free(checkpoint_dir.with_name(f"{key}.lock")) as owner:
        if not owner:
            run_logger.warning(
                "Another run is training the same data and recipe; this run keeps its own "
                "checkpoints"
            )
            checkpoint_dir = checkpoint_dir.with_name(f"{key}-{run_id}")
        outcome = fit_model(
            model,
            x,
            y,
            config,
            report=run_logger.info,
            on_epoch=update_progress,
            checkpoint_dir=checkpoint_dir,
        )
        update_progress(1.0)  # Early stopping ends training before the planned last epoch.
        elapsed = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "model.keras"
            model.save(path)
            model_ref = store.write_file(run_id, "train", "model.keras", path, params)
        history = store.write_table(run_id, "train", "history", history_table(outcome.rows), params)
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
    )
