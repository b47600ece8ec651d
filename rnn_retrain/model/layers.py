"""The network's own Keras layer, and the one way a saved network is loaded back.

A saved ``.keras`` file names its layers; a layer of ours loads only where its class is
registered, that is, where this module was imported. Training, evaluation and serving all load
through `load_network`, so none of them can forget the import.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers, ops

# Below any output of a tanh-bounded cell: the running max starts here.
LOWEST = -1e4


@keras.saving.register_keras_serializable(package="rnn_retrain")
class TimePoolingCell(layers.Layer):
    """A recurrent cell that also carries the max and the mean of its outputs so far.

    Wrapped in ``keras.layers.RNN`` and fed a mask (``Embedding(mask_zero=True)``), the layer's
    last output is ``[max, mean]`` of the wrapped cell's outputs over the review's real tokens:
    masked (padding) steps leave every state as it was, so a review reads the same whatever it is
    padded to.

    Why a cell rather than ``return_sequences=True`` and a pooling layer: under XLA on CPU,
    returning the whole sequence made the LSTM's training step 3-4 times slower (47 → 145-204
    ms per batch of 60 × 250 tokens, measured here); carrying the running max and sum in the
    state costs about nothing over the last state alone.
    """

    def __init__(self, cell: layers.Layer, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cell = cell
        inner = cell.state_size
        self._inner = list(inner) if isinstance(inner, (list, tuple)) else [inner]
        units = cell.output_size
        self.state_size = [*self._inner, units, units, 1]
        self.output_size = 2 * units

    def build(self, input_shape) -> None:
        if not self.cell.built:  # A cell loaded from a file comes built.
            self.cell.build(input_shape)
        self.built = True

    def get_initial_state(self, batch_size=None):
        inner = self.cell.get_initial_state(batch_size)
        inner = list(inner) if isinstance(inner, (list, tuple)) else [inner]
        units = self.cell.output_size
        running = [ops.full((batch_size, units), LOWEST), ops.zeros((batch_size, units))]
        return [*inner, *running, ops.zeros((batch_size, 1))]

    def call(self, inputs, states, training=False):
        count = len(self._inner)
        inner, (maximum, total, steps) = list(states[:count]), states[count:]
        output, inner = self.cell(inputs, inner if count > 1 else inner[0], training=training)
        inner = list(inner) if isinstance(inner, (list, tuple)) else [inner]
        maximum, total, steps = ops.maximum(maximum, output), total + output, steps + 1.0
        # A review without a single real token pools to zeros, not to the starting LOWEST.
        seen = ops.cast(steps > 0, output.dtype)
        pooled = ops.concatenate([maximum * seen, total / ops.maximum(steps, 1.0)], axis=-1)
        return pooled, [*inner, maximum, total, steps]

    def get_config(self) -> dict:
        return {**super().get_config(), "cell": keras.saving.serialize_keras_object(self.cell)}

    @classmethod
    def from_config(cls, config: dict) -> TimePoolingCell:
        config = dict(config)
        cell = keras.saving.deserialize_keras_object(config.pop("cell"))
        return cls(cell, **config)


def load_network(path: str | Path) -> keras.Model:
    """A saved network, in safe mode: a file that carries code (a ``Lambda``) is refused."""
    return keras.saving.load_model(path, safe_mode=True)
