"""The opening and closing steps every training flow shares (`retrain`, `sweep`)."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger

from rnn_retrain.config.retrain import RetrainConfig, SweepConfig
from rnn_retrain.orchestration.shared_settings import with_shared_settings
from rnn_retrain.results import (
    BaselineResult,
    EvaluateResult,
    PreparedData,
    RegisterResult,
    TrainResult,
)
from rnn_retrain.tasks.approve import require_approval_server, settle_approval
from rnn_retrain.tasks.baseline import baseline, compare_baseline
from rnn_retrain.tasks.register import register


def open_run(config: RetrainConfig | SweepConfig) -> RetrainConfig | SweepConfig:
    """The run's configuration with the team's shared settings, refused early if it asks for a
    reviewer no one can reach."""
    config = with_shared_settings(config, get_run_logger())
    require_approval_server(config)
    return config


def start_baseline(prepared: PreparedData, config: RetrainConfig) -> Any:
    """The baseline's fit, submitted to a thread of the flow's runner while the network trains
    (it needs only the snapshot); None with ``--no-baseline``."""
    if not config.training.baseline:
        return None
    return baseline.submit(prepared.ingested.snapshot, config, prepared.ingested.classes)


def gate(
    prepared: PreparedData,
    trained: TrainResult,
    evaluated: EvaluateResult,
    config: RetrainConfig,
    fitting: Any,
) -> tuple[RegisterResult, BaselineResult | None]:
    """Compare with the baseline, register behind the gate, and wait for a reviewer if asked."""
    compared = compare_baseline(fitting.result(), evaluated, config) if fitting else None
    registered = register(prepared, trained, evaluated, config, compared)
    registered = settle_approval(registered, config, compared, prepared.validated.findings)
    return registered, compared
