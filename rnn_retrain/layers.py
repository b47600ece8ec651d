"""The network's own Keras layer, and the one way a saved network is loaded back.

A saved ``.keras`` file names its layers; a layer of ours loads only where its class is
registered, that is, where this module was imported. Training, evaluation and serving all load
through `load_network`, so none of them can forget the import.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="rnn_retrain")
class MaskedTimePooling(layers.Layer):
    """Max and mean of a sequence's outputs over its real tokens: ``[max, mean]``, 2 × features.

    Padding (token id 0) takes no part, so a review reads the same whatever length bucket it is
    padded to. The mask comes from the token ids rather than from ``Embedding(mask_zero=True)``:
    a masked recurrent layer would leave the fast fused kernels (cuDNN on a GPU), and here only the
    pooling needs to know where the padding is.
    """

    def call(self, sequence, token_ids):
        real = ops.cast(ops.not_equal(token_ids, 0), sequence.dtype)[:, :, None]
        count = ops.maximum(ops.sum(real, axis=1), 1.0)  # An all-padding row gives zeros.
        mean = ops.sum(sequence * real, axis=1) / count
        lowest = ops.min(sequence, axis=1, keepdims=True)  # Padding never wins the max.
        maximum = ops.max(sequence * real + lowest * (1.0 - real), axis=1)
        return ops.concatenate([maximum, mean], axis=-1)

    def compute_output_shape(self, sequence_shape, token_ids_shape):
        return (sequence_shape[0], 2 * sequence_shape[-1])


def load_network(path: str | Path) -> keras.Model:
    """A saved network, in safe mode: a file that carries code (a ``Lambda``) is refused."""
    return keras.saving.load_model(path, safe_mode=True)
