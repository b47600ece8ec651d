"""The bag-of-words baseline's logic: TF-IDF over unigrams and bigrams plus logistic regression.

Fitted on the snapshot's train rows and scored on its test rows, beside the recurrent network,
so every run says how much the network adds over a model that fits in seconds. Texts go through
the network's own standardisation (`rnn_retrain.data.preprocessing.standardize_text`) and are split on
whitespace, so both models see the same tokens.

The fitted baseline is stored as plain data, never pickled: a table of its terms (term, column,
idf, one weight column per class) and a JSON document of the rest (intercepts, classes, the
settings). `rebuild_baseline` turns them back into scikit-learn objects that score exactly as
the fitted ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from rnn_retrain.config.retrain import ConfigSlice
from rnn_retrain.data.preprocessing import standardize_text
from rnn_retrain.errors import RetrainError
from rnn_retrain.stages.register import mcnemar_exact

CONFIG = ConfigSlice(output=("training.baseline_max_features", "training.baseline_min_df"))

KIND = "tfidf-logistic-regression"
NGRAM_RANGE = (1, 2)
# Logistic regression's inverse regularisation strength and iteration cap: scikit-learn's
# default strength, and enough iterations for 200k features to converge.
REGULARISATION_C = 1.0
MAX_ITERATIONS = 1000


@dataclass(frozen=True)
class Baseline:
    """A fitted (or rebuilt) baseline: the vectorizer and the classifier, used together."""

    vectorizer: TfidfVectorizer
    classifier: LogisticRegression

    def probabilities(self, texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The probability of each class (columns in `classes_` order) for raw texts."""
        return self.classifier.predict_proba(self.vectorizer.transform(standardized(texts)))

    def positive_probabilities(self, texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The probability of label 1 for each raw text (binary labels)."""
        classes = list(self.classifier.classes_)
        return self.probabilities(texts)[:, classes.index(1)]

    def scores(self, texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """What the network's scores look like: label 1's probability for two classes, else
        the rows × K matrix (class ids 0..K-1, all of them seen in training)."""
        if len(self.classifier.classes_) == 2:
            return self.positive_probabilities(texts)
        return self.probabilities(texts)


def standardized(texts: pa.Array | pa.ChunkedArray) -> list[str]:
    """Raw texts as the network sees them before it splits them into tokens."""
    return standardize_text(texts).to_pylist()


def _vectorizer(max_features: int | None, min_df: int) -> TfidfVectorizer:
    # The texts are standardised already: a whitespace split gives the network's tokens, and
    # scikit-learn's own lower-casing and token pattern (which drops 1-letter tokens) stay off.
    return TfidfVectorizer(
        tokenizer=str.split,
        token_pattern=None,
        lowercase=False,
        ngram_range=NGRAM_RANGE,
        sublinear_tf=True,
        max_features=max_features,
        min_df=min_df,
        dtype=np.float64,
    )


def _classifier() -> LogisticRegression:
    return LogisticRegression(C=REGULARISATION_C, max_iter=MAX_ITERATIONS)


def fit_baseline(
    texts: pa.Array | pa.ChunkedArray, labels: np.ndarray, max_features: int, min_df: int
) -> Baseline:
    """Fit TF-IDF (unigrams and bigrams, sublinear tf) and logistic regression on train rows.

    Args:
        texts: The train rows' raw texts.
        labels: Their labels (two or more classes).
        max_features: Most terms kept, the most frequent first.
        min_df: Least number of train texts a term must occur in. A corpus so small that no term
            reaches it is fitted with every term instead, rather than failing.

    Raises:
        RetrainError: if the train rows hold fewer than two classes.
    """
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise RetrainError("the baseline needs train rows of at least two labels")
    documents = standardized(texts)
    vectorizer = _vectorizer(max_features, min_df)
    try:
        features = vectorizer.fit_transform(documents)
    except ValueError:  # "After pruning, no terms remain": too few texts for min_df.
        vectorizer = _vectorizer(max_features, 1)
        features = vectorizer.fit_transform(documents)
    classifier = _classifier().fit(features, labels)
    return Baseline(vectorizer, classifier)


def terms_table(baseline: Baseline) -> pa.Table:
    """The baseline's terms: each term's column, idf, and weight for each class, by column."""
    vocabulary = baseline.vectorizer.vocabulary_
    terms = sorted(vocabulary, key=vocabulary.__getitem__)
    columns = {
        "term": pa.array(terms, pa.string()),
        "column": pa.array(np.arange(len(terms)), pa.int32()),
        "idf": pa.array(baseline.vectorizer.idf_, pa.float64()),
    }
    for index, weights in enumerate(baseline.classifier.coef_):
        columns[f"weight_{index}"] = pa.array(weights, pa.float64())
    return pa.table(columns)


def model_document(baseline: Baseline) -> dict[str, Any]:
    """Everything but the terms that rebuilding the baseline needs, as JSON-ready data."""
    vectorizer, classifier = baseline.vectorizer, baseline.classifier
    return {
        "kind": KIND,
        "ngram_range": list(vectorizer.ngram_range),
        "sublinear_tf": vectorizer.sublinear_tf,
        "norm": vectorizer.norm,
        "standardization": "rnn_retrain.data.preprocessing.standardize_text, split on whitespace",
        "classes": [int(label) for label in classifier.classes_],
        "intercept": [float(value) for value in classifier.intercept_],
        "weight_columns": [f"weight_{index}" for index in range(len(classifier.coef_))],
    }


def rebuild_baseline(terms: pa.Table, document: dict[str, Any]) -> Baseline:
    """Rebuild the scikit-learn objects from `terms_table` and `model_document`, unpickled.

    Raises:
        RetrainError: if the files are not a baseline of this kind.
    """
    if document.get("kind") != KIND:
        raise RetrainError(f"not a stored {KIND} baseline (kind {document.get('kind')!r})")
    terms = terms.sort_by("column")
    columns = terms["column"].to_numpy()
    if not np.array_equal(columns, np.arange(len(columns))):
        raise RetrainError("the baseline's term table does not number its columns 0..n-1")
    vectorizer = _vectorizer(None, 1)
    vectorizer.vocabulary_ = dict(zip(terms["term"].to_pylist(), columns.tolist()))
    vectorizer.idf_ = terms["idf"].to_numpy()
    classifier = _classifier()
    classifier.classes_ = np.asarray(document["classes"])
    classifier.coef_ = np.vstack([terms[name].to_numpy() for name in document["weight_columns"]])
    classifier.intercept_ = np.asarray(document["intercept"], dtype=np.float64)
    return Baseline(vectorizer, classifier)


def split_rows(snapshot: pa.Table, split: str) -> pa.Table:
    """The snapshot's rows of one split (train or test), in row id order."""
    return snapshot.filter(pc.equal(snapshot["split"], split)).sort_by("row_id")


def compare_with_network(
    baseline_predictions: pa.Table, network_predictions: pa.Table
) -> tuple[int, int, float]:
    """Exact McNemar test of the network against the baseline on the same test rows.

    Both tables are per-row predictions (row_id, label, prediction), aligned here by row id.

    Returns:
        b (rows only the network got right), c (rows only the baseline got right), and the
        two-sided p-value.

    Raises:
        RetrainError: if the two tables do not cover the same rows with the same labels.
    """
    network = network_predictions.sort_by("row_id")
    baseline = baseline_predictions.sort_by("row_id")
    if not np.array_equal(network["row_id"].to_numpy(), baseline["row_id"].to_numpy()):
        raise RetrainError("the baseline and the network were not scored on the same test rows")
    labels = network["label"].to_numpy()
    if not np.array_equal(labels, baseline["label"].to_numpy()):
        raise RetrainError("the baseline's and the network's test labels differ")
    network_correct = network["prediction"].to_numpy() == labels
    baseline_correct = baseline["prediction"].to_numpy() == labels
    return mcnemar_exact(network_correct, baseline_correct)
