"""The hybrid network's n-gram branch: its ids, its naive Bayes ratios and what it learns."""

import numpy as np
import pytest

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.config.sections import ModelSettings, TrainingSettings
from rnn_retrain.model.nb_ratios import class_ratios, log_count_ratios

VOCABULARY = 20
BUCKETS = 1000


def expected_ids(row: list[int], order: int) -> set[int]:
    """The n-gram ids of one unpadded review, derived here from the hash's definition."""
    ids = set(row)
    for n in range(2, order + 1):
        for start in range(len(row) - n + 1):
            folded = 0
            for token in row[start : start + n]:
                folded = (folded * 1_000_003 + token) % 2_147_483_647
            ids.add(VOCABULARY + folded % (BUCKETS - VOCABULARY))
    return ids


def test_each_review_gets_its_distinct_ngrams_once_whatever_its_padding():
    from rnn_retrain.model.layers import NGramBranch

    branch = NGramBranch(3, BUCKETS, VOCABULARY)
    review = [5, 6, 5, 6, 7]
    rows = np.array([[0, 0, 0, *review], [*review, 0, 0, 0], [0, *review, 0, 0]], np.int32)
    ids = np.asarray(branch.ngram_ids(rows))
    wanted = expected_ids(review, 3)
    # 5 6 appears twice and counts once; no n-gram reaches into the padding.
    assert len(wanted) == 3 + 3 + 3
    for row in ids:
        assert sorted(row[row > 0]) == sorted(wanted)
        assert np.count_nonzero(row) == len(wanted)
    # Unigrams keep their token ids; longer n-grams land above the vocabulary.
    assert {5, 6, 7} <= wanted and all(VOCABULARY <= i < BUCKETS for i in wanted - {5, 6, 7})


def test_ratios_point_each_ngram_at_the_class_that_holds_it():
    # ids × classes: id 1 only in class-1 reviews, id 2 only in class 0, id 3 in both, id 4
    # in a single review (below min_reviews), id 0 (no n-gram) wherever it is counted.
    counts = np.array([[9, 9], [0, 6], [6, 0], [3, 3], [0, 1]])
    ratios = class_ratios(counts, min_reviews=2)
    assert ratios.shape == (5, 1) and ratios.dtype == np.float32
    assert ratios[1, 0] > 0 > ratios[2, 0]
    assert abs(ratios[3, 0]) < 0.1 * ratios[1, 0]
    assert ratios[0, 0] == 0.0 and ratios[4, 0] == 0.0
    # The baseline's ratios are the same formula.
    assert ratios[1, 0] == pytest.approx(
        log_count_ratios(counts[:, 1].astype(float), counts[:, 0].astype(float))[1], rel=1e-6
    )
    # K classes: one column per class, each class against the rest.
    counts = np.array([[0, 0, 0], [5, 0, 0], [0, 5, 0], [0, 0, 5]])
    ratios = class_ratios(counts, min_reviews=2)
    assert ratios.shape == (4, 3)
    assert all(ratios[k + 1, k] > 0 and (np.delete(ratios[k + 1], k) < 0).all() for k in range(3))


def test_the_ratios_are_counted_on_the_fitted_rows_only_and_the_branch_learns_with_them():
    """The validation rows' n-grams stay out of the ratios; the wide-and-deep network learns a
    phrase whose words alone say nothing, which its bigrams do."""
    from rnn_retrain.model.batching import VALIDATION, rows_in_memory
    from rnn_retrain.model.fitting import FitHooks, fit_model
    from rnn_retrain.model.memory import count_weights
    from rnn_retrain.model.network import NGRAM_BRANCH, build_model

    settings = ModelSettings(
        pooling="max_mean", units=4, embedding_dim=4, ngrams=2, ngram_buckets=BUCKETS
    )
    training = TrainingSettings(
        epochs=10, learning_rate=0.05, early_stopping_patience=0, xla=False, seed=3
    )
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=600)
    # Tokens 2 and 3 in both classes; "2 3" in order is positive, "3 2" negative.
    x = np.where(y[:, None] == 1, [2, 3], [3, 2])
    x = np.concatenate([rng.integers(4, 10, size=(600, 4)), x], axis=1).astype(np.int32)
    rows = rows_in_memory(x, y.astype(np.float32), 0.2, training.seed)
    only_in_validation = 19
    x[np.flatnonzero(rows.roles[0] == VALIDATION)[:5], 0] = only_in_validation

    model = build_model(VOCABULARY, settings, training)
    assert count_weights(VOCABULARY, settings) == model.count_params()
    fit_model(model, rows, training, "pre", [6], FitHooks(report=lambda line: None))
    ratios = model.get_layer(NGRAM_BRANCH).ratios.numpy()[:, 0]
    assert ratios[only_in_validation] == 0.0
    assert ratios[2] == pytest.approx(0.0, abs=0.05)
    bigram = sorted(expected_ids([2, 3], 2) - {2, 3})[0]
    assert ratios[bigram] > 1.0
    assert ((model.predict(x, verbose=0)[:, 0] >= 0.5) == y).mean() >= 0.95


def test_the_hybrid_recipe_adds_trigrams_to_the_strong_one_and_checks_its_buckets():
    hybrid = RetrainConfig.from_flat(recipe="hybrid")
    strong = RetrainConfig.from_flat(recipe="strong")
    assert hybrid.model.ngrams == 3 and strong.model.ngrams == 0
    assert not hybrid.model.bidirectional and strong.model.bidirectional
    assert (
        hybrid.model.model_copy(update={"ngrams": 0, "recipe": "strong", "bidirectional": True})
        == strong.model
    )
    assert hybrid.training.model_copy(update={"epochs": 3}) == strong.training
    with pytest.raises(ValueError, match=r"ngram_buckets \(5000\) must exceed vocab_size"):
        RetrainConfig.from_flat(recipe="hybrid", ngram_buckets=5000)
