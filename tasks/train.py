"""The train task: fit the configured network on the padded rows (`rnn_retrain.stages.train`)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
from prefect import get_run_logger, task

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.data.labels import BINARY_CLASSES
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.model.batching import FIT, bucket_boundaries
from rnn_retrain.model.memory import check_fits
from rnn_retrain.model.serving import ARTIFACT_NETWORK, ARTIFACT_VOCABULARY
from rnn_retrain.orchestration.caching import cached_stage
from rnn_retrain.orchestration.retries import RETRY_SETTINGS
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.orchestration.ui_artifacts import training_progress
from rnn_retrain.registry.files import download_model_files
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.results import StartingPoint, TrainResult
from rnn_retrain.stages.train import (
    CONFIG,
    checkpoint_key,
    history_table,
    starting_point,
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


def start_from_champion(
    network: object, start: StartingPoint, store: ArtifactStore, vocabulary: pa.Table
) -> StartingPoint:
    """Copy the champion's weights (`warm_start` stored them) into ``network``
    (`rnn_retrain.model.warm_start`).

    Returns where the fit starts: still warm, with how many tokens kept their rows, or cold when
    the two vocabularies share no token.
    """
    from rnn_retrain.model.layers import load_network
    from rnn_retrain.model.warm_start import copy_champion_weights, shared_token_ids

    with tempfile.TemporaryDirectory() as directory:
        champion = load_network(store.copy_to_local(start.network, directory))
    champion_vocabulary = store.read_table(start.vocabulary)
    current_ids, champion_ids = shared_token_ids(champion_vocabulary, vocabulary)
    shared = len(current_ids) - 2  # Padding and out-of-vocabulary are not tokens.
    if not shared:
        return StartingPoint(
            reason=f"champion version {start.version} shares no token with this run's vocabulary"
        )
    copy_champion_weights(champion, network, current_ids, champion_ids)
    return start.model_copy(
        update={
            "reason": f"{start.reason}, {shared:,} of this run's {vocabulary.num_rows:,} tokens "
            "keeping their embedding rows"
        }
    )


@task(name="warm-start", **RETRY_SETTINGS)
def warm_start(config: RetrainConfig, classes: list[str]) -> StartingPoint:
    """Whether training can start from the champion's weights (``--warm-start champion``).

    If it can, the champion's network and vocabulary are copied into this run's artifacts, for
    train to read, and TensorFlow is loaded. (Run before the baseline starts: its vectoriser
    holds the GIL for most of a minute on IMDB, and the model's load beside it took 48 s
    instead of 1 on 2 cores.)
    """
    registry = ModelRegistry(config.registry.tracking_uri, config.registry.model_name)
    champion = registry.champion()
    start = starting_point(
        (str(champion.version), dict(champion.tags)) if champion is not None else None,
        config.model,
        classes,
    )
    logger = get_run_logger()
    (logger.info if start.warm else logger.warning)("%s", start.describe())
    if not start.warm:
        return start
    store, run_id = store_for(config), current_run_id()
    params = {"model_name": registry.model_name, "version": start.version}
    with tempfile.TemporaryDirectory() as directory:
        files = download_model_files(
            registry, start.version, [ARTIFACT_NETWORK, ARTIFACT_VOCABULARY], directory
        )
        network = store.write_file(
            run_id, "warm-start", "champion.keras", files[ARTIFACT_NETWORK], params
        )
        vocabulary = store.write_file(
            run_id, "warm-start", "vocabulary.parquet", files[ARTIFACT_VOCABULARY], params
        )
    load_tensorflow_quietly()  # Train needs it next: loaded here, before the baseline competes.
    return start.model_copy(update={"network": network, "vocabulary": vocabulary})


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
    ``classes`` are the label's class names in id order (ingest's); None is the binary pair.
    A warm ``start`` (`warm_start`) begins from the champion's weights, mapped onto this run's
    ``vocabulary``, and fits at most ``warm_start_epochs``.
    """
    classes = list(classes or BINARY_CLASSES)
    training, text = config.training, config.text
    # Refuse a recipe that cannot fit before anything is built: an allocation that fails later
    # often kills the process instead of raising (`rnn_retrain.model.memory`).
    check_fits(vocabulary_size, config.model, training.batch_size, text.maxlen)
    load_tensorflow_quietly()  # Only a stage that runs needs TensorFlow (seconds to load).
    from rnn_retrain.model.network import build_model, fit_model, limit_threads

    if training.training_threads:
        limit_threads(training.training_threads)
    store, run_id = store_for(config), current_run_id()
    params = CONFIG.values(config)
    started = time.perf_counter()
    network = build_model(vocabulary_size, config.model, training, len(classes))
    if start is not None and start.warm and vocabulary is not None:
        start = start_from_champion(network, start, store, store.read_table(vocabulary))
        get_run_logger().info("%s", start.describe())
    warm = start is not None and start.warm
    if warm:
        training = training.model_copy(update={"epochs": training.warm_start_epochs})
    update_progress = training_progress(training.epochs)
    # A warm fit's starting weights are part of what its checkpoints hold.
    key_params = (
        {**params, "warm_start_from": start.model_sha256 or start.version} if warm else params
    )
    checkpoints = store.checkpoint_dir(checkpoint_key(padded.sha256, vocabulary_size, key_params))
    with (
        claimed_checkpoints(checkpoints, run_id) as checkpoints,
        mirrored_checkpoints(store, checkpoints) as copy_checkpoints,
        store.open_parquet(padded) as parquet,
    ):
        rows = stored_rows(
            read_row_groups(parquet, ["group_key", "split", "length"]),
            lambda group: parquet.read_row_group(group, columns=["label", "x"]),
            training.validation_fraction,
            training.seed,
        )
        boundaries = bucket_boundaries(rows.role_lengths(FIT), training.length_buckets, text.maxlen)
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
