"""MLflow "model from code" entry point: MLflow runs this file when it loads a registered model.

Logging the model as code (rather than a pickled object) keeps loading free of unpickling. The
scoring itself is `rnn_retrain.serving`, which stays free of MLflow so it imports fast.
"""

import json
from pathlib import Path

import mlflow
import pyarrow.parquet as pq

from rnn_retrain.serving import (
    ARTIFACT_NETWORK,
    ARTIFACT_PREPROCESSING,
    ARTIFACT_VOCABULARY,
    score_texts,
)


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


mlflow.models.set_model(TextClassifier())
