"""Prefect events the pipeline emits, for automations (alerts, triggers) to react to.

Each event names the registered model as its resource (``rnn-retrain.model.<name>``); emitted
inside a flow or task run, Prefect relates it to that run, its flow, deployment and tags, so an
automation can match on any of them. The payloads carry the numbers an on-call engineer needs to
read the alert without opening the UI: the version, both accuracies, the McNemar figures and the
reason. `deployments/automations.yaml` holds the automations that notify on them.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from prefect.events import emit_event

from rnn_retrain.results import Finding, GateDecision, RegisterResult
from rnn_retrain.stages.drift import drifted
from rnn_retrain.store.artifacts import ArtifactRef

logger = logging.getLogger(__name__)

PROMOTED = "rnn-retrain.model.promoted"
KEPT = "rnn-retrain.model.kept"
APPROVAL_REQUESTED = "rnn-retrain.model.approval-requested"
DATA_GATE_STOPPED = "rnn-retrain.data-gate.stopped"
RUN_FAILED = "rnn-retrain.run.failed"
SOURCE_CHANGED = "rnn-retrain.source.changed"
DATA_DRIFTED = "rnn-retrain.data.drifted"


# The most changed paths a ``source.changed`` event names; its ``changed_count`` has them all.
CHANGED_PATHS_IN_EVENT = 20
# The most characters of a failed run's reason an event carries: a state message is an
# exception's text, which can run to megabytes (a validation error quoting its input), past
# Prefect's event size limit; the whole of it stays in the run's log.
REASON_IN_EVENT = 2000


def model_resource(model_name: str) -> dict[str, str]:
    """The resource every model event is about."""
    return {
        "prefect.resource.id": f"rnn-retrain.model.{model_name}",
        "prefect.resource.name": model_name,
    }


def decision_payload(decision: GateDecision) -> dict[str, Any]:
    """The gate's numbers, as an event payload."""
    return {
        "reason": decision.reason,
        "policy": decision.policy,
        "challenger_accuracy": decision.challenger_accuracy,
        "champion_version": decision.champion_version,
        "champion_accuracy": decision.champion_accuracy,
        "accuracy_gain": decision.accuracy_gain,
        "mcnemar": {
            "challenger_only_correct": decision.challenger_only_correct,
            "champion_only_correct": decision.champion_only_correct,
            "p_value": decision.p_value,
        },
        # With approval required: the reviewer's answer ("approved", "rejected", "timed_out").
        "approval": {
            "status": decision.approval,
            "reviewer": decision.reviewer,
            "comment": decision.reviewer_comment,
            "at": decision.reviewed_at,
        },
    }


def _emit(
    event: str,
    resource: dict[str, str],
    payload: dict[str, Any],
    related: list[dict[str, str]] | None = None,
) -> None:
    # An alert that cannot be sent must not fail the run it reports on: Prefect's event client
    # already queues and retries; anything it still raises is logged, not propagated.
    try:
        emit_event(event=event, resource=resource, payload=payload, related=related)
    except Exception as error:  # noqa: BLE001 - see above
        logger.warning("Could not emit the %s event: %s", event, error)


def emit_gate_decision(registered: RegisterResult) -> None:
    """``rnn-retrain.model.promoted`` or ``rnn-retrain.model.kept``, with the gate's numbers."""
    decision = registered.decision
    payload = {
        "model_name": registered.model_name,
        "version": registered.version,
        "mlflow_run_id": registered.mlflow_run_id,
        "tracking_uri": registered.tracking_uri,
        **decision_payload(decision),
    }
    resource = model_resource(registered.model_name)
    _emit(PROMOTED if decision.promote else KEPT, resource, payload)


def emit_approval_requested(registered: RegisterResult, deadline: str, link: str) -> None:
    """``rnn-retrain.model.approval-requested``: a run waits for a reviewer, until ``deadline``."""
    payload = {
        "model_name": registered.model_name,
        "version": registered.version,
        "deadline": deadline,
        "mlflow": link,
        **decision_payload(registered.decision),
    }
    _emit(APPROVAL_REQUESTED, model_resource(registered.model_name), payload)


