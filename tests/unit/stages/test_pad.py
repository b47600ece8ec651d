import keras
import numpy as np
import pyarrow as pa
import pytest

from rnn_retrain.data.preprocessing import (
    ITEMS_PER_SLICE,
    pad_token_ids,
    to_fixed_size_list,
    to_matrix,
)


@pytest.fixture
def sequences() -> list[list[int]]:
    rng = np.random.default_rng(0)
    return [list(rng.integers(1, 50, size=length)) for length in (0, 1, 3, 5, 7, 12, 5, 2)]


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [1, 5, 20])
def test_padding_matches_keras_pad_sequences(sequences, padding, truncating, maxlen):
    ours = pad_token_ids(pa.array(sequences, pa.list_(pa.int32())), maxlen, padding, truncating)
    theirs = keras.utils.pad_sequences(
        sequences, maxlen=maxlen, padding=padding, truncating=truncating
    )
    assert ours.dtype == np.int32 and ours.shape == (len(sequences), maxlen)
    np.testing.assert_array_equal(ours, theirs)


def test_pre_truncation_keeps_the_end_and_post_padding_pads_after():
    ids = pa.array([[1, 2, 3, 4], [5]], pa.list_(pa.int32()))
    np.testing.assert_array_equal(pad_token_ids(ids, 3, "post", "pre"), [[2, 3, 4], [5, 0, 0]])
    np.testing.assert_array_equal(pad_token_ids(ids, 3, "pre", "post"), [[1, 2, 3], [0, 0, 5]])


def test_sliced_input_is_padded_from_its_own_rows():
    ids = pa.array([[9, 9], [1, 2], [3]], pa.list_(pa.int32())).slice(1)
    np.testing.assert_array_equal(pad_token_ids(ids, 2), [[1, 2], [0, 3]])


def test_fixed_size_list_round_trip():
    matrix = np.arange(12, dtype=np.int32).reshape(4, 3)
    column = to_fixed_size_list(matrix)
    assert column.type.list_size == 3
    np.testing.assert_array_equal(to_matrix(pa.chunked_array([column])), matrix)


def test_maxlen_below_one_is_refused():
    with pytest.raises(ValueError, match="maxlen"):
        pad_token_ids(pa.array([[1]], pa.list_(pa.int32())), 0)


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("rows", [300, 2 * ITEMS_PER_SLICE + 20])  # one row block, then three
def test_many_rows_of_a_slice_match_keras_pad_sequences(padding, truncating, rows):
    rng = np.random.default_rng(1)
    sequences = [list(rng.integers(1, 5000, size=length)) for length in rng.integers(0, 40, rows)]
    ids = pa.array(sequences, pa.list_(pa.int32())).slice(7, rows - 10)
    theirs = keras.utils.pad_sequences(
        sequences[7 : rows - 3], maxlen=17, padding=padding, truncating=truncating
    )
    np.testing.assert_array_equal(pad_token_ids(ids, 17, padding, truncating), theirs)


def test_rows_that_all_fit_are_padded_without_truncation():
    ids = pa.array([[1, 2], [], [3]], pa.list_(pa.int32()))
    np.testing.assert_array_equal(pad_token_ids(ids, 2, "post"), [[1, 2], [0, 0], [3, 0]])
