"""Approval before promotion on the team's servers: the run pauses with a form, the applied
automation asks for a reviewer, and the answer (approve, reject, or none in time) ends in the
registry, the champion's history and the event, with the promotion slot free while it waits."""

from __future__ import annotations

import contextvars
import json
import threading
import time
from uuid import UUID

import pytest
from servers import wait_for_alert

from rnn_retrain.interface.cli import main
from rnn_retrain.registry.champion import ChampionHistory
from rnn_retrain.registry.versions import ModelRegistry

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Any challenger above the floor would be promoted: not worse, at a level nothing reaches.
PROMOTES_ANY = {
    "promotion_policy": "not_worse",
    "min_accuracy_gain": -1,
    "significance_level": 1e-300,
}


def paused_run(client, timeout: float = 120):
    """The one flow run of this test's server that waits Paused."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState

    paused = FlowRunFilter(state=FlowRunFilterState(type={"any_": ["PAUSED"]}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = client.read_flow_runs(flow_run_filter=paused)
        if runs:
            return runs[0]
        time.sleep(0.5)
    raise AssertionError(f"no paused run in {timeout} s")


def run_input(client, run_id, key: str, timeout: float = 30):
    """A paused run's input (its form's description or schema), once the run has saved it:
    the run enters Paused, then writes them."""
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(client.read_flow_run_input(run_id, key))
        except (ObjectNotFound, PrefectHTTPStatusError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def event_of_run(client, name: str, run_id: str, timeout: float = 60) -> dict:
    """The payload of the event ``name`` that flow run ``run_id`` emitted, read through the
    server's REST API as the UI reads it, once the server has stored it."""
    run = f"prefect.flow-run.{run_id}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client._client.post(
            "/events/filter", json={"filter": {"event": {"name": [name]}}, "limit": 50}
        )
        response.raise_for_status()
        for event in response.json()["events"]:
            if run in {related["prefect.resource.id"] for related in event["related"]}:
                return event["payload"]
        time.sleep(0.5)
    raise AssertionError(f"no {name} event of run {run_id} in {timeout} s")


@pytest.mark.long
@pytest.mark.parametrize("answer", ["approve", "reject", None])
def test_a_promotion_waits_for_a_reviewer_in_the_prefect_ui(team, webhook, tiny_config, answer):
    from prefect.client.orchestration import get_client

    from rnn_retrain.flows.retrain import retrain
    from rnn_retrain.orchestration.promotion import limit_name

    url, received = webhook
    assert main(["alerts", "apply", "--webhook-url", url]) == 0
    registry = ModelRegistry("", "review-sentiment")
    assert retrain(tiny_config(seed=1)).registration.decision.promote  # v1, no approval asked.
    timeout = 10 if answer is None else 600
    config = tiny_config(
        seed=2, approval="required", approval_timeout_seconds=timeout, **PROMOTES_ANY
    )
    outcome: dict = {}
    # The flow runs in a thread, in this test's context: its Prefect settings name the server.
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(lambda: outcome.update(summary=retrain(config)),)
    )
    thread.start()
    run = None
    try:
        with get_client(sync_client=True) as client:
            run = paused_run(client)
            # The form the UI draws on Resume: the schema of the answer and the figures.
            keyset = run.state.state_details.run_input_keyset
            form = run_input(client, run.id, keyset["description"])
            schema = run_input(client, run.id, keyset["schema"])
            assert "Make review-sentiment v2 the champion?" in form
            assert "| test accuracy |" in form and "**McNemar**" in form and "**Baseline**" in form
            # The version in the MLflow UI of the team's tracking server.
            link = f"{team.tracking_uri}/#/models/review-sentiment/versions/2"
            assert "**Data gate**" in form and f"[review-sentiment v2]({link})" in form
            assert {"decision", "reviewer", "comment"} <= set(schema["properties"])
            # Nothing moved yet, and the promotion slot is free for other runs while it waits.
            assert str(registry.champion().version) == "1"
            assert registry.get_version(version=2).tags["gate.decision"] == "awaiting approval"
            limit = client.read_global_concurrency_limit_by_name(limit_name(registry))
            assert limit.active_slots == 0
            asked = wait_for_alert(received, "review-sentiment v2 waits for approval")
            assert "for a person to approve review-sentiment v2 as champion" in asked["text"]
            assert link in asked["text"]
            if answer == "approve":
                # An answer longer than the tags it goes into can hold is refused by the server.
                refused = client.resume_flow_run(
                    run.id,
                    run_input={"decision": "approve", "reviewer": "Ada", "comment": "x" * 2001},
                )
                assert refused.status.value == "REJECT"
                assert "'comment'" in refused.details.reason
                assert refused.details.reason.endswith("is too long")
            if answer is not None:
                # What the UI's Resume form posts: the answer as the run's input.
                client.resume_flow_run(
                    run.id,
                    run_input={"decision": answer, "reviewer": "Ada", "comment": "read the errors"},
                )
        thread.join(timeout=300)
    finally:
        if thread.is_alive() and run is not None:  # A failed check: let the waiting run end.
            with get_client(sync_client=True) as client:
                client.resume_flow_run(run.id, run_input={"decision": "reject", "reviewer": "-"})
        thread.join(timeout=60)
    decision = outcome["summary"].registration.decision
    tags = registry.get_version(version=2).tags
    with get_client(sync_client=True) as client:
        final = client.read_flow_run(UUID(outcome["summary"].run_id)).state
        event_name = (
            "rnn-retrain.model.promoted" if answer == "approve" else "rnn-retrain.model.kept"
        )
        event = event_of_run(client, event_name, outcome["summary"].run_id)
    assert final.is_completed()  # A wait that ran out ends the run normally, champion kept.
    assert event["version"] == "2" and event["approval"] == {
        "status": decision.approval,
        "reviewer": decision.reviewer,
        "comment": decision.reviewer_comment,
        "at": decision.reviewed_at,
    }
    assert tags["approval.status"] == decision.approval and tags["approval.at"]
    if answer == "approve":
        assert decision.promote and decision.approval == "approved"
        assert str(registry.champion().version) == "2"
        assert tags["approval.reviewer"] == "Ada" and tags["approval.comment"] == "read the errors"
        move = ChampionHistory(registry).moves()[-1]
        assert move.version == "2" and move.reason.startswith("approved by Ada: read the errors")
        assert wait_for_alert(received, "v2 is the new champion")
    elif answer == "reject":
        assert not decision.promote and decision.approval == "rejected"
        assert str(registry.champion().version) == "1"
        assert tags["gate.reason"] == "rejected by Ada: read the errors"
    else:
        assert not decision.promote and decision.approval == "timed_out"
        assert str(registry.champion().version) == "1"
        assert tags["gate.reason"].startswith("no approval within 10 s; champion kept")
        assert tags["approval.reviewer"] == ""
