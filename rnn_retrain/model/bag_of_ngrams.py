"""The baseline's bag of n-grams, counted by pyarrow's kernels and numpy's sorts.

Why not scikit-learn's `CountVectorizer`: its analyzer is Python, one string per n-gram, and it
holds the GIL all along, so it counts slower than integer keys do and a network training beside
it in the same process waits on it. `benchmarks/baseline_fit.py` times the two countings in one
run (benchmarks/RESULTS.md, "The hybrid recipe on IMDB", its second footnote); the wait is in
benchmarks/RESULTS.md, "Warm starts on IMDB". `NGramVectorizer` gives the same terms and the
same counts (tests/unit/model/test_bag_of_ngrams.py checks it against `CountVectorizer`) from
integer keys: each text is tokenised as the network tokenises it
(`rnn_retrain.data.preprocessing.tokenize_texts`), each token becomes its dictionary id, each
n-gram one int64 (its ids as digits in base "tokens + 1"), and counting is `np.unique`.

Where terms tie at the ``max_features`` cut, the term with the smaller key is kept (scikit-learn
keeps an order of its own). Columns follow the key order; `terms` names them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from rnn_retrain.data.preprocessing import tokenize_texts
from rnn_retrain.errors import RetrainError

# The largest key an n-gram may take: its ids, as digits, must fit an int64.
KEY_LIMIT = np.iinfo(np.int64).max


class NGramVectorizer:
    """Counts of the n-grams of texts, over a fixed list of terms.

    Build it from a stored list of terms (column i counts ``terms[i]``), or with `fit` (the terms
    of a corpus); then `transform` gives a texts × terms CSR matrix: each term's count in each
    text, or 1 where it occurs at all when ``binary``.
    """

    def __init__(self, terms: list[str], ngram_range: tuple[int, int], binary: bool) -> None:
        self.terms = terms
        self.ngram_range = ngram_range
        self.binary = binary
        words = pc.ascii_split_whitespace(pa.array(terms, pa.string()))
        encoded = pc.dictionary_encode(words.flatten())
        self.tokens: pa.Array = encoded.dictionary
        self.base = _base(len(self.tokens), ngram_range[1], "the baseline's terms")
        lengths = np.diff(words.offsets.to_numpy())
        if len(terms) and (lengths.min() < ngram_range[0] or lengths.max() > ngram_range[1]):
            raise RetrainError(
                f"the baseline's terms hold n-grams outside the range {ngram_range[0]}-"
                f"{ngram_range[1]}"
            )
        keys = _term_keys(encoded.indices.to_numpy().astype(np.int64), lengths, self.base)
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]

    @classmethod
    def fit(
        cls,
        texts: pa.Array | pa.ChunkedArray,
        ngram_range: tuple[int, int],
        binary: bool,
        min_df: int = 1,
        max_features: int | None = None,
    ) -> tuple[NGramVectorizer, sp.csr_matrix]:
        """The terms of ``texts`` and their counts (what ``fit_transform`` gives in scikit-learn).

        Args:
            texts: Raw texts.
            ngram_range: Shortest and longest n-gram, in tokens.
            binary: 1 for a term that occurs, rather than its count.
            min_df: Least number of texts a term must occur in.
            max_features: Most terms kept: the most frequent (in texts when ``binary``, in
                occurrences otherwise), the smaller key first among equals.

        Returns:
            The vectorizer and the texts × terms matrix. No term reaches ``min_df``: no columns.
        """
        tokens = tokenize_texts(texts)
        rows = _rows_of_tokens(tokens)
        encoded = pc.dictionary_encode(tokens.flatten())
        ids = encoded.indices.to_numpy().astype(np.int64)
        dictionary = encoded.dictionary
        # A token in fewer than min_df texts is in no n-gram that reaches min_df. Dropped first
        # only where the keys would not fit an int64 otherwise: on IMDB, counting each token's
        # texts costs more time than the few n-grams it removes save.
        if min_df > 1 and (len(dictionary) + 1) ** ngram_range[1] > KEY_LIMIT:
            ids, dictionary = _drop_rare_tokens(ids, rows, dictionary, min_df)
        base = _base(len(dictionary), ngram_range[1], "the baseline's train texts")
        text_rows, keys = _ngram_keys(ids, rows, base, ngram_range)
        distinct, term_of = np.unique(keys, return_inverse=True)
        width = max(len(distinct), 1)
        # One pair per (text, n-gram) that occurs, with its count in that text.
        pairs, counts = np.unique(text_rows * len(distinct) + term_of, return_counts=True)
        pair_terms = pairs % width
        chosen = _chosen_terms(pair_terms, counts, len(distinct), binary, min_df, max_features)
        terms = _decode(distinct[chosen], base, dictionary, ngram_range[1])
        vectorizer = cls(terms, ngram_range, binary)
        column_of = np.full(len(distinct), -1, dtype=np.int64)
        column_of[chosen] = np.arange(len(chosen))
        columns = column_of[pair_terms]
        kept = columns >= 0
        shape = (len(tokens), len(terms))
        matrix = _count_matrix(pairs[kept] // width, columns[kept], counts[kept], shape, binary)
        return vectorizer, matrix

    def transform(self, texts: pa.Array | pa.ChunkedArray) -> sp.csr_matrix:
        """The texts × terms matrix of raw ``texts``; n-grams that are not terms are dropped."""
        tokens = tokenize_texts(texts)
        flat = tokens.flatten()
        ids = pc.index_in(flat, value_set=self.tokens).fill_null(-1).to_numpy().astype(np.int64)
        rows, keys = _ngram_keys(ids, _rows_of_tokens(tokens), self.base, self.ngram_range)
        found = np.searchsorted(self._keys, keys)
        found_in = found < len(self._keys)
        found_in[found_in] = self._keys[found[found_in]] == keys[found_in]
        width = max(len(self.terms), 1)
        pairs, counts = np.unique(
            rows[found_in] * width + self._order[found[found_in]], return_counts=True
        )
        shape = (len(tokens), len(self.terms))
        return _count_matrix(pairs // width, pairs % width, counts, shape, self.binary)


def _drop_rare_tokens(
    ids: np.ndarray, rows: np.ndarray, dictionary: pa.Array, min_df: int
) -> tuple[np.ndarray, pa.Array]:
    """The token ids with each token of fewer than ``min_df`` texts unknown (-1), the others
    renumbered, and the dictionary of the tokens kept."""
    in_texts = np.bincount(
        np.unique(rows * len(dictionary) + ids) % len(dictionary),
        minlength=len(dictionary),
    )
    kept = in_texts >= min_df
    return np.where(kept, np.cumsum(kept) - 1, -1)[ids], dictionary.filter(pa.array(kept))


def _chosen_terms(
    pair_terms: np.ndarray,
    counts: np.ndarray,
    terms: int,
    binary: bool,
    min_df: int,
    max_features: int | None,
) -> np.ndarray:
    """The terms kept, in key order: those of ``min_df`` texts or more, at most ``max_features``.

    ``pair_terms`` and ``counts`` are the term and count of each (text, term) pair that occurs.
    Over ``max_features``, the most frequent are kept (in texts when ``binary``, in occurrences
    otherwise), the smaller key first among equals.
    """
    frequency = np.bincount(pair_terms, weights=None if binary else counts, minlength=terms)
    document_frequency = frequency if binary else np.bincount(pair_terms, minlength=terms)
    chosen = np.flatnonzero(document_frequency >= min_df)
    if max_features is not None and len(chosen) > max_features:
        by_frequency = np.argsort(-frequency[chosen], kind="stable")[:max_features]
        chosen = np.sort(chosen[by_frequency])
    return chosen


def _count_matrix(
    rows: np.ndarray, columns: np.ndarray, counts: np.ndarray, shape: tuple[int, int], binary: bool
) -> sp.csr_matrix:
    """The texts × terms CSR matrix of distinct (row, column) pairs and their counts."""
    values = np.ones(len(rows)) if binary else counts.astype(np.float64)
    return sp.csr_matrix((values, (rows, columns)), shape=shape)


def _base(tokens: int, longest: int, what: str) -> int:
    """The base whose digits are token ids + 1 (0: no token), checked against int64."""
    base = tokens + 1
    if base**longest > KEY_LIMIT:
        raise RetrainError(
            f"{what} hold {tokens:,} distinct tokens: too many for {longest}-gram keys (at most "
            f"{int(KEY_LIMIT ** (1 / longest)) - 1:,}); raise baseline_min_df"
        )
    return base


def _rows_of_tokens(tokens: pa.ListArray) -> np.ndarray:
    """The text (row) each token of the flattened ``tokens`` comes from."""
    offsets = tokens.offsets.to_numpy()
    return np.repeat(np.arange(len(tokens), dtype=np.int64), np.diff(offsets))


def _ngram_keys(
    ids: np.ndarray, rows: np.ndarray, base: int, ngram_range: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Every n-gram of the token stream: its text and its key.

    An n-gram is kept where all its tokens are in one text and known (id ≥ 0). Keys of
    different lengths never meet: an n-gram's key lies in [base^(n-1), base^n).
    """
    found_rows, found_keys = [], []
    for n in range(ngram_range[0], ngram_range[1] + 1):
        starts = len(ids) - n + 1
        if starts <= 0:
            continue
        keys = np.zeros(starts, dtype=np.int64)
        valid = rows[:starts] == rows[n - 1 :]
        for offset in range(n):
            part = ids[offset : offset + starts]
            valid &= part >= 0
            keys = keys * base + part + 1
        found_rows.append(rows[:starts][valid])
        found_keys.append(keys[valid])
    if not found_keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(found_rows), np.concatenate(found_keys)


def _term_keys(ids: np.ndarray, lengths: np.ndarray, base: int) -> np.ndarray:
    """The key of each term, from its tokens' ids (``lengths`` tokens per term)."""
    keys = np.zeros(len(lengths), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    for position in range(int(lengths.max(initial=0))):
        has = lengths > position
        keys[has] = keys[has] * base + ids[starts[has] + position] + 1
    return keys


def _decode(keys: np.ndarray, base: int, dictionary: pa.Array, longest: int) -> list[str]:
    """The terms of n-gram keys: their tokens joined by spaces."""
    digits = []
    remaining = keys.copy()
    for _ in range(longest):
        digits.append(remaining % base)
        remaining //= base
    words = [
        pc.take(dictionary, pa.array(digit - 1, mask=digit == 0)) for digit in reversed(digits)
    ]
    if len(words) == 1:
        return words[0].to_pylist()
    return pc.binary_join_element_wise(*words, " ", null_handling="skip").to_pylist()
