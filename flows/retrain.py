"""The retraining flow: prepare the data, train, evaluate, then register behind the gate."""

from __future__ import annotations

from prefect import flow

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.flows.prepare import prepare_data
from rnn_retrain.flows.steps import gate, open_run, start_baseline
from rnn_retrain.orchestration.caching import forget_stage_decisions, stage_decisions
from rnn_retrain.orchestration.events import report_failed_run
from rnn_retrain.orchestration.runs import current_run_id
from rnn_retrain.results import (
    BaselineResult,
    EvaluateResult,
    PreparedData,
    RegisterResult,
    RetrainSummary,
    TrainResult,
)
from rnn_retrain.tasks.evaluate import evaluate
from rnn_retrain.tasks.report import publish_report
from rnn_retrain.tasks.train import train
from rnn_retrain.tasks.warm_start import warm_start


def summarize_run(
    run_id: str,
    config: RetrainConfig,
    prepared: PreparedData,
    trained: TrainResult,
    evaluated: EvaluateResult,
    registered: RegisterResult,
    compared: BaselineResult | None = None,
) -> RetrainSummary:
    """Gather the stage results into the run summary."""
    ingested, tokens = prepared.ingested, prepared.tokens
    stages = stage_decisions(run_id)
    # A cached model was not trained (nor resumed) by this run.
    trained_now = "train" not in stages or stages["train"].status == "ran"
    artifacts = [
        ingested.snapshot,
        tokens.vocabulary,
        tokens.token_ids,
        prepared.validated.profile,
        prepared.padded,
        trained.model,
        trained.history,
        evaluated.predictions,
        evaluated.metrics_table,
        ingested.labels,
        evaluated.confusion_table,
    ]
    if compared is not None:
        artifacts += [compared.terms, compared.model, compared.predictions]
    return RetrainSummary(
        run_id=run_id,
        config=config,
        rows=ingested.rows,
        dropped_empty=ingested.dropped_empty,
        split_method=ingested.split_method,
        vocabulary_size=tokens.vocabulary_size,
        epochs_run=trained.epochs_run,
        best_epoch=trained.best_epoch,
        resumed_from_epoch=trained.resumed_from_epoch if trained_now else 0,
        start=trained.start,
        train_rows=trained.train_rows,
        validation_rows=trained.validation_rows,
        train_seconds=trained.seconds,
        validation_accuracy=trained.validation_accuracy,
        metrics=evaluated.metrics,
        classes=evaluated.classes,
        confusion=evaluated.confusion,
        artifacts={ref.name: ref for ref in artifacts},
        findings=prepared.validated.findings,
        stages=stages,
        registration=registered,
        baseline=compared,
    )


@flow(
    name="retrain",
    description="Retrain the recurrent review classifier from fresh data.",
    on_failure=[report_failed_run],
    on_crashed=[report_failed_run],
)
def retrain(config: RetrainConfig = RetrainConfig()) -> RetrainSummary:
    """Prepare the data, train (and fit the baseline beside it), evaluate, register behind the gate.

    With approval required, a challenger the gate would promote waits for a reviewer's answer.
    """
    config = open_run(config)
    prepared = prepare_data(config)
    classes = prepared.ingested.classes
    start = warm_start(config, classes) if config.training.warm_start == "champion" else None
    fitting = start_baseline(prepared, config)
    trained = train(
        prepared.padded,
        prepared.tokens.vocabulary_size,
        config,
        classes=classes,
        start=start,
        vocabulary=prepared.tokens.vocabulary if start is not None else None,
    )
    evaluated = evaluate(prepared.padded, trained, config)
    registered, compared = gate(prepared, trained, evaluated, config, fitting)
    run_id = current_run_id()
    summary = summarize_run(run_id, config, prepared, trained, evaluated, registered, compared)
    publish_report(summary)
    forget_stage_decisions(run_id)
    return summary
