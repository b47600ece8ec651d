from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from rnn_retrain.data.demo import generate_reviews
from rnn_retrain.data.preprocessing import (
    FEW_TEXTS,
    ITEMS_PER_SLICE,
    OOV_ID,
    TokenLookup,
    encode_tokens,
    few_ascii_token_lists,
    texts_to_padded_ids,
    tokenize_texts,
)
from rnn_retrain.stages.tokenize import (
    fit_vocabulary,
    fit_vocabulary_and_encode,
    fit_vocabulary_streamed,
)


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


@pytest.mark.parametrize("bulk_tokens", [TokenLookup.BULK_TOKENS, 0])
def test_the_lookup_built_once_encodes_exactly_like_encode_tokens(monkeypatch, bulk_tokens):
    """The served model's lookup (a map built at load) against training's `encode_tokens`:
    out-of-vocabulary tokens, an empty review and a sliced array included, and above
    BULK_TOKENS (0 here), where the lookup hands the work to `encode_tokens` itself."""
    monkeypatch.setattr(TokenLookup, "BULK_TOKENS", bulk_tokens)
    texts = generate_reviews(120, seed=3)["text"]
    vocabulary = fit_vocabulary(tokenize_texts(texts.slice(0, 60)), vocab_size=40)
    tokens = tokenize_texts(pa.concat_arrays([texts.combine_chunks(), pa.array(["", "zebra"])]))
    lookup = TokenLookup(vocabulary)
    for part in (tokens, tokens.slice(57)):
        expected = encode_tokens(part, vocabulary).to_pylist()
        assert lookup.encode(part).to_pylist() == expected
        assert [] in expected and OOV_ID in expected[-1]  # The cases are there to compare.


# The straightforward implementation the fast path replaced, kept as the reference it must match:
# three regex passes, a Unicode whitespace split, value_counts for the fit, index_in to encode.
def reference_tokenize(texts: pa.Array) -> list[list[str]]:
    lowered = pc.utf8_lower(texts)
    no_tags = pc.replace_substring_regex(lowered, r"<[^>]*>", " ")
    no_apostrophes = pc.replace_substring_regex(no_tags, r"['’]", "")
    standardized = pc.replace_substring_regex(no_apostrophes, r"[^\p{L}\p{N}\s]+", " ")
    split = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(standardized)).to_pylist()
    return [[token for token in tokens if token] for tokens in split]


def reference_vocabulary(tokens: list[list[str]], vocab_size: int) -> list[tuple[str, int]]:
    counts = Counter(token for row in tokens for token in row)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].encode()))
    return ranked[: vocab_size - 2]


TRICKY_TEXTS = [
    "",
    " ",
    "\t\n\u00a0\u2003\u3000 ",
    "'",
    "’’ ' ’ ''",
    "Don't stop, don’t STOP",
    "'quoted' and ’curly’ and rock'n'roll",
    "Great<br /><br />film",
    "a'<br/>'b",
    "x!!<br>y",
    "<a href='x'>link</a>text",
    "<a<b>c>d",
    "a < b > c",
    "open < never closed",
    "a>b<",
    "<<>>",
    "x<y\nz>w",
    "Café—superb… “naïve” 10/10",
    "ÉCOLE İstanbul ǅ straße ﬁne",
    "١٢٣ ٤٥ Ⅻ ²³ ½",
    "日本語のテキスト。句読点、です",
    "emoji😀between😀words",
    "tab\there\nnew\r\nline\x0bvertical\x0cfeed\x85next",
    "...!!!???---***",
    "a_b-c+d=e/f\\g|h",
    "nbsp\u00a0joined\u2009thin\u202fnarrow",
]
FRAGMENTS = TRICKY_TEXTS + ["word", "UPPER", "x", "<br />", "<", ">", "!", "'", "’", " ", "  "]


def random_texts(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(FRAGMENTS), size=(count, 6))
    glue = rng.choice(["", " ", "'", "<"], size=(count, 6))
    return [
        "".join(FRAGMENTS[pick] + sep for pick, sep in zip(row, seps))
        for row, seps in zip(picks, glue)
    ]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_tokenization_matches_the_reference_on_tricky_text(text):
    assert tokens_of(text) == reference_tokenize(pa.array([text]))


def test_a_few_texts_at_a_time_tokenize_like_many():
    """A served request's few texts go through google-re2's compiled pattern, many through
    pyarrow's kernel: the same tokens, on every tricky fragment glued every way."""
    texts = random_texts(600, seed=4) + TRICKY_TEXTS
    few = [
        token
        for i in range(0, len(texts), FEW_TEXTS)
        for token in tokenize_texts(pa.array(texts[i : i + FEW_TEXTS])).to_pylist()
    ]
    assert few == reference_tokenize(pa.array(texts)) == tokenize_texts(pa.array(texts)).to_pylist()