def emit_data_drifted(
    model_name: str, version: str, rows: int, findings: list[Finding], report: ArtifactRef
) -> None:
    """``rnn-retrain.data.drifted``: scored reviews differ from the model's data (`stages.drift`)."""
    payload = {
        "model_name": model_name,
        "version": version,
        "rows": rows,
        "drifted": drifted(findings),
        "figures": {
            finding.check: {"value": finding.value, "limit": finding.limit} for finding in findings
        },
        "report": report.uri,
    }
    _emit(DATA_DRIFTED, model_resource(model_name), payload)


def emit_data_gate_stopped(model_name: str, message: str, errors: list[dict[str, Any]]) -> None:
    """``rnn-retrain.data-gate.stopped``: the checks that failed and the one-line reason."""
    _emit(DATA_GATE_STOPPED, model_resource(model_name), {"reason": message, "errors": errors})


def emit_run_failed(model_name: str, flow_name: str, state_name: str, message: str) -> None:
    """``rnn-retrain.run.failed``: a retrain, sweep or score run that ended in failure, and why."""
    _emit(
        RUN_FAILED, model_resource(model_name), run_failed_payload(flow_name, state_name, message)
    )


def run_failed_payload(flow_name: str, state_name: str, message: str) -> dict[str, Any]:
    """The event's payload: the flow, its final state, and the first `REASON_IN_EVENT`
    characters of why."""
    if len(message) > REASON_IN_EVENT:
        message = message[: REASON_IN_EVENT - 1] + "…"
    return {"flow": flow_name, "state": state_name, "reason": message}


def emit_source_changed(
    source: str, fingerprint: str, changed: list[str], files: int, model_name: str
) -> None:
    """``rnn-retrain.source.changed``: new or changed files in a watched training source."""
    resource = {
        "prefect.resource.id": f"rnn-retrain.source.{fingerprint_key(source)}",
        "prefect.resource.name": source,
    }
    related = model_resource(model_name) | {"prefect.resource.role": "model"}
    _emit(
        SOURCE_CHANGED,
        resource,
        source_changed_payload(source, fingerprint, changed, files),
        [related],
    )


def source_changed_payload(
    source: str, fingerprint: str, changed: list[str], files: int
) -> dict[str, Any]:
    """The event's payload: the first `CHANGED_PATHS_IN_EVENT` changed paths and their count.

    A folder re-copied whole changes every file: thousands of paths would outgrow Prefect's
    event size limit (``PREFECT_EVENTS_MAXIMUM_SIZE_BYTES``) and say nothing an operator reads.
    """
    return {
        "source": source,
        "fingerprint": fingerprint,
        "changed": changed[:CHANGED_PATHS_IN_EVENT],
        "changed_count": len(changed),
        "files": files,
    }


def fingerprint_key(source: str) -> str:
    """A short, stable name for a source, safe in a resource id and a Prefect Variable name."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def report_failed_run(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook (on_failure, on_crashed): emit ``rnn-retrain.run.failed``.

    A process that dies outright cannot run this hook; the automations also match Prefect's own
    ``prefect.flow-run.Crashed`` event, which the server emits when it notices.
    """
    config = flow_run.parameters.get("config")
    emit_run_failed(model_name_of(config), flow.name, state.name, state.message or "")


def model_name_of(config: Any) -> str:
    """The registered model a run's ``config`` parameter names: a config model, or its JSON form
    (sectioned), as the flow run's parameters hold it."""
    from rnn_retrain.config.sections import RegistrySettings

    registry = getattr(config, "registry", config)  # The score flow's config names it directly.
    if isinstance(getattr(registry, "model_name", None), str):
        return registry.model_name
    if isinstance(config, dict):
        section = config.get("registry", config)
        if isinstance(section, dict) and isinstance(section.get("model_name"), str):
            return section["model_name"]
    return RegistrySettings().model_name
