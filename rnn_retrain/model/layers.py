"""The network's own Keras layers, and the one way a saved network is loaded back.

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
# The n-gram hash folds a window's token ids, one by one, as h = (h × MULTIPLIER + id) mod
# MODULUS: both prime, and MODULUS × MULTIPLIER + any id stays far below 2**63 (int64).
HASH_MULTIPLIER = 1_000_003
HASH_MODULUS = 2_147_483_647


@keras.saving.register_keras_serializable(package="rnn_retrain")
class TimePoolingCell(layers.Layer):
    """A recurrent cell that also carries the max and the mean of its outputs so far.

    Wrapped in ``keras.layers.RNN`` and fed a mask (``Embedding(mask_zero=True)``), the layer's
    last output is ``[max, mean]`` of the wrapped cell's outputs over the review's real tokens:
    masked (padding) steps leave every state as it was, so a review reads the same whatever it is
    padded to.

    Why a cell rather than ``return_sequences=True`` and a pooling layer: under XLA on CPU,
    returning the whole sequence made the LSTM's training step much slower (a one-off
    probe; no benchmark re-measures it); carrying the running max and sum in the state costs
    about nothing over the last state alone.
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


@keras.saving.register_keras_serializable(package="rnn_retrain")
class NGramBranch(layers.Layer):
    """The wide half of a wide-and-deep network: naive-Bayes-weighted n-grams of the token ids.

    Each review's 1- to ``order``-grams become ids inside the graph: a unigram keeps its token
    id, a longer n-gram is hashed into the ids above the vocabulary (``buckets`` ids in all).
    Padding and n-grams that touch it have none, and each id counts once per review (binary
    features: the ids are sorted and repeats dropped). The branch's logit for each of its
    ``outputs`` is the sum, over the review's ids, of a fixed ratio (the naive Bayes log-count
    ratio, `set_ratios`) times a learned weight: NBSVM's features (Wang & Manning 2012), with
    the weights learnt together with the recurrent network and, starting at zero, learnt
    rather than assumed (on IMDB, starting at 0.02 or 0.1 ended lower after 3 epochs:
    benchmarks/RESULTS.md, "Each half of the hybrid alone, together and stacked").

    The n-grams are computed from the token ids by this one layer, so training, evaluation and
    every served request derive them by the same code from the same ids.
    """

    def __init__(
        self, order: int, buckets: int, vocabulary_size: int, outputs: int = 1, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if buckets <= vocabulary_size:
            raise ValueError(
                f"ngram_buckets ({buckets}) must exceed the vocabulary ({vocabulary_size} ids)"
            )
        self.order = order
        self.buckets = buckets
        self.vocabulary_size = vocabulary_size
        self.outputs = outputs

    def build(self, input_shape) -> None:
        shape = (self.buckets, self.outputs)
        self.ratios = self.add_weight(
            shape=shape, initializer="zeros", trainable=False, name="ratios"
        )
        self.learned = self.add_weight(shape=shape, initializer="zeros", name="learned")
        self.built = True

    def ngram_ids(self, token_ids):
        """Each review's distinct n-gram ids, sorted, 0 where there is none (rows × n-grams)."""
        ids = ops.cast(token_ids, "int64")
        length = ops.shape(ids)[1]
        hashed_ids = self.buckets - self.vocabulary_size
        grams = [ids]
        for n in range(2, self.order + 1):
            folded = ops.zeros_like(ids[:, n - 1 :])
            real = None
            for offset in range(n):
                window = ids[:, offset : length - n + 1 + offset]
                folded = (folded * HASH_MULTIPLIER + window) % HASH_MODULUS
                present = window > 0
                real = present if real is None else ops.logical_and(real, present)
            grams.append(ops.where(real, self.vocabulary_size + folded % hashed_ids, 0))
        ordered = ops.sort(ops.concatenate(grams, axis=1), axis=1)
        repeated = ops.concatenate(
            [ops.zeros_like(ordered[:, :1]) > 0, ordered[:, 1:] == ordered[:, :-1]], axis=1
        )
        return ops.cast(ops.where(repeated, 0, ordered), "int32")

    def call(self, token_ids):
        ids = self.ngram_ids(token_ids)
        weighted = ops.take(self.ratios, ids, axis=0) * ops.take(self.learned, ids, axis=0)
        return ops.sum(weighted, axis=1)

    def set_ratios(self, ratios) -> None:
        """Hold these ratios (buckets × outputs, `rnn_retrain.model.nb_ratios.class_ratios`)."""
        self.ratios.assign(ratios)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.outputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "order": self.order,
            "buckets": self.buckets,
            "vocabulary_size": self.vocabulary_size,
            "outputs": self.outputs,
        }


def load_network(path: str | Path) -> keras.Model:
    """A saved network, in safe mode: a file that carries code (a ``Lambda``) is refused."""
    return keras.saving.load_model(path, safe_mode=True)
