"""Approval before promotion (``registry.approval: required``): ask a person, then apply the answer.

The run pauses with `prefect.flow_runs.pause_flow_run` and waits for typed input: the Prefect UI
shows the run as Paused, and its Resume button opens a form with the figures a reviewer needs
(`rnn_retrain.stages.approval.review_form`) and the answer's fields (`ApprovalAnswer`). Pause,
not suspend: ``suspend_flow_run`` ends the process and reruns the flow from its start on resume,
which needs a deployment (``retrain run`` from a terminal has none) and would repeat every
stage's cache check and the gate; a paused run keeps its process and goes on from this point.
The promotion slot is not held while the run waits: register released it, and `approve` takes it
again to apply the answer.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from prefect import get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.settings import get_current_settings
from prefect.states import Running
from pydantic import Field

from rnn_retrain.config.retrain import RetrainConfig, SweepConfig
from rnn_retrain.data.labels import headline_f1
from rnn_retrain.errors import RetrainError
from rnn_retrain.orchestration.events import emit_approval_requested, emit_gate_decision
from rnn_retrain.orchestration.promotion import promotion_decision
from rnn_retrain.orchestration.retries import RETRY_SETTINGS
from rnn_retrain.registry.gate import apply_decision
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.reports import mlflow_version_link
from rnn_retrain.results import BaselineResult, Finding, RegisterResult
from rnn_retrain.stages.approval import deadline_after, deadline_text, review_form, reviewed

# How often the paused run asks the server whether it was answered (Prefect's default is 10 s).
APPROVAL_POLL_SECONDS = 5


class ApprovalAnswer(RunInput):
    """The reviewer's answer, drawn by the Prefect UI as the Resume form."""

    decision: Literal["approve", "reject"] = Field(
        description="approve: the challenger becomes champion; reject: the champion stays."
    )
    # Bounded: both go into MLflow tags (a version's, and the champion's history, 100,000
    # characters at most each) and into an event; the server refuses a longer answer (422).
    reviewer: str = Field(
        min_length=1, max_length=200, description="Your name, recorded with the decision."
    )
    comment: str = Field(
        "",
        max_length=2000,
        description="Why. Recorded on the version, in the champion's history and the event.",
    )


def require_approval_server(config: RetrainConfig | SweepConfig) -> None:
    """Refuse ``approval: required`` without a Prefect server, before anything is trained.

    Raises:
        RetrainError: if no Prefect server is configured: a run on Prefect's temporary local
            API would wait for an answer that no reviewer can give.
    """
    if config.registry.approval == "required" and not get_current_settings().api.url:
        raise RetrainError(
            "approval 'required' needs a Prefect server a reviewer can reach (set "
            "PREFECT_API_URL, e.g. after `prefect server start`); none is configured"
        )


def request_approval(
    registered: RegisterResult,
    config: RetrainConfig,
    baseline: BaselineResult | None,
    findings: list[Finding],
) -> ApprovalAnswer | None:
    """Pause the run until a reviewer answers in the Prefect UI; None if nobody did in time."""
    registry = ModelRegistry(config.registry.tracking_uri, config.registry.model_name)
    decision, version = registered.decision, registered.version
    timeout = config.registry.approval_timeout_seconds
    deadline = deadline_after(datetime.now(timezone.utc), timeout)
    link = mlflow_version_link(registry.tracking_uri, registry.model_name, version)
    form = review_form(
        registry.model_name,
        version,
        decision,
        _tagged_f1(registry, version),
        _tagged_f1(registry, decision.champion_version),
        baseline,
        config.registry.significance_level,
        findings,
        link,
        deadline,
    )
    logger = get_run_logger()
    logger.info(
        "Waiting until %s for a reviewer to approve %s v%s (Resume on this run's page)",
        deadline_text(deadline),
        registry.model_name,
        version,
    )
    emit_approval_requested(registered, deadline.isoformat(timespec="seconds"), link)
    try:
        return pause_flow_run(
            wait_for_input=ApprovalAnswer.with_initial_data(description=form),
            timeout=timeout,
            poll_interval=min(APPROVAL_POLL_SECONDS, timeout),
            key=f"approval-v{version}",
        )
    except FlowPauseTimeout:
        # The server fails a run whose pause ran out at its next state change; this run still
        # has the answer to record, so it is set running again, past the expired pause.
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(flow_run.id, Running(), force=True)
        logger.warning("No answer within %s s: the champion is kept", timeout)
        return None


def _tagged_f1(registry: ModelRegistry, version: str | None) -> float | None:
    """A version's headline test F1 (binary, or macro for K classes) from its ``test.*`` tags."""
    if version is None:
        return None
    tags = registry.get_version(version=version).tags
    metrics = {
        name.removeprefix("test."): float(value)
        for name, value in tags.items()
        if name.startswith("test.") and value not in ("", "None")
    }
    return headline_f1(metrics)


@task(name="approve", **RETRY_SETTINGS)
def approve(
    registered: RegisterResult, answer: ApprovalAnswer | None, config: RetrainConfig
) -> RegisterResult:
    """Apply the reviewer's answer (None: none in time) to the pending version."""
    registry = ModelRegistry(config.registry.tracking_uri, config.registry.model_name)
    version = registered.version
    now = datetime.now(timezone.utc)
    with promotion_decision(registry):
        champion = registry.champion()
        said, reviewer, comment = (
            (answer.decision, answer.reviewer, answer.comment) if answer else (None, "", "")
        )
        decision = reviewed(
            registered.decision,
            said,
            reviewer,
            comment,
            now,
            str(champion.version) if champion is not None else None,
            config.registry.approval_timeout_seconds,
            version,
        )
        apply_decision(registry, version, decision, str(flow_run.id))
    get_run_logger().info("Approval: %s (%s)", decision.approval, decision.reason)
    result = registered.model_copy(update={"decision": decision})
    emit_gate_decision(result)
    return result


def settle_approval(
    registered: RegisterResult,
    config: RetrainConfig,
    baseline: BaselineResult | None,
    findings: list[Finding],
) -> RegisterResult:
    """The registration once a reviewer has answered, if it awaits one; else as it is."""
    if registered.decision.approval != "pending":
        return registered
    answer = request_approval(registered, config, baseline, findings)
    return approve(registered, answer, config)
