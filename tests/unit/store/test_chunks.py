"""Chunked data: regrouping batches, seeded row hashes and the external shuffle."""

import numpy as np
import pyarrow as pa
import pytest

from rnn_retrain.store.chunks import rechunk, row_hash, shuffle_into_chunks, validation_cutoff


def sorted_table(rows: int) -> pa.Table:
    """Rows sorted by label, as IMDB's files are."""
    return pa.table(
        {"row_id": np.arange(rows), "label": (np.arange(rows) >= rows // 2).astype(int)}
    )


def test_rechunk_makes_even_chunks_out_of_any_batches():
    pieces = [
        pa.table({"a": list(range(start, stop))}) for start, stop in [(0, 3), (3, 4), (4, 11)]
    ]
    chunks = list(rechunk(pieces, 4))
    assert [chunk.num_rows for chunk in chunks] == [4, 4, 3]
    assert pa.concat_tables(chunks)["a"].to_pylist() == list(range(11))
    assert list(rechunk([], 4)) == []


def test_row_hashes_are_seeded_and_never_collide():
    ids = np.arange(100_000)
    assert len(np.unique(row_hash(ids, 1))) == len(ids)
    assert not np.array_equal(row_hash(ids, 1), row_hash(ids, 2))
    np.testing.assert_array_equal(row_hash(ids[5:9], 1), row_hash(ids, 1)[5:9])


def test_validation_cutoff_holds_out_the_share_asked_for_and_never_everything():
    hashes = row_hash(np.arange(1000), 0)
    assert np.count_nonzero(hashes <= validation_cutoff(hashes, 0.2)) == 200
    two = row_hash(np.arange(2), 0)
    assert np.count_nonzero(two <= validation_cutoff(two, 0.01)) == 1
    assert np.count_nonzero(two <= validation_cutoff(two, 0.99)) == 1
    with pytest.raises(ValueError, match="from 1 train row"):
        validation_cutoff(row_hash(np.arange(1), 0), 0.2)


@pytest.mark.parametrize(("rows", "chunk_rows"), [(1000, 100), (1000, 1000), (997, 250), (40, 3)])
def test_shuffled_chunks_hold_every_row_once_each_a_random_sample(tmp_path, rows, chunk_rows):
    table = sorted_table(rows)
    inputs = rechunk([table], chunk_rows)
    chunks = list(shuffle_into_chunks(inputs, rows, chunk_rows, seed=7, scratch=str(tmp_path)))
    assert len(chunks) == -(-rows // chunk_rows)
    assert sorted(pa.concat_tables(chunks)["row_id"].to_pylist()) == list(range(rows))
    for chunk in chunks if chunk_rows >= 100 else []:  # Tiny shards may hold one label.
        assert 0.3 < np.mean(chunk["label"].to_numpy()) < 0.7  # Both labels in every chunk.
        assert chunk.num_rows < 1.5 * chunk_rows
    again = list(
        shuffle_into_chunks(rechunk([table], chunk_rows), rows, chunk_rows, 7, str(tmp_path))
    )
    assert all(a.equals(b) for a, b in zip(chunks, again))
