"""The retraining flow: ingest → tokenize → pad → train → evaluate → register."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict

from rnn_retrain.artifacts import ArtifactRef
from rnn_retrain.config import RetrainConfig
from tasks.evaluate import EvaluateResult, evaluate
from tasks.ingest import IngestResult, ingest
from tasks.pad import pad
from tasks.register import RegisterResult, register
from tasks.report import publish_report
from tasks.tokenize import TokenizeResult, tokenize
from tasks.train import TrainResult, train


class RetrainSummary(BaseModel):
    """What a retraining run returns: its data counts, training facts, metrics and artifacts."""

    model_config = ConfigDict(frozen=True)

    run_id: str | None
    config: RetrainConfig
    rows: dict[str, int]
    dropped_empty: int
    split_method: str
    vocabulary_size: int
    epochs_run: int
    best_epoch: int
    train_rows: int
    validation_rows: int
    train_seconds: float
    metrics: dict[str, float | int | None]
    artifacts: dict[str, ArtifactRef]
    registration: RegisterResult


def summarize_run(
    config: RetrainConfig,
    ingested: IngestResult,
    tokens: TokenizeResult,
    padded: ArtifactRef,
    trained: TrainResult,
    evaluated: EvaluateResult,
    registered: RegisterResult,
) -> RetrainSummary:
    """Gather the stage results into the run summary."""
    artifacts = [
        ingested.snapshot,
        tokens.vocabulary,
        tokens.token_ids,
        padded,
        trained.model,
        trained.history,
        evaluated.predictions,
        evaluated.metrics_table,
    ]
    return RetrainSummary(
        run_id=flow_run.id,
        config=config,
        rows=ingested.rows,
        dropped_empty=ingested.dropped_empty,
        split_method=ingested.split_method,
        vocabulary_size=tokens.vocabulary_size,
        epochs_run=trained.epochs_run,
        best_epoch=trained.best_epoch,
        train_rows=trained.train_rows,
        validation_rows=trained.validation_rows,
        train_seconds=trained.seconds,
        metrics=evaluated.metrics,
        artifacts={ref.name: ref for ref in artifacts},
        registration=registered,
    )


@flow(name="retrain", description="Retrain the recurrent review classifier from fresh data.")
def retrain(config: RetrainConfig = RetrainConfig()) -> RetrainSummary:
    """Ingest, tokenize, pad, train, evaluate on the test split, then register behind the gate."""
    ingested = ingest(config)
    tokens = tokenize(ingested.snapshot, config)
    padded = pad(tokens.token_ids, config)
    trained = train(padded, tokens.vocabulary_size, config)
    evaluated = evaluate(padded, trained.model, config)
    registered = register(
        ingested.snapshot,
        tokens.vocabulary,
        trained.model,
        trained.history,
        evaluated.predictions,
        evaluated.metrics_table,
        evaluated.metrics,
        config,
    )
    summary = summarize_run(config, ingested, tokens, padded, trained, evaluated, registered)
    publish_report(summary)
    return summary
