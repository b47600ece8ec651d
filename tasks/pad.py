"""The pad task: pad every row and store the rows shuffled (`rnn_retrain.stages.pad`)."""

from __future__ import annotations

import tempfile

from prefect import task

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.orchestration.caching import cached_stage
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.stages.pad import CONFIG, pad_chunk, padded_schema
from rnn_retrain.store import paths
from rnn_retrain.store.artifacts import ArtifactRef
from rnn_retrain.store.chunks import read_chunks, shuffle_into_chunks


@task(**cached_stage("pad", CONFIG))
def pad(token_ids: ArtifactRef, config: RetrainConfig) -> ArtifactRef:
    """Pad every row's ids to ``maxlen`` and write the padded rows, shuffled."""
    store = store_for(config)
    text, chunk_rows, seed = config.text, config.source.chunk_rows, config.training.seed
    with (
        store.open_parquet(token_ids) as parquet,
        tempfile.TemporaryDirectory(dir=paths.scratch_folder()) as scratch,
    ):
        padded = (
            pad_chunk(chunk, text.maxlen, text.padding, text.truncating)
            for chunk in read_chunks(parquet, None, chunk_rows)
        )
        shuffled = shuffle_into_chunks(padded, parquet.metadata.num_rows, chunk_rows, seed, scratch)
        return store.write_batches(
            current_run_id(),
            "pad",
            "padded",
            padded_schema(text.maxlen),
            shuffled,
            CONFIG.values(config),
        )
