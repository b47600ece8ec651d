"""The prepare_data subflow: ingest → tokenize → validate (data gate) → pad, shared by every flow."""

from __future__ import annotations

from prefect import flow

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.orchestration.runs import PREPARE_FLOW
from rnn_retrain.results import PreparedData
from rnn_retrain.tasks.ingest import ingest
from rnn_retrain.tasks.pad import pad
from rnn_retrain.tasks.tokenize import tokenize
from rnn_retrain.tasks.validate import validate


@flow(name=PREPARE_FLOW, description="Snapshot, tokenize, check and pad the reviews.")
def prepare_data(config: RetrainConfig) -> PreparedData:
    """Turn the configured source into padded rows, stopping at the data gate if it says so."""
    ingested = ingest(config)
    tokens = tokenize(ingested.snapshot, config)
    validated = validate(ingested.snapshot, tokens.vocabulary, config)
    padded = pad(tokens.token_ids, config)
    return PreparedData(ingested=ingested, tokens=tokens, validated=validated, padded=padded)
