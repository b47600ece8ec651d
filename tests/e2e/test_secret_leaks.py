"""No secret leaks: distinctive secret values planted where a team puts them, then a deployment
run with an alert and a promotion on the locked team servers, then a search for those values in
everything the run left. None may be found.

Planted: the locked servers' credentials (Prefect's auth string, the MLflow pipeline user's
password, in the worker's environment: tests/e2e/servers.py), a webhook URL with a token in its
path (`retrain alerts apply`, kept among the notification block's secret values), object-store
keys (the worker's AWS_* environment; the artifact root is on an S3-compatible server that they
open) and a database URL with a password (in a variable a worker holds for another tool).
Searched: the run's logs, parameters and artifacts, every file under the artifact root (Parquet
as its rows), the MLflow run's params and tags, the version's tags and model files, and the
payloads of every event since the test began.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from servers import MLFLOW_PIPELINE, PREFECT_AUTH, wait_for_alert
from test_team_promotion import run_deployment_as_a_worker

from rnn_retrain.interface.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

WEBHOOK_TOKEN = "hook-T0ken-4c2d9e"
AWS_KEYS = {"AWS_ACCESS_KEY_ID": "AKIALEAKCHECK7Q2", "AWS_SECRET_ACCESS_KEY": "aws-Secret-5e0b1f"}
DATABASE_URL = "postgresql://analytics:db-Pw-93c7aa@127.0.0.1:5432/warehouse"


def secrets() -> dict[str, str]:
    """Each planted value, and the forms it travels in (basic auth sends base64)."""
    planted = {
        "webhook token": WEBHOOK_TOKEN,
        "Prefect auth string": PREFECT_AUTH,
        "Prefect password": PREFECT_AUTH.split(":", 1)[1],
        "Prefect auth, base64": base64.b64encode(PREFECT_AUTH.encode()).decode(),
        "MLflow password": MLFLOW_PIPELINE[1],
        "MLflow basic auth, base64": base64.b64encode(":".join(MLFLOW_PIPELINE).encode()).decode(),
        "database password": "db-Pw-93c7aa",
    }
    return planted | AWS_KEYS


def found_in(texts: dict[str, str]) -> list[str]:
    """Where each planted value turns up: 'secret in place' lines (empty: no leak)."""
    return [
        f"{name} in {place}"
        for place, text in texts.items()
        for name, value in secrets().items()
        if value in text
    ]


def run_texts(flow_run_id: str, since: datetime) -> dict[str, str]:
    """What the Prefect server keeps of the run: logs, parameters, artifacts; every event."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.events.filters import EventFilter, EventOccurredFilter

    texts = {}
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        texts["flow run (parameters, state)"] = run.model_dump_json()
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200
        )
        texts["run logs"] = "\n".join(log.message for log in logs)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        texts["UI artifacts"] = "\n".join(artifact.model_dump_json() for artifact in artifacts)
        page = client.read_events(
            filter=EventFilter(occurred=EventOccurredFilter(since=since)), limit=50
        )
        events = list(page.events)
        while page.next_page:
            page = client.read_events_page(page.next_page)
            events += page.events
        texts["event payloads"] = "\n".join(event.model_dump_json() for event in events)
        texts["task runs"] = "\n".join(
            task.model_dump_json() for task in client.read_task_runs(limit=200)
        )
    return texts


def file_texts(root: str) -> dict[str, str]:
    """Every file under ``root`` (a folder or a filesystem URI): Parquet as its rows, anything
    else as its bytes."""
    import pyarrow.fs as pafs

    filesystem, base = pafs.FileSystem.from_uri(root if "://" in root else f"file://{root}")
    listing = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    texts = {}
    for info in sorted(listing, key=lambda info: info.path):
        if info.type != pafs.FileType.File:
            continue
        if info.path.endswith(".parquet"):
            table = pq.read_table(info.path, filesystem=filesystem)
            texts[info.path] = json.dumps(table.to_pylist(), default=str)
        else:
            with filesystem.open_input_stream(info.path) as stream:
                texts[info.path] = stream.read().decode("utf-8", errors="replace")
    return texts


def mlflow_texts(tracking_uri: str, folder: Path) -> dict[str, str]:
    """The MLflow run's params and tags, the version's tags, and its model files."""
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    texts = {}
    for version in client.search_model_versions("name = 'review-sentiment'"):
        run = client.get_run(version.run_id)
        texts[f"MLflow run {run.info.run_id} params and tags"] = json.dumps(
            {"params": run.data.params, "tags": run.data.tags, "metrics": run.data.metrics}
        )
        texts[f"version {version.version} tags"] = json.dumps(dict(version.tags))
        files = Path(
            download_artifacts(
                artifact_uri=f"models:/review-sentiment/{version.version}",
                dst_path=str(folder / f"v{version.version}"),
                tracking_uri=tracking_uri,
            )
        )
        texts.update(file_texts(str(files)))
    return texts


@pytest.mark.long
def test_no_planted_secret_reaches_anything_a_deployment_run_leaves(
    team, webhook, s3_root, tmp_path, tiny_config, monkeypatch
):
    from rnn_retrain.deployments.serve import build_deployment, load_deployment_specs

    url, received = webhook
    since = datetime.now(timezone.utc)
    assert main(["alerts", "apply", "--webhook-url", f"{url}/{WEBHOOK_TOKEN}"]) == 0
    manual = next(s for s in load_deployment_specs() if s["name"] == "manual-retrain")
    deployment_id = build_deployment(manual).apply()
    for name, value in AWS_KEYS.items():  # The object store's keys (any keys open moto's).
        monkeypatch.setenv(name, value)
    config = tiny_config(artifact_root=s3_root, tracking_uri=team.tracking_uri)
    # The worker's environment holds every secret a team's worker holds.
    s3 = {name: value for name, value in os.environ.items() if name.startswith("AWS_")}
    worker = {**team.env, **s3, "ANALYTICS_DATABASE_URL": DATABASE_URL}
    flow_run_id = run_deployment_as_a_worker(
        dataclasses.replace(team, env=worker),
        deployment_id,
        config.model_dump(mode="json"),
        tmp_path / "worker",
    )
    alert = wait_for_alert(received, "v1 is the new champion")  # The webhook was reached.

    texts = run_texts(flow_run_id, since)
    texts |= file_texts(s3_root)
    assert sum(place.endswith(".parquet") for place in texts) >= 5  # The run's stages wrote there.
    texts |= mlflow_texts(team.tracking_uri, tmp_path / "downloaded")
    texts["the alert"] = json.dumps(alert)
    assert texts["run logs"] and texts["event payloads"] and len(texts) > 10
    assert found_in(texts) == []
