"""The retraining flow: ingest → tokenize → validate → pad → train → evaluate → register."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict

from rnn_retrain.artifacts import ArtifactRef
from rnn_retrain.config import RetrainConfig
from tasks.caching import StageDecision, forget_stage_decisions, stage_decisions
from tasks.evaluate import EvaluateResult, evaluate
from tasks.ingest import IngestResult, ingest
from tasks.pad import pad
from tasks.register import RegisterResult, register
from tasks.report import publish_report
from tasks.tokenize import TokenizeResult, tokenize
from tasks.train import TrainResult, train
from tasks.validate import Finding, ValidationResult, validate


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
    findings: list[Finding]  # The data gate's checks (warnings included; errors stop the run).
    stages: dict[str, StageDecision]  # Per cached stage: reused ("cached") or recomputed ("ran").
    registration: RegisterResult


def summarize_run(
    config: RetrainConfig,
    ingested: IngestResult,
    tokens: TokenizeResult,
    validated: ValidationResult,
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
        validated.profile,
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
        findings=validated.findings,
        stages=stage_decisions(flow_run.id) if flow_run.id else {},
        registration=registered,
    )


@flow(name="retrain", description="Retrain the recurrent review classifier from fresh data.")
def retrain(config: RetrainConfig = RetrainConfig()) -> RetrainSummary:
    """Ingest, tokenize, pad, train, evaluate on the test split, then register behind the gate."""
    ingested = ingest(config)
    tokens = tokenize(ingested.snapshot, config)
    validated = validate(ingested.snapshot, tokens.vocabulary, config)
    padded = pad(tokens.token_ids, config)
    trained = train(padded, tokens.vocabulary_size, config)
    evaluated = evaluate(padded, trained, config)
    registered = register(
        ingested.snapshot,
        tokens.vocabulary,
        validated.profile,
        trained.model,
        trained.history,
        trained.length_buckets,
        evaluated.predictions,
        evaluated.metrics_table,
        evaluated.metrics,
        config,
    )
    summary = summarize_run(
        config, ingested, tokens, validated, padded, trained, evaluated, registered
    )
    publish_report(summary)
    forget_stage_decisions(summary.run_id)
    return summary
