"""MLflow "model from code" entry point: MLflow runs this file when it loads a registered model.

Logging the model as code (rather than a pickled object) keeps loading free of unpickling.
"""

import mlflow

from rnn_retrain.serving import TextClassifier

mlflow.models.set_model(TextClassifier())
