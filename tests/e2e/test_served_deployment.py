"""End to end: a real Prefect server, `retrain serve`, and runs created through the REST API.

This is what a user does from the UI: start a custom run of a served deployment with their own
parameters, watch it complete, and read its artifacts. Everything started here is stopped here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from servers import BIN, MLFLOW_PIPELINE, PREFECT_AUTH, as_mlflow_user, slate, start, stop

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# XLA off: compiling the training step costs more than the tiny fit and is no subject here.
TINY_RUN = {
    "source": {"demo_size": 300},
    "training": {"epochs": 1, "xla": False},
    "text": {"maxlen": 30},
    "model": {"units": 8, "embedding_dim": 8},
}


def wait_for(check, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def served(
    tmp_path_factory, team_session
) -> Iterator[tuple[httpx.Client, dict[str, str], Path, str]]:
    root = tmp_path_factory.mktemp("e2e")
    servers = slate(team_session, root)
    env = {
        **servers.env,
        "PREFECT_UI_API_URL": servers.prefect_api,
        "RETRAIN_HOME": str(root / "home"),
    }
    serve = start([str(BIN / "retrain"), "serve"], env, root / "serve.log")
    # The UI's and a script's way in: the locked server's user and password, as basic auth.
    user, password = PREFECT_AUTH.split(":", 1)
    client = httpx.Client(
        base_url=team_session.prefect_api, auth=httpx.BasicAuth(user, password), timeout=30
    )
    try:
        deployments = wait_for(lambda: _deployments(client), 180, "the served deployments")
        yield client, deployments, root, team_session.tracking_uri
    finally:
        client.close()
        stop(serve)


def _deployments(client: httpx.Client) -> dict[str, str] | None:
    found = {
        item["name"]: item["id"] for item in client.post("/deployments/filter", json={}).json()
    }
    return found if {"weekly-retrain", "manual-retrain"} <= set(found) else None


def create_run(client: httpx.Client, deployment_id: str, config: dict) -> httpx.Response:
    # A busy server (SQLite under load on 2 cores) may answer 503; Prefect's own client retries
    # those, and so does this one.
    for attempt in range(6):
        response = client.post(
            f"/deployments/{deployment_id}/create_flow_run", json={"parameters": {"config": config}}
        )
        if response.status_code not in (429, 503):
            return response
        time.sleep(2**attempt)
    return response


def test_weekly_deployment_is_scheduled_with_its_time_zone(served):
    client, deployments, _, _ = served
    weekly = client.get(f"/deployments/{deployments['weekly-retrain']}").json()
    assert [item["schedule"]["cron"] for item in weekly["schedules"]] == ["0 3 * * 1"]
    assert [item["schedule"]["timezone"] for item in weekly["schedules"]] == ["UTC"]
    assert weekly["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    assert weekly["global_concurrency_limit"]["limit"] == 1


def test_the_server_rejects_invalid_parameters_naming_the_field(served):
    client, deployments, _, _ = served
    response = create_run(client, deployments["manual-retrain"], {"text": {"maxlen": 0}})
    assert response.status_code == 409
    assert "config.text.maxlen" in response.json()["detail"]
    response = create_run(client, deployments["manual-retrain"], {"maxlen_typo": 3})
    assert response.status_code == 409 and "maxlen_typo" in response.json()["detail"]


@pytest.mark.long
def test_custom_runs_complete_one_at_a_time_with_model_and_ui_artifacts(served):
    client, deployments, root, tracking_uri = served
    first = create_run(client, deployments["manual-retrain"], TINY_RUN)
    second_run = {**TINY_RUN, "training": {**TINY_RUN["training"], "seed": 7}}
    second = create_run(client, deployments["manual-retrain"], second_run)
    assert first.status_code == second.status_code == 201
    first_id, second_id = first.json()["id"], second.json()["id"]

    def states() -> tuple[str, str]:
        return tuple(
            client.get(f"/flow_runs/{run_id}").json()["state_name"]
            for run_id in (first_id, second_id)
        )

    def both_done() -> bool:
        return all(state in {"Completed", "Failed", "Crashed", "Cancelled"} for state in states())

    wait_for(both_done, 600, "both runs to finish", interval=2)
    assert states() == ("Completed", "Completed"), (root / "serve.log").read_text()[-3000:]
    # The deployment's concurrency limit of 1: the two runs never ran at the same time.
    spans = sorted(
        (datetime.fromisoformat(run["start_time"]), datetime.fromisoformat(run["end_time"]))
        for run in (client.get(f"/flow_runs/{run_id}").json() for run_id in (first_id, second_id))
    )
    assert spans[0][1] <= spans[1][0]

    parameters = client.get(f"/flow_runs/{first_id}").json()["parameters"]
    assert parameters["config"]["source"]["demo_size"] == 300
    # The data stages run in the prepare-data subflow: its artifacts belong to that run.
    subflows = client.post(
        "/flow_runs/filter",
        json={"flow_runs": {"parent_flow_run_id": {"any_": [first_id]}}},
    ).json()
    assert [run["name"] for run in subflows] and len(subflows) == 1
    run_ids = [first_id, subflows[0]["id"]]
    artifacts = client.post(
        "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": run_ids}}}
    ).json()
    assert {item["key"] for item in artifacts} == {
        "retrain-data-gate",
        "retrain-test-metrics",
        "retrain-run-report",
        "retrain-training-progress",
    }
    report = next(item for item in artifacts if item["key"] == "retrain-run-report")["data"]
    assert "## Champion / challenger decision" in report

    registry = MlflowClient(tracking_uri=tracking_uri)
    with as_mlflow_user(MLFLOW_PIPELINE):
        versions = registry.search_model_versions("name = 'review-sentiment'")
    assert {version.tags["prefect.flow_run_id"] for version in versions} == {first_id, second_id}
    assert {version.tags["prefect.deployment"] for version in versions} == {"manual-retrain"}
