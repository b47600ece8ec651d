"""The fit loop: length-bucketed batches, checkpoints that resume, the kept best weights, and
the n-gram branch's ratios fitted before the first epoch.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pyarrow.csv as pacsv
import tensorflow as tf

from rnn_retrain.config.retrain import TrainingSettings
from rnn_retrain.model.batching import FIT, VALIDATION, RowGroups, cut_to_length, iterate_buckets
from rnn_retrain.model.layers import NGramBranch
from rnn_retrain.model.nb_ratios import class_ratios
from rnn_retrain.model.network import NGRAM_BRANCH

logger = logging.getLogger(__name__)

EPOCH_LOG = "epochs.csv"
# The best weights of the whole fit, one file per epoch that improved on every earlier one
# (Keras' ModelCheckpoint); the epoch in the name says which, so a resume can tell them apart.
BEST_WEIGHTS = "best-{epoch:04d}.weights.h5"
BEST_WEIGHTS_GLOB = "best-*.weights.h5"
# An n-gram id held by fewer training reviews gets no weight (`rnn_retrain.model.nb_ratios`).
NGRAM_MIN_REVIEWS = 2
# Rows per call when the n-gram ids of the training rows are counted.
COUNT_ROWS = 1024


def cosine_learning_rate(initial: float, epochs: int) -> Callable[[int, float], float]:
    """Epoch → learning rate, from ``initial`` along half a cosine towards 0 after ``epochs``.

    A function of the epoch alone, so a fit resumed from a checkpoint gets the same rates.
    """

    def rate(epoch: int, current: float) -> float:
        return initial * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))

    return rate


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


def bucketed_batches(
    rows: RowGroups,
    role: int,
    boundaries: list[int],
    padding: str,
    batch_size: int,
    seed: int | None = None,
) -> tf.data.Dataset:
    """A `tf.data` pipeline of the ``role`` rows' batches, each of one length bucket, cut to it.

    Groups are read one at a time. With a ``seed`` the groups, the rows within each group and
    the batches are reshuffled every epoch (training); without, all keep a fixed order
    (validation). The next batch is prepared while the current one trains.
    """
    epochs = itertools.count()
    groups = len(rows.roles)

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = None if seed is None else np.random.default_rng([seed, next(epochs)])
        for group in range(groups) if rng is None else rng.permutation(groups):
            plan = rows.plan(group, role, boundaries, batch_size, rng)
            if not plan:
                continue
            x, y = rows.read(group)
            for bucket, selected in plan:
                yield cut_to_length(x[selected], boundaries[bucket], padding), y[selected]

    # Both dimensions vary from batch to batch: the bucket sets the length.
    signature = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None,), tf.float32))
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    # A known number of batches per epoch lets Keras plan epochs without running dry.
    count = rows.batches_per_epoch(role, boundaries, batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(count)).prefetch(2)


@dataclass(frozen=True)
class FitOutcome:
    """Per-epoch rows (epoch, metrics, seconds, process_id) of the whole fit, and row counts.

    After a resumed fit the rows include the epochs trained before the interruption.
    """

    rows: list[dict[str, float]]
    fit_rows: int
    validation_rows: int
    resumed_from_epoch: int = 0  # Epochs restored from a checkpoint (0: a fresh fit).

    @property
    def epochs_run(self) -> int:
        return len(self.rows)

    @property
    def best_epoch(self) -> int:
        """The epoch with the lowest validation loss (1-based): the weights that were kept."""
        return int(min(self.rows, key=lambda row: row["val_loss"])["epoch"])


@dataclass(frozen=True)
class FitHooks:
    """What a fit tells its caller as it goes, and where it keeps its checkpoints.

    Attributes:
        report: Takes one line per epoch, and "resumed from epoch N" first after a resume.
        on_epoch: Takes the share of the planned epochs done (0 to 1) after each epoch.
        checkpoint_dir: Where the fit backs up its state after every epoch, to resume from
            (None: no checkpoints; a killed fit starts afresh).
        on_checkpoint: Called each time ``checkpoint_dir`` changed (to copy it elsewhere).
    """

    report: Callable[[str], None] = logger.info
    on_epoch: Callable[[float], None] | None = None
    checkpoint_dir: Path | None = None
    on_checkpoint: Callable[[], None] | None = None


def fit_model(
    model: keras.Model,
    rows: RowGroups,
    training: TrainingSettings,
    padding: str,
    boundaries: list[int],
    hooks: FitHooks = FitHooks(),
) -> FitOutcome:
    """Fit on the `FIT` rows, validating on the `VALIDATION` rows, with early stopping.

    Batches are grouped by length bucket (``boundaries``; ``[maxlen]`` is the tutorial's fit on
    fixed-length rows): see `rnn_retrain.model.batching`. The rows are read group by group, so they
    need not fit in memory.

    With ``hooks.checkpoint_dir``, the fit backs up its state after every epoch (Keras
    ``BackupAndRestore``) and logs each epoch there, so a fit that was killed resumes from its
    last completed epoch when it is started again with the same directory. The backup is
    removed when the fit completes. Early stopping counts patience from the resumed epoch. A
    resumed fit reports "resumed from epoch N" and records N in the outcome. With early
    stopping, the weights kept are those of the best epoch of the whole fit, the epochs before a
    resume included (Keras' ``restore_best_weights`` only sees the epochs since the resume; the
    best epoch's weights are saved in the directory as they happen). ``hooks.on_checkpoint``,
    if given, is called each time the directory changed: after every epoch's backup and log are
    written, and once the completed fit removed its backup (to copy the directory elsewhere).
    """
    keras.utils.set_random_seed(training.seed)
    if NGRAM_BRANCH in {layer.name for layer in model.layers}:
        fit_ngram_ratios(model.get_layer(NGRAM_BRANCH), rows, boundaries, padding)
    progress = EpochProgress(training.epochs, hooks.report, hooks.on_epoch)
    callbacks: list[keras.callbacks.Callback] = [progress, *_schedule_callbacks(training)]
    checkpoint_dir, resumed_from = hooks.checkpoint_dir, 0
    keep_best = training.early_stopping_patience > 0
    if checkpoint_dir is not None:
        resumed_from = resumable_epochs(checkpoint_dir)
        if resumed_from:
            hooks.report(f"resumed from epoch {resumed_from} (checkpoint in {checkpoint_dir})")
        callbacks += _checkpoint_callbacks(checkpoint_dir, hooks, resumed_from, keep_best)
    batch_size = training.batch_size
    model.fit(
        bucketed_batches(rows, FIT, boundaries, padding, batch_size, training.seed),
        epochs=training.epochs,
        validation_data=bucketed_batches(rows, VALIDATION, boundaries, padding, batch_size),
        shuffle=False,  # The batches are shuffled within and across buckets above.
        callbacks=callbacks,
        verbose=0,
    )
    if checkpoint_dir is None:
        return FitOutcome(progress.rows, rows.count(FIT), rows.count(VALIDATION))
    outcome = FitOutcome(
        read_epoch_log(checkpoint_dir / EPOCH_LOG),
        rows.count(FIT),
        rows.count(VALIDATION),
        resumed_from,
    )
    _keep_best_weights(model, checkpoint_dir, hooks, outcome.best_epoch, keep_best)
    return outcome


def _schedule_callbacks(training: TrainingSettings) -> list[keras.callbacks.Callback]:
    """Early stopping and the cosine learning rate, where ``training`` asks for them."""
    callbacks: list[keras.callbacks.Callback] = []
    if training.early_stopping_patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=training.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    if training.learning_rate_schedule == "cosine":
        schedule = cosine_learning_rate(training.learning_rate, training.epochs)
        callbacks.append(keras.callbacks.LearningRateScheduler(schedule))
    return callbacks


def _checkpoint_callbacks(
    checkpoint_dir: Path, hooks: FitHooks, resumed_from: int, keep_best: bool
) -> list[keras.callbacks.Callback]:
    """The backup, the epoch log, the best weights (with ``keep_best``), then ``on_checkpoint``.

    ``resumed_from`` epochs are already in the log: the best weights are saved only when they
    beat those epochs' best too.
    """
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.BackupAndRestore(str(checkpoint_dir / "backup")),
        keras.callbacks.CSVLogger(str(checkpoint_dir / EPOCH_LOG), append=True),
    ]
    if keep_best:
        earlier = read_epoch_log(checkpoint_dir / EPOCH_LOG) if resumed_from else []
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                str(checkpoint_dir / BEST_WEIGHTS),
                monitor="val_loss",
                save_best_only=True,
                save_weights_only=True,
                # The best since the fit began, not since the resume.
                initial_value_threshold=min((row["val_loss"] for row in earlier), default=None),
            )
        )
    on_checkpoint = hooks.on_checkpoint
    if on_checkpoint is not None:
        # After the ones above, so that it sees the files they just wrote or removed.
        callbacks.append(
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: on_checkpoint(),
                on_train_end=lambda logs: on_checkpoint(),
            )
        )
    return callbacks


def _keep_best_weights(
    model: keras.Model, checkpoint_dir: Path, hooks: FitHooks, best_epoch: int, keep_best: bool
) -> None:
    """Load the whole fit's best weights (with ``keep_best``), then remove every saved copy."""
    best = checkpoint_dir / BEST_WEIGHTS.format(epoch=best_epoch)
    if keep_best and best.exists():
        model.load_weights(best)  # The same weights as EarlyStopping's unless a resume hid them.
    saved = list(checkpoint_dir.glob(BEST_WEIGHTS_GLOB))
    for path in saved:
        path.unlink()
    if saved and hooks.on_checkpoint is not None:
        hooks.on_checkpoint()  # The folder changed once more.


def fit_ngram_ratios(
    branch: NGramBranch, rows: RowGroups, boundaries: list[int], padding: str
) -> None:
    """Give the n-gram branch its naive Bayes ratios, counted over the `FIT` rows only.

    The ids come from the branch's own `NGramBranch.ngram_ids`, each row cut to its length
    bucket as in training. Deterministic, so a resumed fit sets the same ratios again.
    """
    classes = max(branch.outputs, 2)
    counts = np.zeros(branch.buckets * classes, dtype=np.int64)
    ngram_ids = tf.function(
        branch.ngram_ids, input_signature=[tf.TensorSpec([None, None], tf.int32)]
    )
    for group in range(len(rows.roles)):
        selected = np.flatnonzero(rows.roles[group] == FIT)
        if not len(selected):
            continue
        x, y = rows.read(group)
        x, y = x[selected], y[selected].astype(np.int64)
        for indices, cut in iterate_buckets(x, boundaries, padding):
            for start in range(0, len(indices), COUNT_ROWS):
                chunk = slice(start, start + COUNT_ROWS)
                ids = ngram_ids(cut[chunk]).numpy().astype(np.int64)
                # Each (id, class) pair counted once per review holding the id.
                cells = ids * classes + y[indices[chunk]][:, np.newaxis]
                counts += np.bincount(cells[ids > 0], minlength=len(counts))
    branch.set_ratios(class_ratios(counts.reshape(-1, classes), NGRAM_MIN_REVIEWS))


def resumable_epochs(checkpoint_dir: Path) -> int:
    """How many epochs a fit into ``checkpoint_dir`` resumes after (0: it starts afresh).

    An epoch log without a backup was left by a fit that finished: it is removed, so the next
    fit's log does not append to it. Best-weights files of epochs the log does not hold (saved
    just before a kill) are removed too: those epochs run again.
    """
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    epoch_log = checkpoint_dir / EPOCH_LOG
    resumed = 0
    if not (checkpoint_dir / "backup").exists():
        epoch_log.unlink(missing_ok=True)
    elif epoch_log.exists():
        resumed = len(read_epoch_log(epoch_log))
    for path in checkpoint_dir.glob(BEST_WEIGHTS_GLOB):
        if int(path.name.split("-")[1].split(".")[0]) > resumed:
            path.unlink()
    return resumed


def read_epoch_log(path: Path) -> list[dict[str, float]]:
    """The rows Keras' CSVLogger wrote (0-based epochs), with 1-based epoch numbers."""
    rows = pacsv.read_csv(path).to_pylist()
    return [{**row, "epoch": int(row["epoch"]) + 1} for row in rows]


def limit_threads(threads: int) -> None:
    """Let TensorFlow use at most ``threads`` CPU threads in this process.

    TensorFlow reads the setting once, when its runtime starts: a process that already ran an
    op keeps its thread pools (logged, not an error).
    """
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        logger.info("TensorFlow already started; it keeps its thread pools")
