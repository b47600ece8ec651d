"""Fixtures of the end-to-end tests: the team's servers on PostgreSQL (see servers.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from servers import PREFECT_AUTH, TeamServers, slate, team_servers, webhook_receiver


def drain_prefect_workers() -> None:
    """Send what this process's event and log workers hold, and stop them.

    Each worker binds to the API URL of the moment it starts (Prefect caches one per client
    type, not per URL): a worker started against one server keeps sending to it after the
    settings point elsewhere. Stopping them lets the next event or log start a new worker on the
    server the settings name now.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    EventsWorker.drain_all(timeout=30)
    APILogWorker.drain_all(timeout=30)


@contextlib.contextmanager
def prefect_api(url: str, auth_string: str = PREFECT_AUTH) -> Iterator[None]:
    """This process's Prefect client, events and logs on the (locked) server at ``url``, with
    ``auth_string``, then back."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    # The workers of the server before (the session's test harness) stop here, having sent
    # their queue there; those of ``url`` stop at the end, while that server still answers.
    drain_prefect_workers()
    with temporary_settings({PREFECT_API_URL: url, PREFECT_API_AUTH_STRING: auth_string}):
        try:
            yield
        finally:
            drain_prefect_workers()


@pytest.fixture(scope="session")
def team_session(tmp_path_factory) -> Iterator[TeamServers]:
    """Both servers, started once for the session (each start migrates two new databases)."""
    with team_servers(tmp_path_factory.mktemp("team")) as servers:
        yield servers


@pytest.fixture
def team_slate(team_session, tmp_path) -> TeamServers:
    """The session's servers, cleared of what earlier tests left; a client home of this test's."""
    return slate(team_session, tmp_path)


@pytest.fixture
def team(team_slate, monkeypatch) -> Iterator[TeamServers]:
    """Both servers, with this process's Prefect client and MLflow pointed at them, as the
    pipeline's user."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", team_slate.tracking_uri)
    for name, value in team_slate.credentials.items():
        if name.startswith("MLFLOW_"):
            monkeypatch.setenv(name, value)
    with prefect_api(team_slate.prefect_api):
        yield team_slate


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A loopback webhook for notifications: its URL and every JSON body it received."""
    with webhook_receiver() as endpoint:
        yield endpoint
