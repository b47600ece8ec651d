"""The servable model: raw review texts in, class probabilities out.

What the registry holds is an MLflow pyfunc made of four artifacts: the trained Keras network
(loaded with Keras safe mode, so it cannot carry code), the fitted vocabulary, the padding
settings and the label's classes (`rnn_retrain.data.labels`). A two-class model answers one
probability per review, of the positive class (class id 1); a K-class model answers, per
review, the most probable class's name (``label``), its ``probability``, and one
``probability_<class>`` column per class. Texts go through `rnn_retrain.data.preprocessing`, the same code that prepared the training
data, and that package is bundled with the model so serving never drifts from training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from rnn_retrain.data.preprocessing import texts_to_padded_ids
from rnn_retrain.model.batching import predict_in_buckets

PREDICT_BATCH_SIZE = 1024
# The one input column of the logged model's signature: what a scoring request names its reviews.
TEXT_COLUMN = "text"
# A review is positive when its probability is at least this; evaluate, the gate and predict agree.
THRESHOLD = 0.5
ARTIFACT_NETWORK = "network"
ARTIFACT_VOCABULARY = "vocabulary"
ARTIFACT_PREPROCESSING = "preprocessing"
ARTIFACT_LABELS = "labels"
# A K-class answer's columns: the predicted class, its probability, then each class's.
LABEL_COLUMN = "label"
PROBABILITY_COLUMN = "probability"
CLASS_PROBABILITY_PREFIX = "probability_"


def class_probability_columns(classes: Sequence[str]) -> list[str]:
    """The column of each class's probability in a K-class answer, in class id order."""
    return [f"{CLASS_PROBABILITY_PREFIX}{name}" for name in classes]


def predict_probabilities(
    network: Any, x: np.ndarray, length_buckets: list[int] | None = None, padding: str = "pre"
) -> np.ndarray:
    """The network's probabilities for every row of a padded id matrix.

    A vector of the positive class's probability for a two-class network; a rows × K matrix
    for a K-class one.

    Rows are scored at the bucket lengths the network was trained at (`rnn_retrain.model.batching`);
    without buckets, at the matrix's full width.
    """
    boundaries = length_buckets or [x.shape[1]]
    return predict_in_buckets(network, x, boundaries, padding, PREDICT_BATCH_SIZE)


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
    return predict_probabilities(
        network, x, preprocessing.get("length_buckets"), preprocessing["padding"]
    )


def review_texts(model_input: Any) -> list[str]:
    """The reviews in what a caller hands the model, checked to be a non-empty batch of strings.

    Python callers pass a list of strings; MLflow's scoring server passes a pandas DataFrame
    with a ``text`` column (the logged signature). Anything else names what is wrong, so the
    server can answer 400 with that message instead of failing inside the network.

    Args:
        model_input: a sequence of strings, or a DataFrame (or column mapping) with ``text``.

    Returns:
        The reviews, in order.

    Raises:
        ValueError: no ``text`` column, no rows, or a row that is not a string.
    """
    columns = getattr(model_input, "columns", None)
    if columns is not None or isinstance(model_input, dict):
        names = list(columns) if columns is not None else list(model_input)
        if TEXT_COLUMN not in names:
            raise ValueError(
                f"no {TEXT_COLUMN!r} field in the request (fields: {names}); send each review "
                f'as {{"{TEXT_COLUMN}": "..."}}'
            )
        model_input = model_input[TEXT_COLUMN]
    if isinstance(model_input, str):
        raise ValueError("expected a list of reviews, got a single string; wrap it in a list")
    texts = list(model_input)
    if not texts:
        raise ValueError("no reviews to score: the request has no rows")
    for position, text in enumerate(texts, start=1):
        if not isinstance(text, str):
            raise ValueError(
                f"review {position} is {type(text).__name__} {text!r:.40}, not text; "
                f"send every {TEXT_COLUMN!r} as a string"
            )
    return texts
