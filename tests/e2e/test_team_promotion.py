"""Two machines, one registry: promotions started together on two hosts are serialised by the
Prefect server's global concurrency limit (PostgreSQL-backed Prefect and MLflow servers)."""

from __future__ import annotations

import subprocess

import pytest
from servers import BIN

from rnn_retrain.orchestration.promotion import limit_name
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.results import GateDecision
from rnn_retrain.stages.register import DECISION_TAG

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TINY = ["--demo-size", "200", "--epochs", "1", "--maxlen", "20", "--units", "4", "--no-xla"]
TINY += ["--min-accuracy", "0"]


def test_two_hosts_promoting_together_take_turns_through_the_servers_limit(team, tmp_path):
    runs = []
    for host in ("host-a", "host-b"):
        # Each "host" has its own home (so no shared file lock) and its own artifact root.
        env = {**team.env, "RETRAIN_HOME": str(tmp_path / host)}
        command = [str(BIN / "retrain"), "run", *TINY, "--seed", str(len(runs) + 1)]
        command += ["--artifact-root", str(tmp_path / host / "artifacts")]
        runs.append(
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        )
    outputs = [run.communicate(timeout=600)[0].decode() for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-3000:]
        assert "Promotion decision held by the Prefect global concurrency limit" in output

    registry = ModelRegistry(team.tracking_uri, "review-sentiment")
    decisions = {
        str(version.version): GateDecision.model_validate_json(version.tags[DECISION_TAG])
        for version in registry.versions()
    }
    assert sorted(decisions) == ["1", "2"]
    # The second decision saw the first one's outcome: one first model, one judged against it.
    firsts = [version for version, d in decisions.items() if d.champion_version is None]
    assert len(firsts) == 1, {version: d.reason for version, d in decisions.items()}
    later = decisions["2" if firsts == ["1"] else "1"]
    assert later.champion_version == firsts[0] and later.p_value is not None

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(limit_name(registry))
    assert limit.limit == 1 and limit.active_slots == 0


def run_deployment_as_a_worker(team, deployment_id, config: dict, home) -> str:
    """Create a run of the deployment and execute it as a worker does, on a machine whose own
    environment names no registry; return the flow run's id."""
    import os

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(deployment_id, parameters={"config": config})
    env = {key: value for key, value in team.env.items() if key != "MLFLOW_TRACKING_URI"}
    env.update(RETRAIN_HOME=str(home), PREFECT__FLOW_RUN_ID=str(run.id), PATH=os.environ["PATH"])
    done = subprocess.run(
        [str(BIN / "python"), "-m", "prefect.engine"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return str(run.id)


def run_log(flow_run_id: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        only = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        return "\n".join(log.message for log in client.read_logs(log_filter=only, limit=200))


@pytest.mark.long
def test_deployment_runs_take_the_registry_from_the_teams_variable_and_warn_without_it(
    team, tmp_path, tiny_config
):
    from prefect.variables import Variable

    from rnn_retrain.deployments.serve import build_deployment, load_deployment_specs
    from rnn_retrain.orchestration.shared_settings import TRACKING_URI_VARIABLE

    manual = next(s for s in load_deployment_specs() if s["name"] == "manual-retrain")
    deployment_id = build_deployment(manual).apply()
    config = tiny_config().model_dump(mode="json")
    assert config["registry"]["tracking_uri"] == ""

    alone = run_deployment_as_a_worker(team, deployment_id, config, tmp_path / "worker-1")
    assert "registers its model in the local SQLite store sqlite:///" in run_log(alone)
    team_registry = ModelRegistry(team.tracking_uri, "review-sentiment")
    assert team_registry.versions() == []

    Variable.set(TRACKING_URI_VARIABLE, team.tracking_uri)
    shared = run_deployment_as_a_worker(team, deployment_id, config, tmp_path / "worker-2")
    log = run_log(shared)
    assert f"tracking_uri from the Prefect Variable {TRACKING_URI_VARIABLE}" in log
    assert "local SQLite store" not in log
    [version] = team_registry.versions()
    assert version.tags["prefect.flow_run_id"] == shared
