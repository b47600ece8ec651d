"""What a version's run logged, read back: the servable model's files, its test predictions, its
bag-of-words baseline and its training data's profile.

A version registered outside the pipeline (by hand, with MLflow's own API) may lack any of them:
the readers of the optional ones answer None, and the baseline's reader says what is missing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.exceptions import MlflowException

from rnn_retrain.errors import RetrainError
from rnn_retrain.registry.versions import ModelRegistry

DATA_PROFILE = "data_profile.json"
# Evaluate's per-row scores of the test split, as the run logging writes them.
TEST_PREDICTIONS = "evaluation/predictions.parquet"
# Where a run's bag-of-words baseline files are logged (see `rnn_retrain.stages.baseline`).
BASELINE_ARTIFACT_PATH = "baseline"


def download_model_files(
    registry: ModelRegistry, version: str, names: list[str], directory: str | os.PathLike[str]
) -> dict[str, Path]:
    """Download a version's servable model into ``directory``; the paths of its named
    artifacts (`rnn_retrain.model.serving`'s ``ARTIFACT_*``), without loading it."""
    from mlflow.models import Model

    with registry.tracking.activated():
        folder = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{registry.model_name}/{version}", dst_path=str(directory)
            )
        )
    artifacts = Model.load(str(folder)).flavors["python_function"]["artifacts"]
    return {name: folder / artifacts[name]["path"] for name in names}


def data_profile(registry: ModelRegistry, run_id: str | None) -> dict[str, Any] | None:
    """The training-data profile (see `rnn_retrain.tasks.validate`) a version's run logged."""
    if not run_id:
        return None
    try:
        with registry.tracking.activated():
            return mlflow.artifacts.load_dict(f"runs:/{run_id}/{DATA_PROFILE}")
    except (MlflowException, OSError):
        return None


def champion_data_profile(registry: ModelRegistry) -> dict[str, Any] | None:
    """The champion's training-data profile, if there is a champion and it has one."""
    champion = registry.champion()
    return None if champion is None else data_profile(registry, champion.run_id)


def test_predictions(registry: ModelRegistry, run_id: str | None) -> pa.Table | None:
    """A version's scores on its own test rows (evaluate's predictions, as its run logged them)."""
    if not run_id:
        return None
    try:
        with tempfile.TemporaryDirectory() as directory, registry.tracking.activated():
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=TEST_PREDICTIONS, dst_path=directory
            )
            return pq.read_table(path, columns=["row_id", "probability", "prediction"])
    except (MlflowException, OSError):
        return None


def download_baseline(
    registry: ModelRegistry, version: str, directory: str | os.PathLike[str]
) -> Path:
    """Download the baseline files logged with a version's run; return their folder.

    Raises:
        RetrainError: if the version's run logged no baseline (a run with ``--no-baseline``).
    """
    run_id = registry.get_version(version=version).run_id
    try:
        with registry.tracking.activated():
            folder = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=BASELINE_ARTIFACT_PATH, dst_path=str(directory)
            )
    except (MlflowException, OSError):
        folder = None
    if folder is None or not any(Path(folder).iterdir()):
        raise RetrainError(
            f"model {registry.model_name!r} version {version} has no baseline (trained by a run "
            "with --no-baseline)"
        )
    return Path(folder)
