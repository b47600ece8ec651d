"""The tokenize task: fit the vocabulary and encode every row (`rnn_retrain.stages.tokenize`)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from prefect import task

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.data.preprocessing import encode_tokens, tokenize_texts
from rnn_retrain.orchestration.caching import cached_stage
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.results import TokenizeResult
from rnn_retrain.stages.tokenize import (
    CONFIG,
    TOKEN_IDS_SCHEMA,
    fit_and_encode_table,
    fit_vocabulary_streamed,
    fitted_vocabulary_size,
    token_ids_table,
)
from rnn_retrain.store.artifacts import ArtifactRef
from rnn_retrain.store.chunks import read_chunks


@task(**cached_stage("tokenize", CONFIG))
def tokenize(snapshot: ArtifactRef, config: RetrainConfig) -> TokenizeResult:
    """Fit the vocabulary on train rows and write it with the encoded token ids of all rows.

    The result does not depend on ``chunk_rows``: only how much is held in memory at once does.
    """
    store = store_for(config)
    run_id = current_run_id()
    params = {**CONFIG.values(config), "fitted_on": "train"}
    vocab_size, chunk_rows = config.text.vocab_size, config.source.chunk_rows
    with store.open_parquet(snapshot) as parquet:
        if parquet.metadata.num_rows <= chunk_rows:
            vocabulary, token_ids = fit_and_encode_table(parquet.read(), vocab_size)
            chunks: Iterator[pa.Table] = iter([token_ids])
        else:
            vocabulary = fit_vocabulary_streamed(
                read_chunks(parquet, ["text", "split"], chunk_rows), vocab_size
            )
            chunks = (
                token_ids_table(chunk, encode_tokens(tokenize_texts(chunk["text"]), vocabulary))
                for chunk in read_chunks(parquet, None, chunk_rows)
            )
        token_ids_ref = store.write_batches(
            run_id, "tokenize", "token_ids", TOKEN_IDS_SCHEMA, chunks, params
        )
    return TokenizeResult(
        vocabulary=store.write_table(run_id, "tokenize", "vocabulary", vocabulary, params),
        token_ids=token_ids_ref,
        vocabulary_size=fitted_vocabulary_size(vocabulary),
    )
