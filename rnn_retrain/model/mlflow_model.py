"""MLflow "model from code" entry point: MLflow runs this file when it loads a registered model.

Logging the model as code (rather than a pickled object) keeps loading free of unpickling. The
scoring itself is `rnn_retrain.model.serving`, which stays free of MLflow so it imports fast.
"""

import json
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow.parquet as pq
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from rnn_retrain.model.serving import (
    ARTIFACT_LABELS,
    ARTIFACT_NETWORK,
    ARTIFACT_PREPROCESSING,
    ARTIFACT_VOCABULARY,
    LABEL_COLUMN,
    PROBABILITY_COLUMN,
    TextScorer,
    class_probability_columns,
    limit_serving_threads,
    review_texts,
    wants_warm_up,
)


class TextClassifier(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: per review, the positive class's probability (two classes), or
    a row of the predicted class, its probability and every class's probability (K classes).

    ``predict`` takes a DataFrame with a ``text`` column: what MLflow builds from any request under
    the logged signature, and what `rnn_retrain.model.package.predict_reviews` sends.
    """

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        # Loaded here so that importing this module stays light (it imports Keras).
        from rnn_retrain.model.layers import load_network

        artifacts = context.artifacts
        serving = wants_warm_up(context.model_config)
        if serving:  # Before the network loads and TensorFlow's runtime starts.
            limit_serving_threads()
        self.scorer = TextScorer(
            load_network(artifacts[ARTIFACT_NETWORK]),
            pq.read_table(artifacts[ARTIFACT_VOCABULARY], columns=["token", "id"]),
            json.loads(Path(artifacts[ARTIFACT_PREPROCESSING]).read_text()),
            warm_up=serving,
        )
        self.classes = json.loads(Path(artifacts[ARTIFACT_LABELS]).read_text())["classes"]

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        # MLflow infers no schema from a DataFrame hint (the logged signature stays the one check)
        # and, unlike with no hint, does not warn "Add type hints" on every load.
        model_input: pd.DataFrame,
        params: dict | None = None,
    ):
        try:
            texts = review_texts(model_input)
        except ValueError as error:
            # MLflow answers INVALID_PARAMETER_VALUE with HTTP 400 and this message, where any
            # other exception would be a generic "unexpected error" without the reason.
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None
        scores = self.scorer(texts)
        if scores.ndim == 1:
            return scores.tolist()
        import pandas as pd

        best = scores.argmax(axis=1)
        answer = pd.DataFrame(
            {
                LABEL_COLUMN: [self.classes[index] for index in best],
                PROBABILITY_COLUMN: scores.max(axis=1),
            }
        )
        for column, values in zip(class_probability_columns(self.classes), scores.T):
            answer[column] = values
        return answer


mlflow.models.set_model(TextClassifier())
