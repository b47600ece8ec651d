"""Text preprocessing shared by training and serving: standardise, split, encode, pad.

The registered model bundles this module, so a review is turned into ids the same way when the
model is trained and when it serves, byte for byte. Everything is vectorised with pyarrow compute
kernels and numpy index arithmetic: no Python loop runs per review or per token.

Id 0 is padding and id 1 is out-of-vocabulary; vocabulary tokens have ids from 2 upwards.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PAD_ID = 0
OOV_ID = 1
FIRST_TOKEN_ID = 2
HTML_TAG = r"<[^>]*>"
APOSTROPHE = r"['’]"
# Anything that is not a letter, a digit or whitespace separates tokens.
PUNCTUATION = r"[^\p{L}\p{N}\s]+"


def standardize_text(texts: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Lower-case, replace HTML tags (``<br />``) and punctuation by spaces, drop apostrophes.

    Apostrophes are dropped rather than split on, so "don't" stays one token ("dont").
    """
    lowered = pc.utf8_lower(texts)
    no_tags = pc.replace_substring_regex(lowered, HTML_TAG, " ")
    no_apostrophes = pc.replace_substring_regex(no_tags, APOSTROPHE, "")
    return pc.replace_substring_regex(no_apostrophes, PUNCTUATION, " ")


def split_tokens(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Split standardised texts on whitespace into one list of tokens per text."""
    tokens = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(texts))
    tokens = tokens.combine_chunks() if isinstance(tokens, pa.ChunkedArray) else tokens
    flat = tokens.flatten()
    non_empty = pc.greater(pc.utf8_length(flat), 0).to_numpy(zero_copy_only=False)
    if non_empty.all():
        return tokens
    # An empty text splits into [""]: drop those empty tokens and rebuild the row offsets.
    parents = pc.list_parent_indices(tokens).to_numpy()
    lengths = np.bincount(parents[non_empty], minlength=len(tokens))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), flat.filter(pa.array(non_empty)))


def tokenize_texts(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Standardise and split texts: the one tokenisation used in training and at serving time."""
    return split_tokens(standardize_text(texts))


def encode_tokens(tokens: pa.ListArray, vocabulary: pa.Table) -> pa.ListArray:
    """Replace every token by its id; tokens outside the vocabulary become `OOV_ID`."""
    positions = pc.index_in(tokens.flatten(), value_set=vocabulary["token"].combine_chunks())
    ids = pc.fill_null(pc.add(positions.cast(pa.int32()), FIRST_TOKEN_ID), OOV_ID)
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), ids.cast(pa.int32()))


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


def texts_to_padded_ids(
    texts: pa.Array | pa.ChunkedArray,
    vocabulary: pa.Table,
    maxlen: int,
    padding: Literal["pre", "post"] = "pre",
    truncating: Literal["pre", "post"] = "pre",
) -> np.ndarray:
    """Raw review texts to the padded id matrix a trained model reads."""
    return pad_token_ids(
        encode_tokens(tokenize_texts(texts), vocabulary), maxlen, padding, truncating
    )
