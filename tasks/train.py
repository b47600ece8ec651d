"""Train: the tutorial's recurrent classifier, built from the configuration and fitted with early stopping."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from keras import layers
from prefect import get_run_logger, task
from pydantic import BaseModel, ConfigDict

from rnn_retrain.artifacts import ArtifactRef
from rnn_retrain.config import RetrainConfig
from tasks.pad import to_matrix
from tasks.runtime import RETRY_SETTINGS, current_run_id, store_for, training_progress

logger = logging.getLogger(__name__)

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
    """Reports one line per finished epoch through ``report`` (a logger method, say).

    ``on_epoch``, if given, receives the share of the planned epochs done (0 to 1) after each one.
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
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._started)
        figures = " ".join(f"{name}={value:.4f}" for name, value in sorted((logs or {}).items()))
        self.report(f"epoch {epoch + 1}/{self.epochs} {figures} ({self.seconds[-1]:.1f}s)")
        if self.on_epoch is not None:
            self.on_epoch((epoch + 1) / self.epochs)


@dataclass(frozen=True)
class FitOutcome:
    """The Keras history (metric name to per-epoch values), epoch seconds and row counts."""

    history: dict[str, list[float]]
    seconds: list[float]
    fit_rows: int
    validation_rows: int

    @property
    def best_epoch(self) -> int:
        """The epoch with the lowest validation loss (1-based): the weights that were kept."""
        return int(np.argmin(self.history["val_loss"])) + 1


def fit_model(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    config: RetrainConfig,
    report: Callable[[str], None] = logger.info,
    on_epoch: Callable[[float], None] | None = None,
) -> FitOutcome:
    """Fit on a deterministic train/validation cut of ``x``, ``y`` with early stopping."""
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
    history = model.fit(
        x[fit_rows],
        y[fit_rows],
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=(x[validation_rows], y[validation_rows]),
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )
    return FitOutcome(history.history, progress.seconds, len(fit_rows), len(validation_rows))


def history_table(history: dict[str, list[float]], seconds: list[float]) -> pa.Table:
    """One row per epoch: epoch number, every metric Keras logged, and the epoch's seconds."""
    columns: dict[str, pa.Array] = {"epoch": pa.array(np.arange(1, len(seconds) + 1), pa.int32())}
    for name, values in sorted(history.items()):
        columns[name] = pa.array(values, pa.float64())
    columns["seconds"] = pa.array(seconds, pa.float64())
    return pa.table(columns)


def select_split(table: pa.Table, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The padded ids, labels and row ids of one split of a padded table."""
    rows = table.filter(pc.equal(table["split"], split))
    return (
        to_matrix(rows["x"]),
        rows["label"].to_numpy().astype(np.float32),
        rows["row_id"].to_numpy(),
    )


@task(name="train", **RETRY_SETTINGS)
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
    outcome = fit_model(model, x, y, config, report=run_logger.info, on_epoch=update_progress)
    update_progress(1.0)  # Early stopping ends training before the planned last epoch.
    elapsed = time.perf_counter() - started
    run_id = current_run_id()
    params = config.model_dump(include=TRAIN_FIELDS)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.keras"
        model.save(path)
        model_ref = store.write_file(run_id, "train", "model.keras", path, params)
    history = history_table(outcome.history, outcome.seconds)
    return TrainResult(
        model=model_ref,
        history=store.write_table(run_id, "train", "history", history, params),
        epochs_run=len(outcome.seconds),
        best_epoch=outcome.best_epoch,
        train_rows=outcome.fit_rows,
        validation_rows=outcome.validation_rows,
        seconds=round(elapsed, 2),
    )
