"""The servable model: raw review texts in, probabilities of a positive review out.

What the registry holds is an MLflow pyfunc made of three artifacts: the trained Keras network
(loaded with Keras safe mode, so it cannot carry code), the fitted vocabulary, and the padding
settings. Texts go through `rnn_retrain.preprocessing`, the same code that prepared the training
data, and that package is bundled with the model so serving never drifts from training.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rnn_retrain.preprocessing import texts_to_padded_ids

PREDICT_BATCH_SIZE = 1024
# A review is positive when its probability is at least this; evaluate, the gate and predict agree.
THRESHOLD = 0.5
ARTIFACT_NETWORK = "network"
ARTIFACT_VOCABULARY = "vocabulary"
ARTIFACT_PREPROCESSING = "preprocessing"


def predict_probabilities(network: Any, x: np.ndarray) -> np.ndarray:
    """The network's probability of a positive review for every row of a padded id matrix."""
    return (
        network.predict(x, batch_size=PREDICT_BATCH_SIZE, verbose=0).reshape(-1).astype(np.float64)
    )


def score_texts(
    network: Any, vocabulary: pa.Table, preprocessing: dict[str, Any], texts: Sequence[str]
) -> np.ndarray:
    """Probabilities for raw texts: standardise, encode, pad as in training, then predict."""
    x = texts_to_padded_ids(
        pa.array(list(texts), pa.string()),
        vocabulary,
        preprocessing["maxlen"],
        preprocessing["padding"],
        preprocessing["truncating"],
    )
    return predict_probabilities(network, x)


class TextClassifier(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: ``predict(["a review", ...])`` returns one probability per review."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        import keras  # Loaded here so that importing this module stays light.

        artifacts = context.artifacts
        self.network = keras.saving.load_model(artifacts[ARTIFACT_NETWORK], safe_mode=True)
        self.vocabulary = pq.read_table(artifacts[ARTIFACT_VOCABULARY], columns=["token", "id"])
        self.preprocessing = json.loads(Path(artifacts[ARTIFACT_PREPROCESSING]).read_text())

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: list[str],
        params: dict | None = None,
    ) -> list[float]:
        return score_texts(self.network, self.vocabulary, self.preprocessing, model_input).tolist()
