"""MLflow "model from code" entry point: MLflow runs this file when it loads a registered model.

Logging the model as code (rather than a pickled object) keeps loading free of unpickling. The
scoring itself is `rnn_retrain.serving`, which stays free of MLflow so it imports fast.
"""

import json
from pathlib import Path

import mlflow
import pyarrow.parquet as pq
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from rnn_retrain.serving import (
    ARTIFACT_NETWORK,
    ARTIFACT_PREPROCESSING,
    ARTIFACT_VOCABULARY,
    review_texts,
    score_texts,
)


class TextClassifier(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: one probability of a positive review per review.

    ``predict`` takes a list of strings (``retrain predict``, the promotion gate) or a DataFrame
    with a ``text`` column (what MLflow's scoring server builds from a request under the logged
    signature).
    """

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        # Loaded here so that importing this module stays light (it imports Keras).
        from rnn_retrain.layers import load_network

        artifacts = context.artifacts
        self.network = load_network(artifacts[ARTIFACT_NETWORK])
        self.vocabulary = pq.read_table(artifacts[ARTIFACT_VOCABULARY], columns=["token", "id"])
        self.preprocessing = json.loads(Path(artifacts[ARTIFACT_PREPROCESSING]).read_text())

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input,  # No annotation: MLflow would read one as a second, conflicting signature.
        params: dict | None = None,
    ) -> list[float]:
        try:
            texts = review_texts(model_input)
        except ValueError as error:
            # MLflow answers INVALID_PARAMETER_VALUE with HTTP 400 and this message, where any
            # other exception would be a generic "unexpected error" without the reason.
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None
        return score_texts(self.network, self.vocabulary, self.preprocessing, texts).tolist()


mlflow.models.set_model(TextClassifier())
