"""The train task: fit the configured network on the padded rows (`rnn_retrain.stages.train`)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from prefect import get_run_logger, task

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.data.labels import BINARY_CLASSES
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.model.memory import check_fits
from rnn_retrain.orchestration.caching import cached_stage
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.orchestration.ui_artifacts import training_progress
from rnn_retrain.results import StartingPoint, TrainResult
from rnn_retrain.stages.train import (
    CONFIG,
    checkpoint_key,
    fitting_rows,
    history_table,
    train_result,
    warmed_start,
)
from rnn_retrain.store import paths
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore
from rnn_retrain.store.checkpoints import Checkpoints, claimed_checkpoints, mirrored_checkpoints


def store_model(
    store: ArtifactStore, network: object, run_id: str, folder: str, params: dict
) -> ArtifactRef:
    """Save the Keras network in its native format and store it as an artifact."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.keras"
        network.save(path)  # type: ignore[attr-defined]
        return store.write_file(run_id, folder, "model.keras", path, params)


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
    start = warmed_start(start, shared, tokens.num_rows)
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
    from rnn_retrain.model.fitting import FitHooks, fit_model, limit_threads, resumable_epochs

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
    checkpoints = Checkpoints(store).folder(key)
    with (
        claimed_checkpoints(checkpoints, run_id) as checkpoints,
        mirrored_checkpoints(store, checkpoints, resumable_epochs) as copy_checkpoints,
        store.open_parquet(padded) as parquet,
    ):
        rows, boundaries = fitting_rows(parquet, training, text.maxlen)
        outcome = fit_model(
            network,
            rows,
            training,
            text.padding,
            boundaries,
            FitHooks(get_run_logger().info, update_progress, checkpoints, copy_checkpoints),
        )
        update_progress(1.0)  # Early stopping ends training before the planned last epoch.
        seconds = time.perf_counter() - started
        folder = paths.stage_folder("train", candidate)
        model_ref = store_model(store, network, run_id, folder, params)
        history = store.write_table(run_id, folder, "history", history_table(outcome.rows), params)
    return train_result(outcome, model_ref, history, boundaries, seconds, classes, start)
