"""The Keras network: the tutorial's recurrent classifier, its variants and its n-gram branch.

Kept apart from the train task so that TensorFlow (seconds to import) loads only when a model is
actually trained or scored, not on a run whose every stage comes from the cache. How it is fitted
is `rnn_retrain.model.fitting`.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from rnn_retrain.config.retrain import ModelSettings, TrainingSettings
from rnn_retrain.model.layers import NGramBranch, TimePoolingCell

CELLS = {"simplernn": layers.SimpleRNN, "gru": layers.GRU, "lstm": layers.LSTM}
# The single-step cells, for a recurrent layer built around a cell of ours (pooling over time).
STEP_CELLS = {"simplernn": layers.SimpleRNNCell, "gru": layers.GRUCell, "lstm": layers.LSTMCell}
# The layer names of a hybrid network's n-gram branch and of its recurrent half's logits.
EMBEDDING = "embedding"
NGRAM_BRANCH = "ngram_branch"
NETWORK_LOGITS = "network_logits"


def distribution_strategy() -> tf.distribute.Strategy:
    """`MirroredStrategy` over every visible GPU when there are several; else the default.

    With N GPUs each batch is split N ways: scale ``batch_size`` (and, often, the learning rate)
    by N to keep each GPU as busy as one GPU with the original batch.
    """
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])
    return tf.distribute.get_strategy()


def build_model(
    vocabulary_size: int, settings: ModelSettings, training: TrainingSettings, classes: int = 2
) -> keras.Model:
    """Embedding → (stacked, optionally bidirectional) RNN → Dropout → Dense(1, sigmoid).

    With ``classes`` > 2 the head is Dense(K, softmax), fitted with sparse categorical
    cross-entropy on the class ids; two classes keep the tutorial's sigmoid unit.

    With ``settings.ngrams`` the network is wide and deep: an `NGramBranch` over the same token
    ids adds its logit(s) to the Dense layer's before the sigmoid (softmax), and both halves are
    fitted together. Its ratios start at zero: `fit_model` fits them on the training rows.

    The tutorial reads the last recurrent layer's final state; ``pooling="max_mean"`` reads the
    max and the mean of its outputs over the real tokens instead (`TimePoolingCell`, padding
    masked), and ``embedding_dropout`` drops whole embedding channels while training.

    The recurrent layers keep Keras' defaults (tanh/sigmoid activations, no recurrent dropout,
    GRU ``reset_after``, no masking), the conditions under which Keras runs LSTM and GRU on the
    cuDNN kernels on a GPU. XLA is used on CPU only: on a GPU it would replace those kernels.

    Args:
        vocabulary_size: Number of token ids, padding and OOV included.
        settings: The network's cell, units, embedding_dim, dropout, rnn_layers,
            bidirectional, pooling and embedding_dropout.
        training: Supplies learning_rate, xla and the seed of the initial weights.
        classes: How many classes the labels hold.

    Returns:
        A compiled model that maps int id sequences to the probability of a positive review
        (two classes) or to the K class probabilities.
    """
    # The initial weights come from the seed, not from whatever drew random numbers before in
    # this process: a test that ran first once changed another's starting point (an untrained
    # network scored far above chance, in one order of the suite).
    keras.utils.set_random_seed(training.seed)
    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    # The layers are made and called in one fixed order: each draws its initial weights from the
    # seeded generator in turn, so another order would start from other weights.
    with distribution_strategy().scope():
        inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        hidden = _embed_tokens(inputs, vocabulary_size, settings)
        for index in range(settings.rnn_layers):
            hidden = _recurrent_layer(settings, index)(hidden)
        hidden = layers.Dropout(settings.dropout, name="dropout")(hidden)
        outputs = _classifier_head(inputs, hidden, vocabulary_size, settings, classes)
        model = keras.Model(inputs, outputs, name=f"{settings.cell}_classifier")
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=training.learning_rate),
            loss="sparse_categorical_crossentropy" if classes > 2 else "binary_crossentropy",
            metrics=["accuracy"],
            jit_compile=training.xla and not on_gpu,
        )
    return model


def _embed_tokens(
    inputs: keras.KerasTensor, vocabulary_size: int, settings: ModelSettings
) -> keras.KerasTensor:
    """The token ids' embeddings; with ``embedding_dropout``, whole channels dropped in training."""
    # Pooling must tell padding from words: the embedding's mask carries that to the cells.
    hidden = layers.Embedding(
        vocabulary_size,
        settings.embedding_dim,
        mask_zero=settings.pooling == "max_mean",
        name=EMBEDDING,
    )(inputs)
    if settings.embedding_dropout:
        hidden = layers.SpatialDropout1D(settings.embedding_dropout, name="embedding_dropout")(
            hidden
        )
    return hidden


def _recurrent_layer(settings: ModelSettings, index: int) -> layers.Layer:
    """The ``index``-th recurrent layer (0-based), optionally bidirectional.

    Every layer but the last returns the whole sequence so the next one reads it. The last one
    gives its final state, or with ``pooling="max_mean"`` the max and mean of its outputs.
    """
    last = index == settings.rnn_layers - 1
    if last and settings.pooling == "max_mean":
        cell = TimePoolingCell(STEP_CELLS[settings.cell](settings.units))
        recurrent = layers.RNN(cell, name=f"{settings.cell}_{index}")
    else:
        recurrent = CELLS[settings.cell](
            settings.units, return_sequences=not last, name=f"{settings.cell}_{index}"
        )
    if settings.bidirectional:
        recurrent = layers.Bidirectional(recurrent, name=f"bidirectional_{index}")
    return recurrent


def _classifier_head(
    inputs: keras.KerasTensor,
    hidden: keras.KerasTensor,
    vocabulary_size: int,
    settings: ModelSettings,
    classes: int,
) -> keras.KerasTensor:
    """Dense(1, sigmoid) for two classes, Dense(K, softmax) for more, on the recurrent half.

    With ``settings.ngrams`` the `NGramBranch` over the token ids (``inputs``) adds its logit(s)
    to the Dense layer's before the activation.
    """
    units, activation = (classes, "softmax") if classes > 2 else (1, "sigmoid")
    name = "probabilities" if classes > 2 else "probability"
    if not settings.ngrams:
        return layers.Dense(units, activation=activation, name=name)(hidden)
    logits = layers.Dense(units, name=NETWORK_LOGITS)(hidden)
    wide = NGramBranch(
        settings.ngrams, settings.ngram_buckets, vocabulary_size, units, name=NGRAM_BRANCH
    )(inputs)
    logits = layers.Add(name="logits")([logits, wide])
    return layers.Activation(activation, name=name)(logits)
