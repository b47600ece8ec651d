"""Alerts as code, end to end: the automations of deployments/automations.yaml, applied by
`retrain alerts apply` to a real `prefect server`, notify a real webhook on a new champion, a
data-gate stop, a failed run and a scheduled run that does not start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from servers import wait_for_alert

from rnn_retrain.interface.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.long
def test_applied_automations_alert_on_promotion_gate_stop_failure_and_a_late_run(
    team, webhook, tiny_config, tmp_path, demo_table, capsys
):
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    from rnn_retrain.deployments.serve import build_deployment, load_deployment_specs
    from rnn_retrain.flows.retrain import retrain

    url, received = webhook
    assert main(["alerts", "apply", "--webhook-url", url, "--late-after-minutes", "0.2"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert len(first) == 5 and all(line.startswith("created automation") for line in first)
    # Applying again updates the same five in place: no duplicates.
    assert main(["alerts", "apply", "--late-after-minutes", "0.2"]) == 0
    again = capsys.readouterr().out.splitlines()
    assert [line.split("(")[0] for line in again] == [
        line.split("(")[0].replace("created", "updated") for line in first
    ]
    with get_client(sync_client=True) as client:
        assert len(client.read_automations()) == 5

    first_model = retrain(tiny_config())
    promoted = wait_for_alert(received, "v1 is the new champion")
    assert first_model.registration.decision.reason in promoted["text"]
    assert "there was no previous champion" in promoted["text"]
    # Tiny models are near chance: at the default level, McNemar can find seed 2's model
    # significantly worse and keep v1. At a level nothing reaches, "not_worse" always promotes.
    second = retrain(
        tiny_config(
            seed=2, promotion_policy="not_worse", min_accuracy_gain=-1, significance_level=1e-300
        )
    )
    decision = second.registration.decision
    assert decision.promote
    promoted = wait_for_alert(received, "v2 is the new champion")
    assert f"Test accuracy {decision.challenger_accuracy} against" in promoted["text"]
    assert (
        f"McNemar: {decision.challenger_only_correct} test rows only the new model got right, "
        f"{decision.champion_only_correct} only the previous one, p = {decision.p_value}"
    ) in promoted["text"]

    # A run of the manual deployment, executed as a worker executes it, on data whose test rows
    # were copied from the train split: the data gate stops it.
    train, test = demo_table.slice(0, 240), demo_table.slice(240)
    test = pa.concat_tables([train.slice(0, 6), test.slice(6)])
    splits = pa.array(["train"] * train.num_rows + ["test"] * test.num_rows)
    leaky = tmp_path / "leaky.parquet"
    pq.write_table(pa.concat_tables([train, test]).append_column("split", splits), leaky)
    manual = next(s for s in load_deployment_specs() if s["name"] == "manual-retrain")
    manual_id = build_deployment(manual).apply()
    config = tiny_config(data=str(leaky)).model_dump(mode="json")
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(manual_id, parameters={"config": config})
    env = {**os.environ, **team.credentials, "PREFECT_API_URL": team.prefect_api}
    env["PREFECT__FLOW_RUN_ID"] = str(run.id)
    done = subprocess.run(
        [sys.executable, "-m", "prefect.engine"], env=env, capture_output=True, text=True
    )
    assert "leakage:" in done.stdout + done.stderr
    stopped = wait_for_alert(received, "the data gate stopped a run of review-sentiment")
    assert "leakage:" in stopped["text"]
    failed = wait_for_alert(received, f"manual-retrain run {run.name} ended Failed")
    assert "leakage:" in failed["text"]
    time.sleep(3)  # The prepare-data subflow failed too, but is not a deployment's run.
    assert sum("ended Failed" in alert["subject"] for alert in received) == 1

    # A scheduled run of a tagged deployment that no worker picks up.
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("retrain")
        deployment_id = client.create_deployment(
            flow_id=flow_id, name="no-worker", tags=["rnn-retrain"]
        )
        slot = datetime.now(timezone.utc) - timedelta(seconds=30)
        run = client.create_flow_run_from_deployment(
            deployment_id, state=Scheduled(scheduled_time=slot)
        )
    late = wait_for_alert(received, f"scheduled run {run.name} has not started")
    assert "Is a worker polling its work pool?" in late["text"]
