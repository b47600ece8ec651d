"""The warm-start task: whether training can start from the champion's weights, and their copy."""

from __future__ import annotations

import tempfile

from prefect import get_run_logger, task

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.environment.quiet import load_tensorflow_quietly
from rnn_retrain.model.serving import ARTIFACT_NETWORK, ARTIFACT_VOCABULARY
from rnn_retrain.orchestration.retries import RETRY_SETTINGS
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.registry.files import download_model_files
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.results import StartingPoint
from rnn_retrain.stages.train import starting_point


@task(name="warm-start", **RETRY_SETTINGS)
def warm_start(config: RetrainConfig, classes: list[str]) -> StartingPoint:
    """Whether training can start from the champion's weights (``--warm-start champion``).

    If it can, the champion's network and vocabulary are copied into this run's artifacts, for
    train to read, and TensorFlow is loaded. (Run before the baseline starts: its vectoriser
    holds the GIL for long stretches, and a model loading beside it waits; benchmarks/RESULTS.md,
    "Warm starts on IMDB".)
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
