"""Length buckets: batches of reviews of similar length, padded to their bucket, not to maxlen.

Most IMDB reviews are far shorter than 500 tokens (median 173), so padding every one to maxlen
makes a recurrent network step through hundreds of padding ids. Grouping rows into a few length
buckets and cutting each batch to its bucket's length keeps every token while skipping most of
the padding. A few fixed bucket lengths (not one length per batch) keep the number of distinct
input shapes, hence of compiled graphs, small.

The model is trained on bucket-length inputs, so it must be scored the same way: evaluate and
serving call `predict_in_buckets` with the boundaries stored next to the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rnn_retrain.data.preprocessing import PAD_ID
from rnn_retrain.store.chunks import row_hash, validation_cutoff

# Bucket lengths are rounded up to a multiple of this, which keeps shapes few and aligned.
BUCKET_QUANTUM = 16


def sequence_lengths(x: np.ndarray) -> np.ndarray:
    """Ids per row that are not padding (padding id 0 never occurs inside a sequence)."""
    return np.count_nonzero(x != PAD_ID, axis=1)


def bucket_boundaries(lengths: np.ndarray, buckets: int, maxlen: int) -> list[int]:
    """Bucket lengths at the length quantiles of ``lengths``; the last is always ``maxlen``.

    Args:
        lengths: Non-padding ids per row (train rows).
        buckets: How many buckets at most (1: every row is padded to ``maxlen``).
        maxlen: The padded length of the stored rows.

    Returns:
        Increasing bucket lengths, each a multiple of `BUCKET_QUANTUM` or ``maxlen``.
    """
    quantiles = np.quantile(lengths, np.arange(1, buckets) / buckets) if len(lengths) else []
    rounded = {
        min(maxlen, max(BUCKET_QUANTUM, int(-(-q // BUCKET_QUANTUM) * BUCKET_QUANTUM)))
        for q in quantiles
    }
    return sorted(rounded | {maxlen})


def buckets_of(lengths: np.ndarray, boundaries: list[int]) -> np.ndarray:
    """The index of the shortest bucket that holds each of ``lengths``."""
    return np.searchsorted(np.asarray(boundaries), lengths, side="left")


def assign_buckets(x: np.ndarray, boundaries: list[int]) -> np.ndarray:
    """The index of the shortest bucket that holds each row's ids."""
    return buckets_of(sequence_lengths(x), boundaries)


def cut_to_length(x: np.ndarray, length: int, padding: Literal["pre", "post"]) -> np.ndarray:
    """Drop padding columns so rows are ``length`` long (pre-padding sits on the left)."""
    return x[:, x.shape[1] - length :] if padding == "pre" else x[:, :length]


def bucket_batches(
    buckets: np.ndarray, batch_size: int, rng: np.random.Generator | None
) -> list[tuple[int, np.ndarray]]:
    """Plan the batches: (bucket, row indices) pairs, each batch cut to its bucket's length.

    Rows that do not fill a last batch in their bucket move up to the next, longer bucket (they
    fit: it is longer), so only the longest bucket can end in a short batch. That keeps the
    input shapes to one per bucket plus one, which matters under XLA: it compiles once per shape.
    With ``rng``, rows are shuffled within each bucket and the batches shuffled among
    themselves (training); without, both keep their order (validation).
    """
    batches: list[tuple[int, np.ndarray]] = []
    carried = np.empty(0, dtype=np.int64)
    present = np.unique(buckets)
    for position, bucket in enumerate(present):
        rows = np.concatenate([carried, np.flatnonzero(buckets == bucket)])
        if rng is not None:
            rows = rng.permutation(rows)
        last = position == len(present) - 1
        full = len(rows) if last else len(rows) - len(rows) % batch_size
        batches += [
            (int(bucket), rows[start : min(start + batch_size, full)])
            for start in range(0, full, batch_size)
        ]
        carried = rows[full:]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


# The role of each stored row in a fit.
UNUSED, FIT, VALIDATION = 0, 1, 2


