"""The servable text model as a registry version: how it is logged and how its answers are read.

`log_text_classifier` turns a run's network, vocabulary, padding settings and classes into an
MLflow pyfunc (`rnn_retrain.model.mlflow_model`, answering as `rnn_retrain.model.serving` says) with a
signature and an input example; `predict_reviews` and `model_classes` read a loaded version,
whichever release logged it. The registry adapter (`rnn_retrain.registry`) only moves versions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from rnn_retrain.data.labels import BINARY_CLASSES

# Logged with every version: the request shape a caller of the served model sees first.
INPUT_EXAMPLE = ["the plot was not good", "a wonderful film , the acting was great"]


def code_version() -> str:
    """The git commit of this checkout when there is one, else the package version."""
    import subprocess

    from rnn_retrain import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"rnn-retrain {__version__}"
    return f"git:{commit}"


def _installed_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def log_text_classifier(
    network_path: Path,
    vocabulary_path: Path,
    preprocessing: dict[str, Any],
    labels_path: Path | None = None,
    classes: list[str] | None = None,
) -> Any:
    """Log the servable text model (network, vocabulary, padding, classes) to the active run.

    The ``rnn_retrain`` package travels with the model (``code_paths``), so the model always
    tokenizes with the code it was trained with. The signature (a string column ``text`` in; a
    probability out for two classes, or the class, its probability and each class's for K)
    lets MLflow's scoring server check requests before they reach the model, and the input
    example shows callers the request shape. The class names are also the model's metadata
    (``classes``), so a caller can name the answers without loading the model's files.
    """
    from importlib import metadata
    from tempfile import TemporaryDirectory

    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema

    from rnn_retrain.model import serving

    classes = list(classes or BINARY_CLASSES)
    package = Path(__file__).resolve().parents[1]
    # What the bundled code imports (google-re2: a served request's few non-ASCII reviews), then
    # what `mlflow models serve` in the model's own environment (`--env-manager virtualenv`,
    # `mlflow models build-docker`) serves faster with, where this environment has it.
    requirements = [
        f"{name}=={metadata.version(name)}"
        for name in ("keras", "tensorflow", "mlflow", "pyarrow", "numpy", "pandas", "google-re2")
    ] + [
        f"{name}=={version}"
        for name in ("uvloop", "httptools")
        if (version := _installed_version(name)) is not None
    ]
    if len(classes) > 2:
        outputs = Schema(
            [
                ColSpec(DataType.string, serving.LABEL_COLUMN),
                ColSpec(DataType.double, serving.PROBABILITY_COLUMN),
                *(
                    ColSpec(DataType.double, column)
                    for column in serving.class_probability_columns(classes)
                ),
            ]
        )
    else:
        outputs = Schema([ColSpec(DataType.double)])
    with TemporaryDirectory() as directory:
        settings = Path(directory) / "preprocessing.json"
        settings.write_text(json.dumps(preprocessing))
        artifacts = {
            serving.ARTIFACT_NETWORK: str(network_path),
            serving.ARTIFACT_VOCABULARY: str(vocabulary_path),
            serving.ARTIFACT_PREPROCESSING: str(settings),
        }
        if labels_path is None:
            labels_path = Path(directory) / "labels.json"
            labels_path.write_text(json.dumps({"classes": classes}))
        artifacts[serving.ARTIFACT_LABELS] = str(labels_path)
        # MLflow loads the saved model to check the input example: no warm-up for that load.
        with serving.logging_a_model():
            return mlflow.pyfunc.log_model(
                name="model",
                python_model=str(package / "model" / "mlflow_model.py"),
                artifacts=artifacts,
                code_paths=[str(package)],
                pip_requirements=requirements,
                signature=ModelSignature(
                    inputs=Schema([ColSpec(DataType.string, serving.TEXT_COLUMN)]), outputs=outputs
                ),
                input_example=pd.DataFrame({serving.TEXT_COLUMN: INPUT_EXAMPLE}),
                metadata={"classes": classes},
                # A key a loader may override (MLflow takes only keys logged here): bulk callers
                # load with `serving.BULK_LOADING`; a server keeps the warm-up.
                model_config={serving.WARM_UP: True},
            )


def model_classes(model: Any) -> list[str]:
    """A loaded version's class names in id order (versions from before K classes: binary)."""
    extra = getattr(model.metadata, "metadata", None) or {}
    return list(extra.get("classes") or BINARY_CLASSES)


def predict_reviews(model: Any, texts: list[str]) -> np.ndarray:
    """A loaded version's scores for raw reviews, whichever release logged it.

    A version logged with a signature takes a DataFrame with a ``text`` column, which MLflow
    checks against the signature exactly as its scoring server does; a version logged before
    signatures (an older champion the gate re-scores) takes the plain list it was built for.

    Args:
        model: a pyfunc model from `ModelRegistry.load` or ``mlflow.pyfunc.load_model``.
        texts: the reviews, in order.

    Returns:
        For a two-class model, the positive class's probability per text; for K classes, a
        texts × K matrix of class probabilities, columns in `model_classes` order.
    """
    import pandas as pd

    from rnn_retrain.model.serving import TEXT_COLUMN, class_probability_columns

    if model.metadata.get_input_schema() is None:
        return np.asarray(model.predict(texts), dtype=np.float64)
    answer = model.predict(pd.DataFrame({TEXT_COLUMN: texts}))
    classes = model_classes(model)
    if len(classes) > 2:
        return answer[class_probability_columns(classes)].to_numpy(dtype=np.float64)
    return np.asarray(answer, dtype=np.float64).reshape(-1)
