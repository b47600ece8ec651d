"""Tokenize's logic: standardise text, fit a top-N vocabulary on the train split, encode every split.

The standardisation and encoding live in `rnn_retrain.data.preprocessing`, shared with serving. A
vocabulary of size N holds the N - 2 most frequent train tokens (ties broken alphabetically, so
fits are reproducible); ids 0 and 1 are padding and out-of-vocabulary. A snapshot that fits in one
chunk is fitted and encoded in one pass (`fit_vocabulary_and_encode`); a bigger one in two
streamed passes, the train token counts merged chunk by chunk (`count_chunk_tokens`,
`merge_token_counts`) and then each chunk encoded, with the same result. `fit_vocabulary` is the
same fit on given tokens.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnn_retrain.config.retrain import ConfigSlice
from rnn_retrain.data.preprocessing import (
    FIRST_TOKEN_ID,
    OOV_ID,
    EncodedSlice,
    dictionary_encode_texts,
)

VOCABULARY_SCHEMA = pa.schema([("token", pa.string()), ("id", pa.int32()), ("count", pa.int64())])
TOKEN_IDS_SCHEMA = pa.schema(
    [
        ("row_id", pa.int64()),
        ("split", pa.string()),
        ("label", pa.int8()),
        ("token_ids", pa.list_(pa.int32())),
        ("group_key", pa.int64()),
    ]
)


def rank_tokens(tokens: pa.Array, counts: pa.Array | np.ndarray, vocab_size: int) -> np.ndarray:
    """Positions of the ``vocab_size - 2`` most frequent tokens with a count above zero.

    Ranked by decreasing count, ties broken alphabetically (byte order), so fits are reproducible.
    """
    table = pa.table({"token": tokens, "count": counts})
    order = pc.sort_indices(table, sort_keys=[("count", "descending"), ("token", "ascending")])
    top = order.to_numpy()[: max(vocab_size - FIRST_TOKEN_ID, 0)]
    return top[np.asarray(counts)[top] > 0]


def vocabulary_table(tokens: pa.Array, counts: pa.Array | np.ndarray, top: np.ndarray) -> pa.Table:
    """The (token, id, count) table of the ranked positions ``top``, ids from 2 upwards."""
    ids = pa.array(np.arange(FIRST_TOKEN_ID, FIRST_TOKEN_ID + len(top)), pa.int32())
    return pa.table(
        [tokens.take(top), ids, pa.array(np.asarray(counts)[top], pa.int64())],
        schema=VOCABULARY_SCHEMA,
    )


def fit_vocabulary(tokens: pa.ListArray, vocab_size: int) -> pa.Table:
    """Fit the ``vocab_size - 2`` most frequent tokens of ``tokens`` (pass train rows only).

    Returns:
        A table (token, id, count) with ids from 2 upwards in order of decreasing frequency.
    """
    counts = pc.value_counts(tokens.flatten())
    return ranked_vocabulary(counts.field("values"), counts.field("counts"), vocab_size)


def ranked_vocabulary(tokens: pa.Array, counts: pa.Array | np.ndarray, vocab_size: int) -> pa.Table:
    """The vocabulary table of the ``vocab_size - 2`` most frequent of ``tokens``."""
    return vocabulary_table(tokens, counts, rank_tokens(tokens, counts, vocab_size))


def count_train_tokens(
    encoded_slices: list[EncodedSlice], train_rows: np.ndarray, distinct_tokens: int
) -> np.ndarray:
    """How often each distinct token occurs in train rows, counted slice by slice.

    Slice by slice keeps the per-token train mask small, whatever the number of rows.
    """
    counts = np.zeros(distinct_tokens, dtype=np.int64)
    first_row = 0
    for encoded in encoded_slices:
        rows = len(encoded.token_counts)
        is_train_token = np.repeat(train_rows[first_row : first_row + rows], encoded.token_counts)
        # A slice's distinct tokens are distinct among all tokens too: no index repeats here.
        counts[encoded.distinct] += np.bincount(
            encoded.positions[is_train_token], minlength=len(encoded.distinct)
        )
        first_row += rows
    return counts


def fit_vocabulary_and_encode(
    texts: pa.Array | pa.ChunkedArray, is_train: pa.BooleanArray, vocab_size: int
) -> tuple[pa.Table, pa.ListArray]:
    """Tokenize texts, fit the vocabulary on the train rows and encode every row.

    Gives the same vocabulary as `fit_vocabulary` on the train rows' tokens and the same ids as
    `encode_tokens` with it, but hashes each token once and never holds all token strings.

    Returns:
        The vocabulary table (token, id, count) and one list of int32 ids per row.
    """
    dictionary, encoded_slices, counts = encode_and_count(texts, is_train)
    top = rank_tokens(dictionary, counts, vocab_size)
    id_of_token = np.full(len(dictionary), OOV_ID, dtype=np.int32)
    id_of_token[top] = np.arange(FIRST_TOKEN_ID, FIRST_TOKEN_ID + len(top), dtype=np.int32)
    ids = np.concatenate([id_of_token[each.distinct][each.positions] for each in encoded_slices])
    token_counts = np.concatenate([encoded.token_counts for encoded in encoded_slices])
    offsets = np.concatenate([[0], np.cumsum(token_counts)]).astype(np.int32)
    token_ids = pa.ListArray.from_arrays(pa.array(offsets), pa.array(ids))
    return vocabulary_table(dictionary, counts, top), token_ids


def encode_and_count(
    texts: pa.Array | pa.ChunkedArray, is_train: pa.BooleanArray
) -> tuple[pa.Array, list[EncodedSlice], np.ndarray]:
    """Tokenize and dictionary-encode texts; count each distinct token in the train rows.

    Returns:
        The distinct tokens, the texts' encoded slices, and each distinct token's train count.
    """
    dictionary, encoded_slices = dictionary_encode_texts(texts)
    train_rows = is_train.fill_null(False).to_numpy(zero_copy_only=False)
    return (
        dictionary,
        encoded_slices,
        count_train_tokens(encoded_slices, train_rows, len(dictionary)),
    )


def count_chunk_tokens(texts: pa.Array | pa.ChunkedArray, is_train: pa.BooleanArray) -> pa.Table:
    """The (token, count) of every token in the train rows of one chunk of texts."""
    dictionary, _, counts = encode_and_count(texts, is_train)
    seen = counts > 0
    return pa.table({"token": dictionary.filter(pa.array(seen)), "count": counts[seen]})


def merge_token_counts(total: pa.Table | None, chunk: pa.Table) -> pa.Table:
    """Add one chunk's (token, count) rows to a running total."""
    if total is None:
        return chunk
    merged = pa.concat_tables([total, chunk]).group_by("token").aggregate([("count", "sum")])
    return pa.table({"token": merged["token"], "count": merged["count_sum"]})