ASCII_FRAGMENTS = [chr(code) for code in range(128)] + [
    "<br />",
    "<a href='x'>",
    "Don't",
    "UPPER",
    "word",
    "10/10",
    "  ",
]


def test_a_few_ascii_texts_tokenize_in_python_like_the_kernels():
    """A served request's few ASCII texts never reach pyarrow: every ASCII character (the
    control characters, RE2's whitespace and not, "<" and ">", the apostrophe), glued every
    way, gives the kernels' tokens; a non-ASCII text or too many texts take the kernels."""
    rng = np.random.default_rng(5)
    texts = [
        "".join(rng.choice(ASCII_FRAGMENTS, size=int(rng.integers(0, 40)))) for _ in range(800)
    ] + [text for text in TRICKY_TEXTS if text.isascii()]
    few = [
        tokens
        for i in range(0, len(texts), FEW_TEXTS)
        for tokens in few_ascii_token_lists(texts[i : i + FEW_TEXTS])
    ]
    assert few == tokenize_texts(pa.array(texts)).to_pylist() == reference_tokenize(pa.array(texts))
    assert few_ascii_token_lists(["plain", "café"]) is None
    assert few_ascii_token_lists(["plain"] * (FEW_TEXTS + 1)) is None


def test_a_served_request_pads_to_the_same_ids_either_way():
    texts = ["Great<br />film, Don't MISS it", "", "zebra " * 30, "Café superb"]
    vocabulary = fit_vocabulary(tokenize_texts(pa.array(texts[:1])), vocab_size=20)
    lookup = TokenLookup(vocabulary)
    for part in (texts[:3], texts):  # All ASCII (the Python path), and one that is not.
        for padding, truncating in (("pre", "pre"), ("post", "post")):
            expected = texts_to_padded_ids(pa.array(part), lookup, 12, padding, truncating)
            served = texts_to_padded_ids(part, lookup, 12, padding, truncating)
            np.testing.assert_array_equal(served, expected)


def test_tokenization_in_parallel_slices_matches_the_reference(monkeypatch):
    # Enough rows, and enough (pretend) cores, that the texts are split across several threads.
    monkeypatch.setattr(pa, "cpu_count", lambda: 3)
    texts = pa.array(random_texts(3 * ITEMS_PER_SLICE + 7))
    assert tokenize_texts(texts).to_pylist() == reference_tokenize(texts)
    assert tokenize_texts(texts.slice(5, 2 * ITEMS_PER_SLICE)).to_pylist() == reference_tokenize(
        texts.slice(5, 2 * ITEMS_PER_SLICE)
    )


@pytest.mark.parametrize("vocab_size", [2, 3, 50, 10_000])
def test_fit_and_encode_in_one_pass_matches_fit_vocabulary_and_encode_tokens(
    monkeypatch, vocab_size
):
    monkeypatch.setattr(pa, "cpu_count", lambda: 2)
    texts = pa.array(random_texts(2 * ITEMS_PER_SLICE + 3, seed=1) + TRICKY_TEXTS)
    is_train = pa.array(np.random.default_rng(2).random(len(texts)) < 0.5)
    tokens = tokenize_texts(texts)
    vocabulary, token_ids = fit_vocabulary_and_encode(texts, is_train, vocab_size)
    expected = fit_vocabulary(tokens.filter(is_train), vocab_size)
    assert vocabulary.equals(expected)
    assert list(
        zip(*vocabulary.select(["token", "count"]).to_pydict().values())
    ) == reference_vocabulary(reference_tokenize(texts.filter(is_train)), vocab_size)
    assert token_ids.equals(encode_tokens(tokens, expected))


def test_fit_and_encode_treats_null_split_rows_as_not_train():
    texts = pa.array(["seen seen", "unseen"])
    vocabulary, token_ids = fit_vocabulary_and_encode(texts, pa.array([True, None]), 10)
    assert vocabulary["token"].to_pylist() == ["seen"]
    assert token_ids.to_pylist() == [[2, 2], [OOV_ID]]


@pytest.mark.parametrize("chunk_rows", [1, 13, 500])
def test_a_vocabulary_fitted_chunk_by_chunk_is_the_one_fitted_at_once(chunk_rows):
    texts = pa.array(random_texts(400, seed=3) + TRICKY_TEXTS)
    splits = pa.array(np.where(np.random.default_rng(4).random(len(texts)) < 0.7, "train", "test"))
    table = pa.table({"text": texts, "split": splits})
    at_once, _ = fit_vocabulary_and_encode(texts, pc.equal(splits, "train"), 60)
    chunks = (pa.Table.from_batches([b]) for b in table.to_batches(max_chunksize=chunk_rows))
    assert fit_vocabulary_streamed(chunks, 60).equals(at_once)
