"""The servable text model as MLflow logs it: a pyfunc with its files, signature and requirements.

`log_text_classifier` turns a run's network, vocabulary, padding settings and classes into an
MLflow pyfunc (`rnn_retrain.model.mlflow_model`, answering as `rnn_retrain.model.serving` says).
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import mlflow

from rnn_retrain.model import serving

# Logged with every version: the request shape a caller of the served model sees first.
INPUT_EXAMPLE = ["the plot was not good", "a wonderful film , the acting was great"]
# The package that travels with the model (``code_paths``): the core, without the layers above.
PACKAGE = Path(serving.__file__).resolve().parents[1]


def log_text_classifier(
    network_path: Path,
    vocabulary_path: Path,
    preprocessing: dict[str, Any],
    labels_path: Path,
    classes: list[str],
) -> Any:
    """Log the servable text model (network, vocabulary, padding, classes) to the active run.

    The ``rnn_retrain`` package travels with the model (``code_paths``), so the model always
    tokenizes with the code it was trained with. The signature lets MLflow's scoring server
    check requests before they reach the model, and the input example shows callers the request
    shape. The class names are also the model's metadata (``classes``), so a caller can name the
    answers without loading the model's files.
    """
    import pandas as pd

    with TemporaryDirectory() as directory:
        settings = Path(directory) / "preprocessing.json"
        settings.write_text(json.dumps(preprocessing))
        artifacts = {
            serving.ARTIFACT_NETWORK: str(network_path),
            serving.ARTIFACT_VOCABULARY: str(vocabulary_path),
            serving.ARTIFACT_PREPROCESSING: str(settings),
            serving.ARTIFACT_LABELS: str(labels_path),
        }
        # MLflow loads the saved model to check the input example: no warm-up for that load.
        with serving.logging_a_model():
            return mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PACKAGE / "model" / "mlflow_model.py"),
                artifacts=artifacts,
                code_paths=[str(PACKAGE)],
                pip_requirements=model_requirements(),
                signature=model_signature(classes),
                input_example=pd.DataFrame({serving.TEXT_COLUMN: INPUT_EXAMPLE}),
                metadata={"classes": classes},
                # A key a loader may override (MLflow takes only keys logged here): bulk callers
                # load with `serving.BULK_LOADING`; a server keeps the warm-up.
                model_config={serving.WARM_UP: True},
            )


def model_requirements() -> list[str]:
    """The pinned packages a server in the model's own environment installs.

    What the bundled code imports (google-re2: a served request's few non-ASCII reviews), then
    what `mlflow models serve` in the model's own environment (``--env-manager virtualenv``,
    ``mlflow models build-docker``) serves faster with, where this environment has it.
    """
    needed = ("keras", "tensorflow", "mlflow", "pyarrow", "numpy", "pandas", "google-re2")
    faster = ("uvloop", "httptools")
    pinned = [f"{name}=={metadata.version(name)}" for name in needed]
    return pinned + [
        f"{name}=={version}" for name in faster if (version := _installed_version(name)) is not None
    ]


def model_signature(classes: list[str]) -> Any:
    """A string column ``text`` in; a probability out for two classes, or for K the class, its
    probability and each class's."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema

    outputs = Schema([ColSpec(DataType.double)])
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
    inputs = Schema([ColSpec(DataType.string, serving.TEXT_COLUMN)])
    return ModelSignature(inputs=inputs, outputs=outputs)


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
