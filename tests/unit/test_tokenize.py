import pyarrow as pa
import pyarrow.compute as pc

from rnn_retrain.preprocessing import OOV_ID, encode_tokens, tokenize_texts
from tasks.tokenize import fit_vocabulary


def tokens_of(*texts: str) -> list[list[str]]:
    return tokenize_texts(pa.array(texts)).to_pylist()


def test_standardisation_lowercases_strips_html_and_punctuation():
    assert tokens_of("Great<br /><br />Don't MISS it!!! (really)") == [
        ["great", "dont", "miss", "it", "really"]
    ]


def test_standardisation_keeps_non_ascii_letters_and_splits_on_unicode_punctuation():
    assert tokens_of("Café—superb… “naïve” 10/10") == [["café", "superb", "naïve", "10", "10"]]


def test_vocabulary_ranks_by_count_then_alphabetically_from_id_two():
    tokens = tokenize_texts(pa.array(["b a c", "a b", "a d"]))
    vocabulary = fit_vocabulary(tokens, vocab_size=5)
    assert vocabulary.to_pydict() == {"token": ["a", "b", "c"], "id": [2, 3, 4], "count": [3, 2, 1]}


def test_vocabulary_fitted_on_train_rows_only_maps_test_only_tokens_to_oov():
    texts = pa.array(["good film", "bad film", "zebra film"])
    splits = pa.array(["train", "train", "test"])
    tokens = tokenize_texts(texts)
    vocabulary = fit_vocabulary(tokens.filter(pc.equal(splits, "train")), vocab_size=100)
    assert "zebra" not in vocabulary["token"].to_pylist()
    encoded = encode_tokens(tokens, vocabulary).to_pylist()
    film = vocabulary["id"][vocabulary["token"].to_pylist().index("film")].as_py()
    assert encoded[2] == [OOV_ID, film]


def test_encoding_keeps_row_lengths_and_uses_oov_beyond_the_vocabulary_size():
    tokens = tokenize_texts(pa.array(["a a a b b c", "", "c d"]))
    vocabulary = fit_vocabulary(tokens, vocab_size=4)  # padding, OOV, "a", "b"
    assert vocabulary["token"].to_pylist() == ["a", "b"]
    assert encode_tokens(tokens, vocabulary).to_pylist() == [[2, 2, 2, 3, 3, 1], [], [1, 1]]


def test_encoding_a_sliced_list_array_uses_the_right_tokens():
    tokens = tokenize_texts(pa.array(["x y", "y z", "z x"])).slice(1)
    vocabulary = fit_vocabulary(tokens, vocab_size=10)
    ids = dict(zip(vocabulary["token"].to_pylist(), vocabulary["id"].to_pylist()))
    assert encode_tokens(tokens, vocabulary).to_pylist() == [
        [ids["y"], ids["z"]],
        [ids["z"], ids["x"]],
    ]
