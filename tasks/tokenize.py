"""Tokenize: standardise text, fit a top-N vocabulary on the train split, encode every split.

The standardisation and encoding live in `rnn_retrain.preprocessing`, shared with serving. A
vocabulary of size N holds the N - 2 most frequent train tokens (ties broken alphabetically, so
fits are reproducible); ids 0 and 1 are padding and out-of-vocabulary.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from prefect import task
from pydantic import BaseModel, ConfigDict

from rnn_retrain.artifacts import ArtifactRef
from rnn_retrain.config import RetrainConfig
from rnn_retrain.preprocessing import FIRST_TOKEN_ID, encode_tokens, tokenize_texts
from tasks.caching import StageCache
from tasks.runtime import RETRY_SETTINGS, current_run_id, store_for

VOCABULARY_SCHEMA = pa.schema([("token", pa.string()), ("id", pa.int32()), ("count", pa.int64())])


class TokenizeResult(BaseModel):
    """What tokenize hands on."""

    model_config = ConfigDict(frozen=True)

    vocabulary: ArtifactRef
    token_ids: ArtifactRef
    vocabulary_size: int  # Ids in use, padding and OOV included: the embedding's input size.


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


@task(
    name="tokenize",
    cache_policy=StageCache(stage="tokenize", fields=("vocab_size",)),
    persist_result=True,
    **RETRY_SETTINGS,
)
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