def fit_vocabulary_streamed(chunks: Iterator[pa.Table], vocab_size: int) -> pa.Table:
    """Fit the vocabulary on snapshot chunks (text, split) without holding them all."""
    total = None
    for chunk in chunks:
        is_train = pc.equal(chunk["split"], "train").combine_chunks()
        total = merge_token_counts(total, count_chunk_tokens(chunk["text"], is_train))
    if total is None:
        raise ValueError("no chunks to fit a vocabulary on")
    return ranked_vocabulary(total["token"].combine_chunks(), total["count"].to_numpy(), vocab_size)


def token_ids_table(snapshot: pa.Table, encoded: pa.ListArray) -> pa.Table:
    """The tokenize stage's rows: a snapshot chunk's ids, split and label with its encoded texts."""
    return pa.table(
        [snapshot["row_id"], snapshot["split"], snapshot["label"], encoded, snapshot["group_key"]],
        schema=TOKEN_IDS_SCHEMA,
    )


def fit_and_encode_table(snapshot: pa.Table, vocab_size: int) -> tuple[pa.Table, pa.Table]:
    """The vocabulary and the token-id rows of a whole snapshot, in one pass."""
    is_train = pc.equal(snapshot["split"], "train").combine_chunks()
    vocabulary, encoded = fit_vocabulary_and_encode(snapshot["text"], is_train, vocab_size)
    return vocabulary, token_ids_table(snapshot, encoded)


def fitted_vocabulary_size(vocabulary: pa.Table) -> int:
    """Ids in use, padding and OOV included: the embedding's input size."""
    return FIRST_TOKEN_ID + vocabulary.num_rows


# The result does not depend on chunk_rows: only how much is held in memory at once does.
CONFIG = ConfigSlice(output=("text.vocab_size",), also_reads=("source.chunk_rows",))
