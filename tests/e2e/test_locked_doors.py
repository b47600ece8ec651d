"""The team's servers locked (Prefect basic auth, MLflow's basic-auth app, tests/e2e/servers.py):
each refuses a client without credentials or with wrong ones, `retrain` says so in one line
naming the server and what to set (exit 5), and with the pipeline's credentials the registry
commands work."""

from __future__ import annotations

import json

import httpx
import pytest
from servers import MLFLOW_PIPELINE, PREFECT_AUTH

from rnn_retrain.errors import EXIT_UNAVAILABLE
from rnn_retrain.interface.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def status(url: str, auth: tuple[str, str] | None) -> int:
    return httpx.get(url, auth=auth, timeout=30).status_code


def test_each_server_refuses_a_client_without_or_with_wrong_credentials(team_session):
    prefect = f"{team_session.prefect_api}/admin/version"
    mlflow = f"{team_session.tracking_uri}/api/2.0/mlflow/experiments/search?max_results=1"
    user, password = PREFECT_AUTH.split(":", 1)
    assert status(prefect, None) == 401
    assert status(prefect, (user, "wrong")) == 401
    assert status(prefect, (user, password)) == 200
    assert status(mlflow, None) == 401
    assert status(mlflow, (MLFLOW_PIPELINE[0], "wrong")) == 401
    assert status(mlflow, MLFLOW_PIPELINE) == 200
    # Health probes answer anyone (a load balancer's or Kubernetes' checks).
    assert status(f"{team_session.prefect_api}/health", None) == 200
    assert status(f"{team_session.tracking_uri}/health", None) == 200


def refused(capsys, arguments: list[str]) -> str:
    """The one line `retrain` printed for a refused command (exit 5, no traceback)."""
    assert main(arguments) == EXIT_UNAVAILABLE
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_retrain_names_the_server_and_what_to_set(team, tiny_config, monkeypatch, capsys):
    from prefect.settings import PREFECT_API_AUTH_STRING, temporary_settings

    # With the pipeline's credentials: a model, then the registry's commands.
    tiny = tiny_config()
    assert main(["run", "--demo-size", "200", "--epochs", "1", "--maxlen", "20", "--units", "4",
                 "--embedding-dim", "4", "--min-accuracy", "0", "--no-xla",
                 "--artifact-root", tiny.registry.artifact_root, "--json"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [version["version"] for version in listed["versions"]] == ["1"]
    assert main(["gc", "--artifact-root", tiny.registry.artifact_root, "--dry-run"]) == 0
    capsys.readouterr()

    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    line = refused(capsys, ["models", "list"])
    assert line == (
        f"error: tracking server {team.tracking_uri} requires credentials (401): set "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", MLFLOW_PIPELINE[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
    line = refused(capsys, ["models", "show", "--model-version", "1"])
    assert line == (
        f"error: tracking server {team.tracking_uri} refused the credentials (401): user "
        "'pipeline' or its password is not known there"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", MLFLOW_PIPELINE[1])

    with temporary_settings({PREFECT_API_AUTH_STRING: None}):
        line = refused(capsys, ["alerts", "apply"])
    assert line == (
        f"error: Prefect server {team.prefect_api} requires credentials (401): set "
        "PREFECT_API_AUTH_STRING to the user:password it was started with "
        "(PREFECT_SERVER_API_AUTH_STRING)"
    )
    with temporary_settings({PREFECT_API_AUTH_STRING: "retrain-team:guess"}):
        line = refused(capsys, ["run", "--demo-size", "200", "--epochs", "1"])
    assert line.startswith(
        f"error: Prefect server {team.prefect_api} refused PREFECT_API_AUTH_STRING"
    )
