"""The bag-of-words baseline's logic: a linear model over n-grams, fitted in seconds.

Fitted on the snapshot's train rows and scored on its test rows, beside the recurrent network,
so every run says how much the network adds over a model that fits in seconds. Two kinds
(``training.baseline_kind``):

- ``nb-logistic-regression`` (the default): binary 1–3-gram features scaled by their naive Bayes
  log-count ratios, then logistic regression (Wang & Manning 2012, "NBSVM"; the NB-weighted
  logistic regression of fastai's ML course, lesson 5). Two classes only: see `fit_baseline`.
- ``tfidf-logistic-regression``: TF-IDF over 1–2-grams (sublinear tf), then logistic regression.

Texts are tokenised as the network tokenises them (`rnn_retrain.data.preprocessing.tokenize_texts`),
so both models see the same tokens; their n-grams are counted by
`rnn_retrain.model.bag_of_ngrams.NGramVectorizer` (pyarrow kernels and numpy sorts) rather than
scikit-learn's `CountVectorizer`, pure Python that held the GIL beside training: the two are
timed by `benchmarks/baseline_fit.py`, its figures in benchmarks/RESULTS.md, "The hybrid recipe
on IMDB" (footnote 2).

The fitted baseline is stored as plain data, never pickled: a table of its terms (term, column,
the term's scale (``idf`` or ``ratio``), one weight column per class) and a JSON document of the
rest (kind, intercepts, classes, the settings). `rebuild_baseline` turns them back into
scikit-learn objects that score exactly as the fitted ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

from rnn_retrain.config.retrain import ConfigSlice
from rnn_retrain.errors import RetrainError
from rnn_retrain.model.bag_of_ngrams import NGramVectorizer
from rnn_retrain.model.nb_ratios import NB_ALPHA, log_count_ratios
from rnn_retrain.results import BASELINE_DESCRIPTIONS
from rnn_retrain.stages.register import mcnemar_exact

CONFIG = ConfigSlice(
    output=(
        "training.baseline_kind",
        "training.baseline_max_features",
        "training.baseline_min_df",
    )
)

NB = "nb-logistic-regression"
TFIDF = "tfidf-logistic-regression"
KINDS = (NB, TFIDF)
NGRAM_RANGES = {NB: (1, 3), TFIDF: (1, 2)}
# The column of `terms_table` that holds each term's scale, by kind.
SCALE_COLUMNS = {NB: "ratio", TFIDF: "idf"}
# Logistic regression's inverse regularisation strength, by kind. TF-IDF: scikit-learn's
# default. NB ratios already weight the features, so they take a stronger prior: 0.1, the
# strength of fastai's lesson-5 notebook; 0.03 and 0.3 were measured beside it on full IMDB
# (benchmarks/RESULTS.md, "The two baselines on IMDB").
REGULARISATION_C = {NB: 0.1, TFIDF: 1.0}
# Enough iterations for hundreds of thousands of features to converge.
MAX_ITERATIONS = 1000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Baseline:
    """A fitted (or rebuilt) baseline: the n-gram counts, their scale (NB ratios or TF-IDF) and
    the classifier, used together."""

    kind: str
    vectorizer: NGramVectorizer
    classifier: LogisticRegression
    ratios: np.ndarray | None = None  # NB only.
    tfidf: TfidfTransformer | None = None  # TF-IDF only.

    def features(self, texts: pa.Array | pa.ChunkedArray) -> Any:
        """The classifier's input for raw texts."""
        return self.scaled(self.vectorizer.transform(texts))

    def scaled(self, counts: Any) -> Any:
        """The classifier's input from the n-gram counts."""
        if self.tfidf is not None:
            return self.tfidf.transform(counts)
        return counts if self.ratios is None else scale_columns(counts, self.ratios)

    def probabilities(self, texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The probability of each class (columns in `classes_` order) for raw texts."""
        return self.classifier.predict_proba(self.features(texts))

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

    def describe(self) -> str:
        """The baseline in a few words, for reports and the CLI."""
        return BASELINE_DESCRIPTIONS[self.kind]


def scale_columns(matrix: Any, scale: np.ndarray) -> Any:
    """A sparse ``matrix`` (CSR) with each column multiplied by its entry of ``scale``."""
    return matrix.multiply(scale).tocsr()


def _tfidf() -> TfidfTransformer:
    return TfidfTransformer(sublinear_tf=True)


def _classifier(kind: str) -> LogisticRegression:
    return LogisticRegression(C=REGULARISATION_C[kind], max_iter=MAX_ITERATIONS)


def nb_ratios(features: Any, labels: np.ndarray) -> np.ndarray:
    """Each feature's naive Bayes log-count ratio: log((p / |p|₁) / (q / |q|₁)), where p and q
    are the feature's smoothed counts over the label-1 and the label-0 rows."""
    positive = np.asarray(features[labels == 1].sum(axis=0)).ravel()
    negative = np.asarray(features[labels != 1].sum(axis=0)).ravel()
    return log_count_ratios(positive, negative)


def fit_baseline(
    texts: pa.Array | pa.ChunkedArray,
    labels: np.ndarray,
    max_features: int,
    min_df: int,
    kind: str = NB,
) -> Baseline:
    """Fit the baseline of ``kind`` on train rows.

    Args:
        texts: The train rows' raw texts.
        labels: Their labels (two or more classes).
        max_features: Most terms kept, the most frequent first.
        min_df: Least number of train texts a term must occur in. A corpus so small that no term
            reaches it is fitted with every term instead, rather than failing.
        kind: `NB` or `TFIDF`. NB ratios compare two classes; for K > 2 the TF-IDF baseline is
            fitted instead (with a log line). One-vs-rest ratios would need K rescaled copies
            of the feature matrix and K separate classifiers whose probabilities do not sum to
            one, where TF-IDF gives one multinomial model of the same kind as the network.

    Raises:
        RetrainError: if the train rows hold fewer than two classes, or ``kind`` is unknown.
    """
    if kind not in KINDS:
        raise RetrainError(f"baseline_kind: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise RetrainError("the baseline needs train rows of at least two labels")
    if kind == NB and len(classes) > 2:
        log.info(
            "%d classes: the NB baseline compares two; fitting %s instead", len(classes), TFIDF
        )
        kind = TFIDF
    vectorizer, counts = NGramVectorizer.fit(
        texts, NGRAM_RANGES[kind], kind == NB, min_df, max_features
    )
    if counts.shape[1] == 0:  # Too few texts for min_df.
        vectorizer, counts = NGramVectorizer.fit(texts, NGRAM_RANGES[kind], kind == NB)
    ratios = nb_ratios(counts, labels) if kind == NB else None
    tfidf = _tfidf().fit(counts) if kind == TFIDF else None
    fitted = Baseline(kind, vectorizer, _classifier(kind), ratios, tfidf)
    fitted.classifier.fit(fitted.scaled(counts), labels)
    return fitted


def terms_table(baseline: Baseline) -> pa.Table:
    """The baseline's terms: each term's column, scale, and weight for each class, by column."""
    terms = baseline.vectorizer.terms
    scale = baseline.ratios if baseline.tfidf is None else baseline.tfidf.idf_
    columns = {
        "term": pa.array(terms, pa.string()),
        "column": pa.array(np.arange(len(terms)), pa.int32()),
        SCALE_COLUMNS[baseline.kind]: pa.array(scale, pa.float64()),
    }
    for index, weights in enumerate(baseline.classifier.coef_):
        columns[f"weight_{index}"] = pa.array(weights, pa.float64())
    return pa.table(columns)


def model_document(baseline: Baseline) -> dict[str, Any]:
    """Everything but the terms that rebuilding the baseline needs, as JSON-ready data."""
    vectorizer, classifier = baseline.vectorizer, baseline.classifier
    document: dict[str, Any] = {
        "kind": baseline.kind,
        "ngram_range": list(vectorizer.ngram_range),
        "standardization": "rnn_retrain.data.preprocessing.standardize_text, split on whitespace",
        "classes": [int(label) for label in classifier.classes_],
        "intercept": [float(value) for value in classifier.intercept_],
        "weight_columns": [f"weight_{index}" for index in range(len(classifier.coef_))],
    }
    if baseline.tfidf is not None:
        document.update(sublinear_tf=baseline.tfidf.sublinear_tf, norm=baseline.tfidf.norm)
    else:
        document.update(binary=True, nb_alpha=NB_ALPHA)
    return document


def rebuild_baseline(terms: pa.Table, document: dict[str, Any]) -> Baseline:
    """Rebuild the scikit-learn objects from `terms_table` and `model_document`, unpickled.

    Raises:
        RetrainError: if the files are not a baseline of a known kind.
    """
    kind = document.get("kind")
    if kind not in KINDS:
        raise RetrainError(
            f"not a stored baseline of a known kind ({', '.join(KINDS)}): kind {kind!r}"
        )
    terms = terms.sort_by("column")
    columns = terms["column"].to_numpy()
    if not np.array_equal(columns, np.arange(len(columns))):
        raise RetrainError("the baseline's term table does not number its columns 0..n-1")
    shortest, longest = document["ngram_range"]
    ngram_range = (int(shortest), int(longest))
    vectorizer = NGramVectorizer(terms["term"].to_pylist(), ngram_range, kind == NB)
    scale = terms[SCALE_COLUMNS[kind]].to_numpy()
    ratios, tfidf = None, None
    if kind == TFIDF:
        tfidf = _tfidf()
        tfidf.idf_ = scale
    else:
        ratios = scale
    classifier = _classifier(kind)
    classifier.classes_ = np.asarray(document["classes"])
    classifier.coef_ = np.vstack([terms[name].to_numpy() for name in document["weight_columns"]])
    classifier.intercept_ = np.asarray(document["intercept"], dtype=np.float64)
    return Baseline(kind, vectorizer, classifier, ratios, tfidf)


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
