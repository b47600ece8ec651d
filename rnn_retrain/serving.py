"""The servable model: raw review texts in, probabilities of a positive review out.

What the registry holds is an MLflow pyfunc made of three artifacts: the trained Keras network
(loaded with Keras safe mode, so it cannot carry code), the fitted vocabulary, and the padding
settings. Texts go through `rnn_retrain.preprocessing`, the same code that prepared the training
data, and that package is bundled with the model so serving never drifts from training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from rnn_retrain.batching import predict_in_buckets
from rnn_retrain.preprocessing import texts_to_padded_ids

PREDICT_BATCH_SIZE = 1024
# A review is positive when its probability is at least this; evaluate, the gate and predict agree.
THRESHOLD = 0.5
ARTIFACT_NETWORK = "network"
ARTIFACT_VOCABULARY = "vocabulary"
ARTIFACT_PREPROCESSING = "preprocessing"


def predict_probabilities(
    network: Any, x: np.ndarray, length_buckets: list[int] | None = None, padding: str = "pre"
) -> np.ndarray:
    """The network's probability of a positive review for every row of a padded id matrix.

    Rows are scored at the bucket lengths the network was trained at (`rnn_retrain.batching`);
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
