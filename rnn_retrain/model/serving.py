"""The servable model: raw review texts in, class probabilities out.

What the registry holds is an MLflow pyfunc made of four artifacts: the trained Keras network
(loaded with Keras safe mode, so it cannot carry code), the fitted vocabulary, the padding
settings and the label's classes (`rnn_retrain.data.labels`). A two-class model answers one
probability per review, of the positive class (class id 1); a K-class model answers, per
review, the most probable class's name (``label``), its ``probability``, and one
``probability_<class>`` column per class. Texts go through `rnn_retrain.data.preprocessing`, the
same code that prepared the training data, and that package is bundled with the model so serving
never drifts from training.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from rnn_retrain.data.preprocessing import TokenLookup, texts_to_padded_ids
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


# The most rows one compiled call takes; a larger request is scored in calls of this many.
SERVING_ROWS = 64
# The pyfunc's model_config key (logged true): compile the one-review shapes at load, which only
# a server waiting for its first requests needs. Bulk callers (the gate, batch scoring, `retrain
# predict`) load with `BULK_LOADING`: their first call compiles the shapes it uses anyway, and
# the warm-up's compiling slows every load, even a tiny model's.
WARM_UP = "warm_up"
BULK_LOADING = {WARM_UP: False}
# Set while this thread logs a model: MLflow's log_model loads the model it just saved to check
# the input example, with the logged config. That load's warm-up compiled shapes nobody serves,
# and was most of the time the check added to every registration.
_LOGGING = contextvars.ContextVar("rnn_retrain_logging_a_model", default=False)


@contextlib.contextmanager
def logging_a_model() -> Iterator[None]:
    """Loads inside this block (MLflow checking what it logs) skip the warm-up."""
    token = _LOGGING.set(True)
    try:
        yield
    finally:
        _LOGGING.reset(token)


def wants_warm_up(model_config: dict[str, Any] | None) -> bool:
    """Whether a load with ``model_config`` compiles the served shapes (`WARM_UP`).

    MLflow's scoring server loads with the logged config (warm-up on) or none at all: it warms
    up. Bulk loaders pass `BULK_LOADING`; MLflow's own check while logging never warms up.
    """
    return bool((model_config or {}).get(WARM_UP, True)) and not _LOGGING.get()


# TensorFlow's intra- and inter-op thread pools in a serving process. A server runs several
# requests at once (MLflow's handler hands each to a thread, and the recommended `-w` is one
# process per core), so each request's ops get one thread rather than pools as wide as the
# machine, which concurrent requests would oversubscribe. With 2 workers on 2 cores it served
# more requests a second than TensorFlow's default pools; with 1 worker the comparison said
# nothing (whichever server was measured second won). `benchmarks/serve_load.py --tf-threads`
# measures it (benchmarks/RESULTS.md, "Serving"). The environment's TF_NUM_INTRAOP_THREADS and
# TF_NUM_INTEROP_THREADS, when set, win.
# Only in the scoring server's own process: the setting holds for the life of a process, and a
# notebook that loads the champion and then trains must keep TensorFlow's whole pools.
SERVING_TF_THREADS = 1
TF_THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
# Set by `mlflow models serve` (and the build-docker image) for the uvicorn process it starts: the
# model's location, which its app module loads (mlflow.pyfunc.scoring_server._SERVER_MODEL_PATH).
SCORING_SERVER_VARIABLE = "__pyfunc_model_path__"
# Set by `retrain serve-model` for its workers (MLflow's scoring server on a followed alias): the
# registered model they serve, ``name@alias``.
FOLLOWING_SERVER_VARIABLE = "RETRAIN_SERVE_MODEL"


def limit_serving_threads() -> None:
    """In MLflow's scoring server, give TensorFlow `SERVING_TF_THREADS` threads a pool, unless
    the environment sets them; anywhere else, nothing.

    Call it before the network loads: TensorFlow reads the setting when its runtime starts.
    """
    pools_given = any(name in os.environ for name in TF_THREAD_VARIABLES)
    in_a_server = SCORING_SERVER_VARIABLE in os.environ or FOLLOWING_SERVER_VARIABLE in os.environ
    if in_a_server and not pools_given:
        from rnn_retrain.model.fitting import limit_threads

        limit_threads(SERVING_TF_THREADS)


class CompiledForward:
    """The network's forward pass, traced once and compiled with XLA for a bounded set of shapes.

    ``keras.Model.predict`` builds a ``tf.data`` pipeline and its callbacks on every call, and
    the saved model's XLA step compiles anew for each new input shape: slow for one review at
    a time (the "before" row of benchmarks/RESULTS.md, "Serving"). A plain eager call would run
    the recurrent loop in Python, a token at a time. This traces ``network(x, training=False)``
    once, with rows and length left open. On CPU, XLA then compiles it once per input shape
    and fuses the recurrent loop, which scores a review far faster than the same graph without
    XLA. The shapes stay few: the lengths are the model's length buckets, and the rows are
    padded up to a power of two, at most `SERVING_ROWS`. On a GPU, XLA would replace the cuDNN
    recurrent kernels (as in training): the graph runs without it there.

    It answers Keras' ``predict(x, batch_size, verbose)``, so `predict_in_buckets` takes it in
    the network's place.
    """

    def __init__(self, network: Any) -> None:
        import tensorflow as tf

        self.xla = not tf.config.list_logical_devices("GPU")
        self._forward = tf.function(
            lambda x: network(x, training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
            jit_compile=self.xla,
        )

    def compile(self, lengths: Sequence[int]) -> None:
        """Compile the one-review shape of each length now, not on the first request."""
        for length in lengths:
            self._forward(np.zeros((1, length), dtype=np.int32))

    def predict(
        self, x: np.ndarray, batch_size: int = SERVING_ROWS, verbose: int = 0
    ) -> np.ndarray:
        """The network's output for ``x``, in calls of at most `SERVING_ROWS` rows (Keras'
        ``batch_size`` and ``verbose`` are taken and not used: the rows bound the shapes)."""
        parts = []
        for start in range(0, len(x), SERVING_ROWS):
            chunk = x[start : start + SERVING_ROWS]
            rows = len(chunk)
            shape_rows = 1 << (rows - 1).bit_length() if self.xla else rows
            if shape_rows > rows:  # Padding rows: all padding ids, answered and dropped.
                chunk = np.concatenate(
                    [chunk, np.zeros((shape_rows - rows, chunk.shape[1]), chunk.dtype)]
                )
            parts.append(self._forward(chunk).numpy()[:rows])
        return np.concatenate(parts)


class TextScorer:
    """Raw review texts to probabilities, as a served model scores each request.

    What every request needs is built once, here: the compiled forward pass (with ``warm_up``,
    compiled for one review at each bucket length, so the first requests do not pay for it) and
    the vocabulary's lookup.
    Texts go through `rnn_retrain.data.preprocessing` and the length buckets exactly as in
    training and evaluation.
    """

    def __init__(
        self,
        network: Any,
        vocabulary: pa.Table,
        preprocessing: dict[str, Any],
        warm_up: bool = True,
    ) -> None:
        self.lookup = TokenLookup(vocabulary)
        self.preprocessing = preprocessing
        self.boundaries = preprocessing.get("length_buckets") or [preprocessing["maxlen"]]
        self.forward = CompiledForward(network)
        if warm_up:
            self.forward.compile(self.boundaries)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Standardise, encode and pad the texts as in training, then predict, bucket by bucket."""
        return self.probabilities(self.padded_ids(texts))

    def padded_ids(self, texts: Sequence[str]) -> np.ndarray:
        """The texts standardised, encoded and padded as in training."""
        settings = self.preprocessing
        return texts_to_padded_ids(
            list(texts),
            self.lookup,
            settings["maxlen"],
            settings["padding"],
            settings["truncating"],
        )

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """The compiled network's answer for a padded id matrix, bucket by bucket."""
        padding = self.preprocessing["padding"]
        return predict_in_buckets(self.forward, x, self.boundaries, padding, PREDICT_BATCH_SIZE)


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
            # A null in JSON arrives as None, and an empty cell (CSV, a missing record field)
            # as pandas' NaN.
            null = text is None or (isinstance(text, float) and text != text)
            what = "null" if null else f"{type(text).__name__} {text!r:.40}"
            raise ValueError(
                f"review {position} is {what}, not text; send every {TEXT_COLUMN!r} as a string"
            )
    return texts
