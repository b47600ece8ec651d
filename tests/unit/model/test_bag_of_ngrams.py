"""The baseline's n-gram counts give scikit-learn's `CountVectorizer` terms and counts, faster."""

import numpy as np
import pyarrow as pa
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from rnn_retrain.data.demo import generate_reviews
from rnn_retrain.data.preprocessing import standardize_text
from rnn_retrain.errors import RetrainError
from rnn_retrain.model import bag_of_ngrams
from rnn_retrain.model.bag_of_ngrams import NGramVectorizer


@pytest.fixture(scope="module")
def texts() -> pa.Array:
    reviews = generate_reviews(300, seed=1)["text"].combine_chunks()
    odd = pa.array(["", "a", "Don't <br />go go go, I said", None, "  x  y  "], pa.string())
    return pa.concat_arrays([reviews, odd])


def scikit_learn(texts, ngram_range, binary, min_df, max_features=None):
    vectorizer = CountVectorizer(
        tokenizer=str.split,
        token_pattern=None,
        lowercase=False,
        ngram_range=ngram_range,
        binary=binary,
        min_df=min_df,
        max_features=max_features,
    )
    standardized = [text or "" for text in standardize_text(texts).to_pylist()]
    return vectorizer, vectorizer.fit_transform(standardized)


@pytest.mark.parametrize(
    ("ngram_range", "binary", "min_df"), [((1, 3), True, 2), ((1, 2), False, 1), ((2, 2), True, 3)]
)
def test_terms_and_counts_are_scikit_learns(texts, ngram_range, binary, min_df):
    ours, counts = NGramVectorizer.fit(texts, ngram_range, binary, min_df)
    theirs, expected = scikit_learn(texts, ngram_range, binary, min_df)
    assert sorted(ours.terms) == sorted(theirs.vocabulary_)
    columns = [theirs.vocabulary_[term] for term in ours.terms]
    assert abs(expected[:, columns] - counts).max() == 0
    # Transforming the train texts again, or through the stored terms, gives the same matrix.
    assert abs(ours.transform(texts) - counts).max() == 0
    stored = NGramVectorizer(ours.terms, ngram_range, binary)
    unseen = pa.array(["go go zzz go", "dont go"])
    assert (
        abs(
            stored.transform(unseen) - theirs.transform(["go go zzz go", "dont go"])[:, columns]
        ).max()
        == 0
    )


def test_max_features_keeps_the_most_frequent_terms(texts):
    ours, counts = NGramVectorizer.fit(texts, (1, 2), False, 1, max_features=50)
    _, everything = NGramVectorizer.fit(texts, (1, 2), False, 1)
    theirs, _ = scikit_learn(texts, (1, 2), False, 1)
    totals = np.asarray(everything.sum(axis=0)).ravel()
    kept = np.asarray(counts.sum(axis=0)).ravel()
    assert counts.shape[1] == 50 and kept.min() >= np.sort(totals)[-50]
    assert set(ours.terms) <= set(theirs.vocabulary_)


def test_rare_tokens_are_dropped_first_where_keys_would_overflow(texts, monkeypatch):
    _, expected = NGramVectorizer.fit(texts, (1, 3), True, 2)
    full, _ = NGramVectorizer.fit(texts, (1, 3), True, 2)
    monkeypatch.setattr(bag_of_ngrams, "KEY_LIMIT", (len(full.tokens) + 2) ** 3)
    pruned, counts = NGramVectorizer.fit(texts, (1, 3), True, 2)
    assert sorted(pruned.terms) == sorted(full.terms)
    assert abs(pruned.transform(texts) - counts).max() == 0 and counts.nnz == expected.nnz
    monkeypatch.setattr(bag_of_ngrams, "KEY_LIMIT", 1000)
    with pytest.raises(RetrainError, match="distinct tokens: too many for 3-gram keys"):
        NGramVectorizer.fit(texts, (1, 3), True, 2)


def test_no_term_reaching_min_df_gives_no_columns_and_stored_terms_are_checked():
    vectorizer, counts = NGramVectorizer.fit(pa.array(["good film", "bad plot"]), (1, 2), True, 5)
    assert counts.shape == (2, 0) and vectorizer.transform(pa.array(["good"])).shape == (1, 0)
    with pytest.raises(RetrainError, match="outside the range 1-2"):
        NGramVectorizer(["a b c"], (1, 2), True)
