"""Data-triggered runs, end to end: the watcher sees new files in a folder and the retrain
deployment's trigger (deployments/prefect.yaml) starts one run on a real `prefect server`."""

from __future__ import annotations

import os
import time

import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def triggered_runs(client, deployment_id) -> list:
    """The deployment's runs, less those its cron schedule created."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    only = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    return [run for run in client.read_flow_runs(deployment_filter=only) if not run.auto_scheduled]


def settled_triggered_runs(client, deployment_id) -> list:
    """The deployment's triggered runs, once the first appeared and a second had time to."""
    deadline = time.monotonic() + 180  # The server's triggers service, on a busy machine.
    while not triggered_runs(client, deployment_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(5)  # Long enough for a second, wrong run to appear.
    return triggered_runs(client, deployment_id)


def test_files_landing_in_a_watched_folder_start_one_run_of_the_retrain_deployment(
    team, tmp_path, demo_table
):
    from prefect.client.orchestration import get_client

    from rnn_retrain.deployments.serve import build_deployment, load_deployment_specs, served_specs
    from rnn_retrain.flows.watch import watch_source
    from rnn_retrain.stages.watch import WatchSettings

    weekly = next(s for s in served_specs(load_deployment_specs()) if s["name"] == "weekly-retrain")
    deployment_id = build_deployment(weekly).apply()  # With its trigger, as `retrain serve` does.
    folder = tmp_path / "incoming"
    folder.mkdir()
    an_hour_ago = time.time() - 3600
    pq.write_table(demo_table.slice(0, 100), folder / "week-1.parquet")
    os.utime(folder / "week-1.parquet", (an_hour_ago, an_hour_ago))
    # Fresh files are 10 minutes from settling: the "still settling" look cannot race the clock.
    settings = WatchSettings(source=str(folder), settle_seconds=600)

    first = watch_source(settings)
    assert first.first_look and first.files == 1 and not first.start_run

    # Two files land together; while they are fresh, the watcher waits for them to settle.
    landed = [folder / "week-2.parquet", folder / "week-3.parquet"]
    for index, path in enumerate(landed):
        pq.write_table(demo_table.slice(100 * (index + 1), 100), path)
    settling = watch_source(settings)
    assert settling.settling == sorted(str(path) for path in landed)
    assert not settling.start_run
    for path in landed:
        os.utime(path, (an_hour_ago, an_hour_ago))
    settled = watch_source(settings)
    assert settled.start_run and settled.changed == sorted(str(path) for path in landed)
    unchanged = watch_source(settings)
    assert not unchanged.start_run and not unchanged.changed

    with get_client(sync_client=True) as client:
        runs = settled_triggered_runs(client, deployment_id)
    assert len(runs) == 1
    assert runs[0].parameters["config"]["source"] == {"data": str(folder)}
    assert runs[0].parameters["config"]["model"] == {"cell": "lstm"}
