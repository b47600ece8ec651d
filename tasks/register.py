"""The register task: log the run, register a version, and gate its promotion.

The MLflow side is `rnn_retrain.registry` (`runs` logs, `gate` judges and records); the gate's
rules are `rnn_retrain.stages.register`. This task keeps the order of the steps and the one
decision at a time that Prefect's promotion limit gives.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.runtime import deployment, flow_run

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.orchestration.events import emit_gate_decision
from rnn_retrain.orchestration.promotion import promotion_decision
from rnn_retrain.orchestration.retries import RETRY_SETTINGS
from rnn_retrain.orchestration.runs import store_for
from rnn_retrain.registry.gate import recorded_decision, registration_result, run_gate
from rnn_retrain.registry.runs import Candidate, lineage_tags, log_training_run
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.results import (
    BaselineResult,
    EvaluateResult,
    PreparedData,
    RegisterResult,
    TrainResult,
)
from rnn_retrain.stages.register import LINEAGE_TAG, gate_outcome, lineage_key


@task(name="register", **RETRY_SETTINGS)
def register(
    prepared: PreparedData,
    trained: TrainResult,
    evaluated: EvaluateResult,
    config: RetrainConfig,
    baseline: BaselineResult | None = None,
) -> RegisterResult:
    """Register the trained model as a new version and decide whether it becomes champion.

    A retry, or a re-run of the same data and recipe, finds the version its lineage key names
    and registers nothing new. ``baseline`` (compared with this model) is logged with the run
    and tagged on the version.
    """
    logger = get_run_logger()
    store = store_for(config)
    registry = ModelRegistry(config.registry.tracking_uri, config.registry.model_name)
    candidate = Candidate(prepared, trained, evaluated, config, baseline)
    key = lineage_key(prepared.ingested.snapshot.sha256, config, trained.start)
    existing = registry.version_with_tag(LINEAGE_TAG, key)
    if recorded_decision(existing) is not None:
        return _reused(registry, existing)
    tags = lineage_tags(candidate, key, str(flow_run.id), deployment.name or "")

    def log_run():
        return log_training_run(registry, store, candidate, tags, flow_run.name or None)

    # Before the promotion slot: uploading the model can take minutes on a remote store, and
    # another run's decision need not wait for it (nor meet the server's own writes as the task
    # starts, which cost retries on Prefect's SQLite server).
    logged = log_run() if existing is None else None
    # One decision at a time, on any machine: an overlapping run waits, then sees this run's
    # version and champion.
    with promotion_decision(registry) as holder:
        logger.info("Promotion decision held by %s", holder)
        existing = registry.version_with_tag(LINEAGE_TAG, key)
        if existing is not None and logged is not None:
            # A run of the same data and recipe registered it while this one logged: its
            # version stands, and this run's logged model goes.
            registry.tracking.delete_run(logged.run_id)
        if recorded_decision(existing) is not None:
            return _reused(registry, existing)
        if existing is None:
            # (Logged now if the version this run meant to finish went meanwhile.)
            run = logged or log_run()
            version = str(
                registry.create_version(run.model_uri, run.model_id, run.run_id, tags).version
            )
            logger.info("Registered %s version %s", registry.model_name, version)
        else:
            version = str(existing.version)  # Left by an attempt that was killed before its gate.
        decision = run_gate(registry, store, candidate, version, str(flow_run.id))
    logger.info("Gate: %s (%s)", gate_outcome(decision), decision.reason)
    registered = registration_result(registry, version, decision, reused=False)
    if decision.approval != "pending":
        # After the registry holds the decision: alerts tell the truth.
        emit_gate_decision(registered)
    return registered


def _reused(registry: ModelRegistry, existing: object) -> RegisterResult:
    """A retry or a re-run of the same data and recipe: nothing new to register or decide."""
    get_run_logger().info(
        "Version %s already holds this lineage; nothing to register", existing.version
    )
    decision = recorded_decision(existing)
    return registration_result(registry, str(existing.version), decision, reused=True)
