"""Length buckets: every token kept, few shapes, the same scores as full-width padding."""

import numpy as np

from rnn_retrain.data.preprocessing import pad_token_ids
from rnn_retrain.model.batching import (
    assign_buckets,
    bucket_batches,
    bucket_boundaries,
    cut_to_length,
    predict_in_buckets,
    sequence_lengths,
)


def padded(lengths, maxlen, padding="pre"):
    import pyarrow as pa

    ids = pa.array([list(range(2, 2 + n)) for n in lengths], pa.list_(pa.int32()))
    return pad_token_ids(ids, maxlen, padding, "pre")


def test_boundaries_follow_length_quantiles_and_end_at_maxlen():
    lengths = np.arange(1, 401)
    assert bucket_boundaries(lengths, 4, 500) == [112, 208, 304, 500]
    assert bucket_boundaries(lengths, 1, 500) == [500]
    assert bucket_boundaries(np.full(50, 3), 8, 40) == [16, 40]


def test_cutting_to_the_bucket_keeps_every_token_for_both_paddings():
    for padding in ("pre", "post"):
        x = padded([3, 17, 40, 0], 50, padding)
        boundaries = bucket_boundaries(sequence_lengths(x), 4, 50)
        buckets = assign_buckets(x, boundaries)
        for row, bucket in enumerate(buckets):
            cut = cut_to_length(x[row : row + 1], boundaries[bucket], padding)
            assert np.array_equal(np.sort(cut[cut > 0]), np.sort(x[row][x[row] > 0]))


def test_batches_cover_every_row_once_with_one_short_batch_at_most():
    rng = np.random.default_rng(0)
    buckets = rng.integers(0, 4, size=1003)
    planned = bucket_batches(buckets, 60, np.random.default_rng(1))
    rows = np.concatenate([batch for _, batch in planned])
    assert np.array_equal(np.sort(rows), np.arange(1003))
    assert sum(len(batch) < 60 for _, batch in planned) <= 1
    for bucket, batch in planned:  # A row only ever moves up to a longer bucket.
        assert (buckets[batch] <= bucket).all()
    in_order = bucket_batches(buckets, 60, None)
    assert [b for b, _ in in_order] == sorted(b for b, _ in in_order)


class LastIdNetwork:
    """Stands in for a network: scores each row by its last non-padding id and its width."""

    def __init__(self):
        self.widths = set()

    def predict(self, x, batch_size, verbose):
        self.widths.add(x.shape[1])
        return (x[:, -1] / 100.0).reshape(-1, 1)


def test_prediction_in_buckets_returns_scores_in_row_order():
    x = padded([5, 30, 2, 48, 12], 50)
    network = LastIdNetwork()
    scores = predict_in_buckets(network, x, [16, 32, 50], "pre", batch_size=8)
    assert np.allclose(scores, x[:, -1] / 100.0)
    assert network.widths == {16, 32, 50}
