"""The train task: fit the configured network on the padded rows (`rnn_retrain.stages.train`)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.config.sections import TrainingSettings
from rnn_retrain.data.labels import BINARY_CLASSES
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.model.batching import FIT, bucket_boundaries
from rnn_retrain.model.memory import check_fits
from rnn_retrain.orchestration.caching import cached_stage
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.orchestration.ui_artifacts import training_progress
from rnn_retrain.results import StartingPoint, TrainResult
from rnn_retrain.stages.train import (
    CONFIG,
    checkpoint_key,
    history_table,
    stored_rows,
    train_result,
)
from rnn_retrain.store import paths
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore
from rnn_retrain.store.chunks import read_row_groups
from rnn_retrain.store.locks import lock_if_free


@contextlib.contextmanager
def claimed_checkpoints(folder: Path, run_id: str) -> Iterator[Path]:
    """The checkpoint folder this run may use, removed once training's results are stored.

    Two runs training the same data and recipe at once must not share it: the first holds a lock
    on it (the OS frees the lock if the process dies), a second keeps its own folder.
    """
    with lock_if_free(paths.checkpoint_lock(folder)) as owner:
        if not owner:
            get_run_logger().warning(
                "Another run is training the same data and recipe; this run keeps its own "
                "checkpoints"
            )
            folder = paths.private_checkpoint_folder(folder, run_id)
        yield folder
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def mirrored_checkpoints(store: ArtifactStore, folder: Path) -> Iterator[Callable[[], None] | None]:
    """For a remote artifact root, the checkpoint folder's copy there, so any machine resumes.

    A folder with nothing to resume first takes the copy's contents (a training killed on
    another machine). Yields the function that refreshes the copy, for the fit to call whenever
    the folder changed; None for a local root, whose folder every run already shares. The copy is
    deleted once training's results are stored.
    """
    mirror = store.checkpoint_mirror(folder)
    if mirror is None:
        yield None
        return
    from rnn_retrain.model.network import resumable_epochs  # The task has loaded TensorFlow.

    logger = get_run_logger()
    if not resumable_epochs(folder) and mirror.restore():
        logger.info("Took the checkpoints of an interrupted training from %s", mirror.uri)

    def refresh() -> None:
        # A failed copy must not fail the training: this machine's folder still resumes it.
        try:
            mirror.save()
        except OSError as error:
            logger.warning(
                "Could not copy the checkpoints to %s (%s); training goes on", mirror.uri, error
            )

    yield refresh
    try:
        mirror.discard()
    except OSError as error:
        # The results are stored: failing now would train again. What is left resumes nothing.
        logger.warning("Could not delete the checkpoint copy %s (%s)", mirror.uri, error)


def store_model(
    store: ArtifactStore, network: object, run_id: str, folder: str, params: dict
) -> ArtifactRef:
    """Save the Keras network in its native format and store it as an artifact."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.keras"
        network.save(path)  # type: ignore[attr-defined]
        return store.write_file(run_id, folder, "model.keras", path, params)


def fitting_rows(parquet: Any, training: TrainingSettings, maxlen: int) -> tuple[Any, list[int]]:
    """The padded rows' fit and validation roles (read row group by row group), and the length
    buckets' boundaries for the fit rows."""
    rows = stored_rows(
        read_row_groups(parquet, ["group_key", "split", "length"]),
        lambda group: parquet.read_row_group(group, columns=["label", "x"]),
        training.validation_fraction,
        training.seed,
    )
    return rows, bucket_boundaries(rows.role_lengths(FIT), training.length_buckets, maxlen)


def built_network(
    vocabulary_size: int,
    config: RetrainConfig,
    classes: list[str],
    start: StartingPoint | None,
    store: ArtifactStore,
    vocabulary: ArtifactRef | None,
) -> tuple[object, StartingPoint | None]:
    """The configured network, with the champion's weights in it for a warm ``start``; the
    starting point as it turned out (cold when the vocabularies share no token)."""
    from rnn_retrain.model.network import build_model
    from rnn_retrain.model.warm_start import copy_champion_into

    network = build_model(vocabulary_size, config.model, config.training, len(classes))
    if start is None or not start.warm or vocabulary is None:
        return network, start
    tokens = store.read_table(vocabulary)
    with tempfile.TemporaryDirectory() as directory:
        champion = store.copy_to_local(start.network, directory)
        shared = copy_champion_into(network, champion, store.read_table(start.vocabulary), tokens)
    if shared:
        reason = f"{shared:,} of this run's {tokens.num_rows:,} tokens keeping their embedding rows"
        start = start.model_copy(update={"reason": f"{start.reason}, {reason}"})
    else:
        reason = f"champion version {start.version} shares no token with this run's vocabulary"
        start = StartingPoint(reason=reason)
    get_run_logger().info("%s", start.describe())
    return network, start


@task(**cached_stage("train", CONFIG))
def train(
    padded: ArtifactRef,
    vocabulary_size: int,
    config: RetrainConfig,
    candidate: str = "",
    classes: list[str] | None = None,
    start: StartingPoint | None = None,
    vocabulary: ArtifactRef | None = None,
) -> TrainResult:
    """Train the configured model on the train split and store it with its history.

    A sweep names each ``candidate``, so candidates of one run store their files apart.
    ``classes`` are the class names in id order (None: the binary pair). A warm ``start`` begins
    from the champion's weights, mapped onto ``vocabulary``, and fits ``warm_start_epochs``.
    """
    classes = list(classes or BINARY_CLASSES)
    training, text = config.training, config.text
    # Refuse a recipe that cannot fit before anything is built: an allocation that fails later
    # often kills the process instead of raising (`rnn_retrain.model.memory`).
    check_fits(vocabulary_size, config.model, training.batch_size, text.maxlen)
    load_tensorflow_quietly()  # Only a stage that runs needs TensorFlow (seconds to load).
    from rnn_retrain.model.network import fit_model, limit_threads

    if training.training_threads:
        limit_threads(training.training_threads)
    store, run_id = store_for(config), current_run_id()
    params = CONFIG.values(config)
    started = time.perf_counter()
    network, start = built_network(vocabulary_size, config, classes, start, store, vocabulary)
    warm = start is not None and start.warm
    if warm:
        training = training.model_copy(update={"epochs": training.warm_start_epochs})
    update_progress = training_progress(training.epochs)
    # A warm fit's starting weights are part of what its checkpoints hold.
    warm_from = {"warm_start_from": start.model_sha256} if warm else {}
    key = checkpoint_key(padded.sha256, vocabulary_size, {**params, **warm_from})
    checkpoints = store.checkpoint_dir(key)
    with (
        claimed_checkpoints(checkpoints, run_id) as checkpoints,
        mirrored_checkpoints(store, checkpoints) as copy_checkpoints,
        store.open_parquet(padded) as parquet,
    ):
        rows, boundaries = fitting_rows(parquet, training, text.maxlen)
        outcome = fit_model(
            network,
            rows,
            training,
            text.padding,
            boundaries,
            report=get_run_logger().info,
            on_epoch=update_progress,
            checkpoint_dir=checkpoints,
            on_checkpoint=copy_checkpoints,
        )
        update_progress(1.0)  # Early stopping ends training before the planned last epoch.
        seconds = time.perf_counter() - started
        folder = paths.stage_folder("train", candidate)
        model_ref = store_model(store, network, run_id, folder, params)
        history = store.write_table(run_id, folder, "history", history_table(outcome.rows), params)
    return train_result(outcome, model_ref, history, boundaries, seconds, classes, start)
