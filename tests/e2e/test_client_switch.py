"""This process's Prefect events follow the API it is pointed at, even after the test harness.

Prefect keeps one events worker per client type, bound to the API URL of the moment it
started: a worker that first sent to the session's test harness would go on sending there after
a test points the client at the team's server, and that test's automations would never see its
events. The `team` fixture drains the workers when it switches (tests/e2e/conftest.py).
"""

from __future__ import annotations

import time
import uuid

import pytest
from servers import PREFECT_AUTH

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def worker_on_the_harness(prefect_server) -> None:
    """An events worker started, and bound, while the client points at the test harness."""
    from prefect.events import emit_event

    assert emit_event("rnn-retrain.test.harness", resource={"prefect.resource.id": "harness"})


def received(api_url: str, resource_id: str) -> list:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.events.filters import EventFilter, EventResourceFilter

    only = EventFilter(resource=EventResourceFilter(id=[resource_id]))
    with SyncPrefectClient(api_url, auth_string=PREFECT_AUTH) as client:
        return client.read_events(filter=only, limit=10).events


@pytest.mark.long
def test_events_reach_the_server_the_client_points_at(worker_on_the_harness, team):
    from prefect.events import emit_event
    from prefect.settings import PREFECT_API_URL

    assert PREFECT_API_URL.value() == team.prefect_api
    resource = f"rnn-retrain.test.{uuid.uuid4().hex}"
    emit_event("rnn-retrain.test.team", resource={"prefect.resource.id": resource})
    deadline = time.monotonic() + 60
    while not (found := received(team.prefect_api, resource)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [event.event for event in found] == ["rnn-retrain.test.team"]