@dataclass(frozen=True)
class RowGroups:
    """Padded rows in groups read one at a time, e.g. the row groups of a Parquet file.

    Every row's length and role (`FIT`, `VALIDATION` or `UNUSED`) are held, 5 bytes a row; the
    padded ids only a group at a time, through ``read`` (group index to its ``x``, ``y``).
    """

    lengths: list[np.ndarray]
    roles: list[np.ndarray]
    read: Callable[[int], tuple[np.ndarray, np.ndarray]]

    def count(self, role: int) -> int:
        """Rows with ``role``."""
        return int(sum(np.count_nonzero(roles == role) for roles in self.roles))

    def role_lengths(self, role: int) -> np.ndarray:
        """The lengths of every row with ``role``."""
        return np.concatenate(
            [lengths[roles == role] for lengths, roles in zip(self.lengths, self.roles)]
        )

    def plan(
        self,
        group: int,
        role: int,
        boundaries: list[int],
        batch_size: int,
        rng: np.random.Generator | None,
    ) -> list[tuple[int, np.ndarray]]:
        """`bucket_batches` of one group's rows with ``role``; row indices are into the group."""
        selected = np.flatnonzero(self.roles[group] == role)
        buckets = buckets_of(self.lengths[group][selected], boundaries)
        return [
            (bucket, selected[rows]) for bucket, rows in bucket_batches(buckets, batch_size, rng)
        ]

    def batches_per_epoch(self, role: int, boundaries: list[int], batch_size: int) -> int:
        """How many batches one pass over the rows with ``role`` makes."""
        return sum(
            len(self.plan(group, role, boundaries, batch_size, None))
            for group in range(len(self.roles))
        )


def assign_roles(
    row_ids: np.ndarray, is_train: np.ndarray, cutoff: np.uint64, seed: int
) -> np.ndarray:
    """`FIT` or `VALIDATION` for train rows (by `row_hash` against ``cutoff``), else `UNUSED`.

    ``cutoff`` comes from `rnn_retrain.store.chunks.validation_cutoff` over every train row's hash.
    """
    held_out = row_hash(row_ids, seed) <= cutoff
    return np.where(is_train, np.where(held_out, VALIDATION, FIT), UNUSED).astype(np.int8)


def rows_in_memory(
    x: np.ndarray, y: np.ndarray, validation_fraction: float, seed: int
) -> RowGroups:
    """Train rows already in memory as one group, a seeded ``validation_fraction`` held out."""
    row_ids = np.arange(len(x))
    cutoff = validation_cutoff(row_hash(row_ids, seed), validation_fraction)
    roles = assign_roles(row_ids, np.ones(len(x), dtype=bool), cutoff, seed)
    return RowGroups([sequence_lengths(x)], [roles], lambda group: (x, y))


def iterate_buckets(
    x: np.ndarray, boundaries: list[int], padding: Literal["pre", "post"]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each bucket's row indices and its rows cut to the bucket length."""
    buckets = assign_buckets(x, boundaries)
    for bucket in np.unique(buckets):
        rows = np.flatnonzero(buckets == bucket)
        yield rows, cut_to_length(x[rows], boundaries[bucket], padding)


def predict_in_buckets(
    network: Any,
    x: np.ndarray,
    boundaries: list[int],
    padding: Literal["pre", "post"],
    batch_size: int,
) -> np.ndarray:
    """The network's output for every row, each bucket predicted at its own length, in row order.

    A vector for a one-unit (sigmoid) head; a rows × K matrix for a K-way softmax.
    """
    probabilities: np.ndarray | None = None
    for rows, cut in iterate_buckets(x, boundaries, padding):
        predicted = np.asarray(network.predict(cut, batch_size=batch_size, verbose=0))
        units = predicted.shape[-1] if predicted.ndim == 2 else 1
        if units == 1:
            predicted = predicted.reshape(-1)
        if probabilities is None:
            shape = (len(x),) if units == 1 else (len(x), units)
            probabilities = np.empty(shape, dtype=np.float64)
        probabilities[rows] = predicted
    return probabilities if probabilities is not None else np.empty(0, dtype=np.float64)
