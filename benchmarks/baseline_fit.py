"""The bag-of-words baseline on IMDB: its n-gram counting against scikit-learn's, then each kind's
fit, test scoring and accuracy.

    python benchmarks/baseline_fit.py --data ../shared/datasets/imdb/reviews.parquet

First the counting alone, in the same run: scikit-learn's `CountVectorizer` (what the baseline
used before `rnn_retrain.model.bag_of_ngrams`) and `NGramVectorizer`, on the train reviews, with
the NB baseline's settings (binary 1-3-grams, min_df 2, 800,000 terms); the ratio is the figure to
compare across machines. Then `fit_baseline` and scoring the test reviews, for both kinds.
"""

from __future__ import annotations

import argparse
import time

import pyarrow.compute as pc
import pyarrow.parquet as pq
from sklearn.feature_extraction.text import CountVectorizer

from rnn_retrain.data.preprocessing import standardize_text
from rnn_retrain.model.bag_of_ngrams import NGramVectorizer
from rnn_retrain.stages.baseline import KINDS, fit_baseline

MAX_FEATURES, MIN_DF = 800_000, 2


def seconds(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="IMDB Parquet (text, label, split)")
    args = parser.parse_args()
    table = pq.read_table(args.data, columns=["text", "label", "split"])
    train = table.filter(pc.equal(table["split"], "train"))
    test = table.filter(pc.equal(table["split"], "test"))

    theirs = CountVectorizer(
        tokenizer=str.split,
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, 3),
        binary=True,
        min_df=MIN_DF,
        max_features=MAX_FEATURES,
    )
    standardized = standardize_text(train["text"].combine_chunks()).to_pylist()
    before, _ = seconds(lambda: theirs.fit_transform(standardized))
    after, _ = seconds(
        lambda: NGramVectorizer.fit(train["text"], (1, 3), True, MIN_DF, MAX_FEATURES)
    )
    print(f"counting 1-3-grams of {train.num_rows:,} reviews: CountVectorizer {before:.1f} s, "
          f"NGramVectorizer {after:.1f} s (ratio {after / before:.2f})")  # fmt: skip

    labels = test["label"].to_numpy()
    for kind in KINDS:
        fit, baseline = seconds(
            lambda kind=kind: fit_baseline(
                train["text"], train["label"].to_numpy(), MAX_FEATURES, MIN_DF, kind
            )
        )
        score, probabilities = seconds(lambda b=baseline: b.positive_probabilities(test["text"]))
        accuracy = ((probabilities >= 0.5) == labels).mean()
        print(f"{kind}: fit {fit:.1f} s, scoring {test.num_rows:,} test reviews {score:.1f} s, "
              f"{len(baseline.vectorizer.terms):,} terms, test accuracy {accuracy:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
