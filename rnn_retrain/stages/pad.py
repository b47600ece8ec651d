"""Pad's logic: token-id lists become fixed-length rows, with the semantics of `keras.utils.pad_sequences`.

The padding itself (`rnn_retrain.data.preprocessing.pad_token_ids`) is shared with serving; this stage
stores its result as a fixed-size-list Parquet column, with each row's unpadded length.

The rows are written in a seeded random order, in row groups of about ``chunk_rows`` rows that are
each a random sample of the data (`rnn_retrain.store.chunks.shuffle_into_chunks`), so training can read
one row group at a time and still see shuffled rows. Bigger data is padded chunk by chunk.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rnn_retrain.config.retrain import ConfigSlice, Side
from rnn_retrain.data.preprocessing import pad_token_ids, to_fixed_size_list


def padded_schema(maxlen: int) -> pa.Schema:
    """The padded table: ids, split, label, unpadded length (at most maxlen), padded ids, group."""
    return pa.schema(
        [
            ("row_id", pa.int64()),
            ("split", pa.string()),
            ("label", pa.int8()),
            ("length", pa.int32()),
            ("x", pa.list_(pa.int32(), maxlen)),
            ("group_key", pa.int64()),  # What the validation split holds out by (`stages.train`).
        ]
    )


def pad_chunk(token_ids: pa.Table, maxlen: int, padding: Side, truncating: Side) -> pa.Table:
    """Pad one chunk of the tokenize stage's rows (row_id, split, label, token_ids, group_key)."""
    ids = token_ids["token_ids"].combine_chunks()
    padded = pad_token_ids(ids, maxlen, padding, truncating)
    lengths = np.minimum(pc.list_value_length(ids).to_numpy(zero_copy_only=False), maxlen)
    return pa.table(
        [
            token_ids["row_id"],
            token_ids["split"],
            token_ids["label"],
            pa.array(lengths, pa.int32()),
            to_fixed_size_list(padded),
            token_ids["group_key"],
        ],
        schema=padded_schema(maxlen),
    )


# chunk_rows and seed decide the order of the rows (the shuffle), so they key the result too.
CONFIG = ConfigSlice(
    output=("text.maxlen", "text.padding", "text.truncating", "source.chunk_rows", "training.seed")
)
