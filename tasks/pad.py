"""Pad: token-id lists become fixed-length rows, with the semantics of `keras.utils.pad_sequences`.

The padding itself (`rnn_retrain.preprocessing.pad_token_ids`) is shared with serving; this stage
stores its result as a fixed-size-list Parquet column, with each row's unpadded length.

The rows are written in a seeded random order, in row groups of about ``chunk_rows`` rows that are
each a random sample of the data (`rnn_retrain.chunks.shuffle_into_chunks`), so training can read
one row group at a time and still see shuffled rows. Bigger data is padded chunk by chunk.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task

from rnn_retrain.artifacts import ArtifactRef, scratch_root
from rnn_retrain.chunks import read_chunks, shuffle_into_chunks
from rnn_retrain.config import RetrainConfig, Side
from rnn_retrain.preprocessing import pad_token_ids
from tasks.caching import StageCache
from tasks.runtime import RETRY_SETTINGS, current_run_id, store_for


def to_fixed_size_list(padded: np.ndarray) -> pa.FixedSizeListArray:
    """Store a (rows, maxlen) matrix as one fixed-size-list column without copying per row."""
    return pa.FixedSizeListArray.from_arrays(pa.array(padded.ravel()), padded.shape[1])


def to_matrix(column: pa.ChunkedArray | pa.FixedSizeListArray) -> np.ndarray:
    """Turn a fixed-size-list column back into a (rows, maxlen) int32 matrix."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array.flatten().to_numpy().reshape(len(array), array.type.list_size)


def padded_schema(maxlen: int) -> pa.Schema:
    """The padded table: ids, split, label, unpadded length (at most maxlen) and the padded ids."""
    return pa.schema(
        [
            ("row_id", pa.int64()),
            ("split", pa.string()),
            ("label", pa.int8()),
            ("length", pa.int32()),
            ("x", pa.list_(pa.int32(), maxlen)),
        ]
    )


def pad_chunk(token_ids: pa.Table, maxlen: int, padding: Side, truncating: Side) -> pa.Table:
    """Pad one chunk of the tokenize stage's rows (row_id, split, label, token_ids)."""
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
        ],
        schema=padded_schema(maxlen),
    )


@task(
    name="pad",
    cache_policy=StageCache(
        stage="pad", fields=("maxlen", "padding", "truncating", "chunk_rows", "seed")
    ),
    persist_result=True,
    **RETRY_SETTINGS,
)
def pad(token_ids: ArtifactRef, config: RetrainConfig) -> ArtifactRef:
    """Pad every row's ids to ``config.maxlen`` and write the padded rows, shuffled."""
    store = store_for(config)
    params = {
        "maxlen": config.maxlen,
        "padding": config.padding,
        "truncating": config.truncating,
        "chunk_rows": config.chunk_rows,
        "seed": config.seed,
    }
    with (
        store.open_parquet(token_ids) as parquet,
        tempfile.TemporaryDirectory(dir=scratch_root()) as scratch,
    ):
        padded = (
            pad_chunk(chunk, config.maxlen, config.padding, config.truncating)
            for chunk in read_chunks(parquet, None, config.chunk_rows)
        )
        shuffled = shuffle_into_chunks(
            padded, parquet.metadata.num_rows, config.chunk_rows, config.seed, scratch
        )
        return store.write_batches(
            current_run_id(), "pad", "padded", padded_schema(config.maxlen), shuffled, params
        )
