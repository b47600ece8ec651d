"""A registered version, loaded: its classes, its answers to raw reviews, and the code's version.

`rnn_retrain.registry.servable` logs the model; `predict_reviews` and `model_classes` read a loaded
version (a pyfunc from `rnn_retrain.registry.versions.ModelRegistry.load`) the way MLflow's
scoring server calls it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


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


def model_classes(model: Any) -> list[str]:
    """A loaded version's class names in id order (the metadata it was logged with)."""
    return list(model.metadata.metadata["classes"])


def predict_reviews(model: Any, texts: list[str]) -> np.ndarray:
    """A loaded version's scores for raw reviews.

    The reviews go in as a DataFrame with a ``text`` column, which MLflow checks against the
    version's signature exactly as its scoring server does.

    Args:
        model: a pyfunc model from `ModelRegistry.load` or ``mlflow.pyfunc.load_model``.
        texts: the reviews, in order.

    Returns:
        For a two-class model, the positive class's probability per text; for K classes, a
        texts × K matrix of class probabilities, columns in `model_classes` order.
    """
    import pandas as pd

    from rnn_retrain.model.serving import TEXT_COLUMN, class_probability_columns

    answer = model.predict(pd.DataFrame({TEXT_COLUMN: texts}))
    classes = model_classes(model)
    if len(classes) > 2:
        return answer[class_probability_columns(classes)].to_numpy(dtype=np.float64)
    return np.asarray(answer, dtype=np.float64).reshape(-1)
