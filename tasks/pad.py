"""Pad: token-id lists become fixed-length rows, with the semantics of `keras.utils.pad_sequences`.

Padding and truncation are done with numpy index arithmetic over the flat id buffer, without a
Python loop per review, and the result is stored as a fixed-size-list Parquet column.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from prefect import task

from rnn_retrain.artifacts import ArtifactRef
from rnn_retrain.config import RetrainConfig
from tasks.runtime import RETRY_SETTINGS, current_run_id, store_for
from tasks.tokenize import PAD_ID


def pad_token_ids(
    token_ids: pa.ListArray,
    maxlen: int,
    padding: Literal["pre", "post"] = "pre",
    truncating: Literal["pre", "post"] = "pre",
) -> np.ndarray:
    """Pad or truncate each id list to ``maxlen`` ids.

    Args:
        token_ids: One list of int ids per review.
        maxlen: Output length.
        padding: ``"pre"`` puts the padding before the ids, ``"post"`` after.
        truncating: ``"pre"`` drops ids from the start of long lists (keeps the end),
            ``"post"`` drops them from the end.

    Returns:
        An int32 array of shape ``(len(token_ids), maxlen)``, padded with `PAD_ID`.
    """
    if maxlen < 1:
        raise ValueError(f"maxlen must be at least 1, got {maxlen}")
    offsets = token_ids.offsets.to_numpy().astype(np.int64)
    flat = token_ids.values.to_numpy(zero_copy_only=False).astype(np.int32)
    starts, lengths = offsets[:-1], np.diff(offsets)
    kept = np.minimum(lengths, maxlen)
    source_start = starts + (lengths - kept if truncating == "pre" else 0)
    target_start = maxlen - kept if padding == "pre" else np.zeros_like(kept)
    rows = np.repeat(np.arange(len(kept)), kept)
    within = np.arange(rows.size) - np.repeat(np.cumsum(kept) - kept, kept)
    padded = np.full((len(kept), maxlen), PAD_ID, dtype=np.int32)
    padded[rows, target_start[rows] + within] = flat[source_start[rows] + within]
    return padded


def to_fixed_size_list(padded: np.ndarray) -> pa.FixedSizeListArray:
    """Store a (rows, maxlen) matrix as one fixed-size-list column without copying per row."""
    return pa.FixedSizeListArray.from_arrays(pa.array(padded.ravel()), padded.shape[1])


def to_matrix(column: pa.ChunkedArray | pa.FixedSizeListArray) -> np.ndarray:
    """Turn a fixed-size-list column back into a (rows, maxlen) int32 matrix."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array.flatten().to_numpy().reshape(len(array), array.type.list_size)


@task(name="pad", **RETRY_SETTINGS)
def pad(token_ids: ArtifactRef, config: RetrainConfig) -> ArtifactRef:
    """Pad every row's ids to ``config.maxlen`` and write the padded table."""
    store = store_for(config)
    table = store.read_table(token_ids)
    ids = table["token_ids"].combine_chunks()
    padded = pad_token_ids(ids, config.maxlen, config.padding, config.truncating)
    output = table.drop_columns(["token_ids"]).append_column("x", to_fixed_size_list(padded))
    params = {"maxlen": config.maxlen, "padding": config.padding, "truncating": config.truncating}
    return store.write_table(current_run_id(), "pad", "padded", output, params)
