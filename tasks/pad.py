"""Pad: token-id lists become fixed-length rows, with the semantics of `keras.utils.pad_sequences`.

The padding itself (`rnn_retrain.preprocessing.pad_token_ids`) is shared with serving; this stage
stores its result as a fixed-size-list Parquet column.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from prefect import task

from rnn_retrain.artifacts import ArtifactRef
from rnn_retrain.config import RetrainConfig
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


@task(
    name="pad",
    cache_policy=StageCache(stage="pad", fields=("maxlen", "padding", "truncating")),
    persist_result=True,
    **RETRY_SETTINGS,
)
def pad(token_ids: ArtifactRef, config: RetrainConfig) -> ArtifactRef:
    """Pad every row's ids to ``config.maxlen`` and write the padded table."""
    store = store_for(config)
    table = store.read_table(token_ids)
    ids = table["token_ids"].combine_chunks()
    padded = pad_token_ids(ids, config.maxlen, config.padding, config.truncating)
    output = table.drop_columns(["token_ids"]).append_column("x", to_fixed_size_list(padded))
    params = {"maxlen": config.maxlen, "padding": config.padding, "truncating": config.truncating}
    return store.write_table(current_run_id(), "pad", "padded", output, params)
