"""Fixtures of the end-to-end tests: the team's servers on PostgreSQL (see servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers import TeamServers, team_servers


@pytest.fixture
def team(tmp_path, monkeypatch) -> Iterator[TeamServers]:
    """Both servers, with this process's Prefect client and MLflow pointed at them."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with team_servers(tmp_path) as servers:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", servers.tracking_uri)
        with temporary_settings({PREFECT_API_URL: servers.prefect_api}):
            yield servers
