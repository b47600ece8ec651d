"""Fixtures of the end-to-end tests: the team's servers on PostgreSQL (see servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers import TeamServers, team_servers


@pytest.fixture
def team(tmp_path, monkeypatch) -> Iterator[TeamServers]:
    """Both servers, with this process's Prefect client and MLflow pointed at them."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with team_servers(tmp_path) as servers:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", servers.tracking_uri)
        with temporary_settings({PREFECT_API_URL: servers.prefect_api}):
            yield servers
            # Send this test's queued events and logs while their server still answers: a
            # worker left with items for a stopped server would hang the next drain (the
            # session's test harness drains every worker when it stops).
            EventsWorker.drain_all(timeout=30)
            APILogWorker.drain_all(timeout=30)
