"""Tokenize: standardise text, fit a top-N vocabulary on the train split, encode every split.

All work is vectorised with pyarrow compute kernels: no Python loop runs per review or token.
Id 0 is reserved for padding and id 1 for out-of-vocabulary tokens, so a vocabulary of size N
holds the N - 2 most frequent train tokens (ties broken alphabetically, so fits are reproducible).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from pydantic import BaseModel, ConfigDict

from rnn_retrain.artifacts import ArtifactRef
from rnn_retrain.config import RetrainConfig
from tasks.runtime import RETRY_SETTINGS, current_run_id, store_for

PAD_ID = 0
OOV_ID = 1
FIRST_TOKEN_ID = 2
HTML_TAG = r"<[^>]*>"
APOSTROPHE = r"['’]"
# Anything that is not a letter, a digit or whitespace separates tokens.
PUNCTUATION = r"[^\p{L}\p{N}\s]+"
VOCABULARY_SCHEMA = pa.schema([("token", pa.string()), ("id", pa.int32()), ("count", pa.int64())])


class TokenizeResult(BaseModel):
    """What tokenize hands on."""

    model_config = ConfigDict(frozen=True)

    vocabulary: ArtifactRef
    token_ids: ArtifactRef
    vocabulary_size: int  # Ids in use, padding and OOV included: the embedding's input size.


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


def fit_vocabulary(tokens: pa.ListArray, vocab_size: int) -> pa.Table:
    """Fit the ``vocab_size - 2`` most frequent tokens of ``tokens`` (pass train rows only).

    Returns:
        A table (token, id, count) with ids from 2 upwards in order of decreasing frequency.
    """
    counts = pc.value_counts(tokens.flatten())
    table = pa.table({"token": counts.field("values"), "count": counts.field("counts")})
    table = table.sort_by([("count", "descending"), ("token", "ascending")])
    table = table.slice(0, max(vocab_size - FIRST_TOKEN_ID, 0))
    ids = pa.array(np.arange(FIRST_TOKEN_ID, FIRST_TOKEN_ID + table.num_rows), pa.int32())
    return pa.table([table["token"], ids, table["count"]], schema=VOCABULARY_SCHEMA)


def encode_tokens(tokens: pa.ListArray, vocabulary: pa.Table) -> pa.ListArray:
    """Replace every token by its id; tokens outside the vocabulary become `OOV_ID`."""
    positions = pc.index_in(tokens.flatten(), value_set=vocabulary["token"].combine_chunks())
    ids = pc.fill_null(pc.add(positions.cast(pa.int32()), FIRST_TOKEN_ID), OOV_ID)
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), ids.cast(pa.int32()))


def tokenize_texts(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Standardise and split texts: the one tokenisation used in training and at serving time."""
    return split_tokens(standardize_text(texts))


@task(name="tokenize", **RETRY_SETTINGS)
def tokenize(snapshot: ArtifactRef, config: RetrainConfig) -> TokenizeResult:
    """Fit the vocabulary on train rows and write it with the encoded token ids of all rows."""
    store = store_for(config)
    table = store.read_table(snapshot)
    tokens = tokenize_texts(table["text"])
    is_train = pc.equal(table["split"], "train").combine_chunks()
    vocabulary = fit_vocabulary(tokens.filter(is_train), config.vocab_size)
    token_ids = pa.table(
        {
            "row_id": table["row_id"],
            "split": table["split"],
            "label": table["label"],
            "token_ids": encode_tokens(tokens, vocabulary),
        }
    )
    run_id = current_run_id()
    params = {"vocab_size": config.vocab_size, "fitted_on": "train"}
    return TokenizeResult(
        vocabulary=store.write_table(run_id, "tokenize", "vocabulary", vocabulary, params),
        token_ids=store.write_table(run_id, "tokenize", "token_ids", token_ids, params),
        vocabulary_size=FIRST_TOKEN_ID + vocabulary.num_rows,
    )
