"""The bag-of-words baseline's logic: fit, score, store as plain data, rebuild, compare, gate."""

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from rnn_retrain.config.retrain import RegistrySettings, RetrainConfig
from rnn_retrain.data.demo import generate_reviews
from rnn_retrain.errors import RetrainError
from rnn_retrain.results import BaselineResult, GateDecision
from rnn_retrain.stages.baseline import (
    KINDS,
    NB,
    NGRAM_RANGES,
    TFIDF,
    compare_with_network,
    fit_baseline,
    model_document,
    rebuild_baseline,
    terms_table,
)
from rnn_retrain.stages.evaluate import predictions_table
from rnn_retrain.stages.register import apply_baseline_rule, baseline_metrics, baseline_tags
from rnn_retrain.store.artifacts import ArtifactRef


def word_reviews(rows: int, seed: int) -> pa.Table:
    """Reviews whose words alone give the label: what a bag of words learns at once."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    words = (["dull", "awful", "boring", "weak"], ["superb", "moving", "great", "fresh"])
    texts = [
        f"Review {index}: the plot was {rng.choice(words[label])}, the cast {rng.choice(words[label])}."
        for index, label in enumerate(labels)
    ]
    return pa.table({"text": texts, "label": pa.array(labels, pa.int8())})


@pytest.fixture(scope="module")
def reviews() -> pa.Table:
    return word_reviews(240, seed=11)


@pytest.fixture(scope="module", params=KINDS)
def fitted(reviews, request):
    train = reviews.slice(0, 160)
    return fit_baseline(train["text"], train["label"].to_numpy(), 200_000, 2, request.param)


def test_the_baseline_learns_what_words_alone_tell(reviews, fitted):
    test = reviews.slice(160)
    probabilities = fitted.positive_probabilities(test["text"])
    accuracy = np.mean((probabilities >= 0.5) == test["label"].to_numpy().astype(bool))
    assert probabilities.shape == (test.num_rows,) and accuracy >= 0.95


def test_the_rebuilt_baseline_scores_exactly_as_the_fitted_one(reviews, fitted):
    # Through the bytes the store keeps: Parquet for the terms, JSON for the rest.
    sink = io.BytesIO()
    pq.write_table(terms_table(fitted), sink)
    terms = pq.read_table(io.BytesIO(sink.getvalue()))
    document = json.loads(json.dumps(model_document(fitted)))
    rebuilt = rebuild_baseline(terms, document)
    texts = pa.array([*reviews["text"].to_pylist()[160:], "Don't watch it!", "zzz unseen"])
    texts = pa.concat_arrays([texts, generate_reviews(50, seed=3)["text"].combine_chunks()])
    assert np.max(np.abs(rebuilt.probabilities(texts) - fitted.probabilities(texts))) <= 1e-9


def test_the_baseline_sees_the_networks_tokens(fitted):
    # The RNN's standardisation: lower-cased, apostrophes dropped, one-letter tokens kept.
    one = fit_baseline(pa.array(["Don't <br />go, I said", "a b", "x"]), np.array([1, 0, 1]), 99, 1)
    assert {"dont", "go", "i", "said", "dont go", "a b", "x"} <= set(one.vectorizer.terms)
    assert fitted.vectorizer.ngram_range == NGRAM_RANGES[fitted.kind]
    assert fitted.kind == NB or fitted.tfidf.sublinear_tf


def test_nb_ratios_point_each_word_at_its_label(reviews):
    train = reviews.slice(0, 160)
    nb = fit_baseline(train["text"], train["label"].to_numpy(), 200_000, 2, NB)
    ratio = dict(zip(terms_table(nb)["term"].to_pylist(), terms_table(nb)["ratio"].to_pylist()))
    assert min(ratio[word] for word in ("superb", "moving", "great", "fresh")) > 1
    assert max(ratio[word] for word in ("dull", "awful", "boring", "weak")) < -1
    assert abs(ratio["the plot was"]) < 0.5  # In every review: it tells nothing.


def test_k_classes_fit_the_tfidf_baseline_and_an_unknown_kind_is_refused():
    texts = pa.array(
        ["red apple", "green pear", "blue sky", "red cherry", "green leaf", "blue sea"]
    )
    labels = np.array([0, 1, 2, 0, 1, 2])
    three = fit_baseline(texts, labels, 100, 1, NB)
    assert three.kind == TFIDF and three.probabilities(texts).shape == (6, 3)
    assert model_document(three)["kind"] == TFIDF
    with pytest.raises(RetrainError, match="baseline_kind: unknown kind 'svm'"):
        fit_baseline(texts, labels, 100, 1, "svm")


def test_a_corpus_too_small_for_min_df_keeps_every_term():
    baseline = fit_baseline(pa.array(["good film", "bad plot"]), np.array([1, 0]), 100, 5)
    assert set(baseline.vectorizer.terms) == {
        "good",
        "film",
        "good film",
        "bad",
        "plot",
        "bad plot",
    }


def test_one_label_is_refused():
    with pytest.raises(RetrainError, match="two labels"):
        fit_baseline(pa.array(["good", "great"]), np.array([1, 1]), 100, 1)


def test_rebuild_refuses_other_files(fitted):
    with pytest.raises(RetrainError, match="not a stored"):
        rebuild_baseline(terms_table(fitted), {"kind": "pickle"})


def predictions(row_ids, labels, predicted):
    return predictions_table(np.array(row_ids), np.array(labels), np.array(predicted, float))


def test_the_comparison_pairs_rows_by_row_id():
    # Row 3: only the network right; rows 5 and 9: only the baseline; row 7: both right.
    network = predictions([3, 5, 7, 9], [1, 0, 1, 1], [1, 1, 1, 0])
    baseline = predictions([9, 7, 5, 3], [1, 1, 0, 1], [1, 1, 0, 0])
    b, c, p_value = compare_with_network(baseline, network)
    assert (b, c) == (1, 2) and p_value == pytest.approx(1.0)


def test_the_comparison_needs_the_same_rows():
    network = predictions([1, 2], [1, 0], [1, 0])
    with pytest.raises(RetrainError, match="same test rows"):
        compare_with_network(predictions([1, 3], [1, 0], [1, 0]), network)


def result(b: int, c: int, p_value: float) -> BaselineResult:
    ref = ArtifactRef(name="baseline/terms.parquet", uri="/x", sha256="0" * 64, rows=1)
    return BaselineResult(
        metrics={"accuracy": 0.9, "f1": 0.9, "rows": 10, "roc_auc": None},
        terms=ref,
        model=ref,
        predictions=ref,
        train_rows=10,
        features=5,
        seconds=0.5,
        kind="nb-logistic-regression",
        rnn_only_correct=b,
        baseline_only_correct=c,
        p_value=p_value,
    )


PROMOTE = GateDecision(
    promote=True, reason="first model", policy="better", challenger_accuracy=0.7, min_accuracy=0.6
)


def test_the_rule_keeps_an_rnn_significantly_worse_than_the_baseline():
    gate = RegistrySettings(require_beat_baseline=True)
    kept = apply_baseline_rule(PROMOTE, result(3, 40, 1e-8), gate)
    assert not kept.promote and "significantly worse than the bag-of-words baseline" in kept.reason
    assert "b=3 c=40" in kept.reason and kept.reason.endswith("first model")


@pytest.mark.parametrize(
    ("gate", "baseline"),
    [
        (RegistrySettings(), result(3, 40, 1e-8)),  # The rule is off.
        (RegistrySettings(require_beat_baseline=True), result(3, 9, 0.15)),  # Not significant.
        (RegistrySettings(require_beat_baseline=True), result(40, 3, 1e-8)),  # The RNN is better.
    ],
)
def test_the_rule_leaves_other_decisions_as_they_are(gate, baseline):
    assert apply_baseline_rule(PROMOTE, baseline, gate) is PROMOTE


def test_the_rule_needs_a_comparison():
    with pytest.raises(ValueError, match="compared no baseline"):
        apply_baseline_rule(PROMOTE, None, RegistrySettings(require_beat_baseline=True))


def test_the_rule_needs_the_baseline_on():
    with pytest.raises(ValidationError, match="require_beat_baseline needs the baseline"):
        RetrainConfig.from_flat(require_beat_baseline=True, baseline=False)


def test_tags_metrics_and_verdicts_carry_the_comparison():
    baseline = result(3, 40, 1e-8)
    assert baseline_tags(baseline)["baseline.mcnemar_c"] == "40"
    assert baseline_tags(baseline)["baseline.accuracy"] == "0.9"
    metrics = baseline_metrics(baseline)
    assert metrics["baseline_f1"] == 0.9 and "baseline_roc_auc" not in metrics
    assert metrics["baseline_mcnemar_p"] == 1e-8
    assert baseline.verdict(0.05).startswith("RNN significantly worse")
    assert result(40, 3, 1e-8).verdict(0.05).startswith("RNN significantly better")
    assert result(3, 4, 0.9).verdict(0.05).startswith("no significant difference")
