"""A served request's review to its padded ids: the Python path for a few ASCII texts against the
pyarrow kernels, one review at a time, in the same run.

    python benchmarks/tokenise_few.py --data ../shared/datasets/imdb/reviews.parquet

Both calls are `rnn_retrain.data.preprocessing.texts_to_padded_ids` with the same lookup: given a
Python list it takes `few_ascii_token_lists` when every text is ASCII, given a pyarrow array it
takes the kernels. The reviews are IMDB's first test reviews that are ASCII; the vocabulary is
fitted on train reviews, 10,000 words, as the strong recipe's. Prints the median microseconds of
each and their ratio (the figure to compare across machines), after checking both give the same
matrix.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rnn_retrain.data.preprocessing import TokenLookup, texts_to_padded_ids, tokenize_texts
from rnn_retrain.stages.tokenize import fit_vocabulary

MAXLEN = 500


def median_microseconds(score, texts: list, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        for text in texts:
            started = time.perf_counter()
            score(text)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="IMDB Parquet (text, split)")
    parser.add_argument("--reviews", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    table = pq.read_table(args.data, columns=["text", "split"])
    train = table.filter(pc.equal(table["split"], "train"))["text"].combine_chunks()
    test = table.filter(pc.equal(table["split"], "test"))["text"].to_pylist()
    texts = [text for text in test if text.isascii()][: args.reviews]
    lookup = TokenLookup(fit_vocabulary(tokenize_texts(train.slice(0, 5000)), vocab_size=10_000))

    def python_path(text: str) -> np.ndarray:
        return texts_to_padded_ids([text], lookup, MAXLEN)

    def kernels(text: str) -> np.ndarray:
        return texts_to_padded_ids(pa.array([text], pa.string()), lookup, MAXLEN)

    for text in texts:
        np.testing.assert_array_equal(python_path(text), kernels(text))
    words = statistics.mean(len(text.split()) for text in texts)
    fast = median_microseconds(python_path, texts, args.repeats)
    slow = median_microseconds(kernels, texts, args.repeats)
    print(f"{len(texts)} ASCII IMDB test reviews, {words:.0f} words on average, one at a time")
    print(
        f"Python path: {fast:.0f} µs a review; pyarrow kernels: {slow:.0f} µs; ratio {fast / slow:.2f}"
    )


if __name__ == "__main__":
    main()
