"""Naive Bayes log-count ratios of binary n-gram features, for the two models that weight by them.

The NB baseline (`rnn_retrain.stages.baseline`) scales scikit-learn's n-gram counts by them; the
hybrid network's n-gram branch (`rnn_retrain.model.layers.NGramBranch`) holds them as fixed
weights of its hashed n-gram ids. Both follow Wang & Manning (2012): a feature's ratio is
log((p / |p|₁) / (q / |q|₁)), p and q its smoothed counts in the class and outside it. numpy
only, so the baseline never loads TensorFlow for it.
"""

from __future__ import annotations

import numpy as np

# One pseudo-count per feature and side (Wang & Manning).
NB_ALPHA = 1.0


def log_count_ratios(in_class: np.ndarray, out_class: np.ndarray) -> np.ndarray:
    """Each feature's (row's) log-count ratio, per column: counts in the class against outside.

    Args:
        in_class: Reviews holding each feature, among the class's reviews (features × columns,
            or one vector).
        out_class: The same among the other reviews.
    """
    positive = NB_ALPHA + in_class
    negative = NB_ALPHA + out_class
    return np.log(positive / positive.sum(axis=0)) - np.log(negative / negative.sum(axis=0))


def class_ratios(counts: np.ndarray, min_reviews: int) -> np.ndarray:
    """The ratios an n-gram branch holds, from per-class review counts of each id.

    Args:
        counts: ids × K, how many reviews of each class hold each id.
        min_reviews: Ids held by fewer reviews (id 0, no n-gram, among them) get ratio 0:
            on IMDB an id seen once weighs as much as a common one and only adds noise
            (the n-gram branch alone scored better without them: benchmarks/RESULTS.md,
            "Each half of the hybrid alone, together and stacked").

    Returns:
        For two classes, one column: class 1 against class 0, as the sigmoid head reads it.
        For K classes, K columns: each class against the rest (one-vs-rest), one per softmax
        logit.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape[1] == 2:
        ratios = log_count_ratios(counts[:, 1:], counts[:, :1])
    else:
        ratios = log_count_ratios(counts, counts.sum(axis=1, keepdims=True) - counts)
    ratios[counts.sum(axis=1) < max(min_reviews, 1)] = 0.0
    ratios[0] = 0.0
    return ratios.astype(np.float32)
