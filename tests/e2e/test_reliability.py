"""Load and faults on the team set-up (locked Prefect and MLflow servers on PostgreSQL).

- Six deployment runs started at once all complete; every version gets a decision, and the
  promotion limit (one slot per model and registry) makes the decisions take turns.
- The Prefect server restarted while a run trains: what the run does, and the same command after.
- The MLflow server down at register time: one line naming it (exit 5), the champion untouched,
  and the same command registers once the server is back.

docs/reliability.md gives the figures and the commands that cause each fault.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest
from servers import BIN, TeamServers, team_servers

from rnn_retrain.errors import EXIT_UNAVAILABLE
from rnn_retrain.registry.champion import ChampionHistory
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.results import GateDecision
from rnn_retrain.stages.register import DECISION_TAG

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TINY = ["--demo-size", "200", "--epochs", "1", "--maxlen", "20", "--units", "4", "--no-xla"]
# Every later model may take the alias: promotions then contend for the limit.
PROMOTES_ANY = [
    "--min-accuracy",
    "0",
    "--promotion-policy",
    "not_worse",
    "--min-accuracy-gain",
    "-1",
]
# Long enough to be caught training (several epochs of a small network on 2,000 reviews).
TRAINS_A_WHILE = ["--demo-size", "2000", "--epochs", "6", "--maxlen", "60", "--units", "8"]
TRAINS_A_WHILE += ["--no-xla", "--early-stopping-patience", "6", *PROMOTES_ANY]


def decisions(registry: ModelRegistry) -> dict[str, GateDecision]:
    return {
        str(version.version): GateDecision.model_validate_json(version.tags[DECISION_TAG])
        for version in registry.versions()
        if version.tags.get(DECISION_TAG, "").startswith("{")
    }


@pytest.mark.long
def test_six_deployment_runs_at_once_complete_and_take_turns_to_promote(team, tmp_path):
    from prefect.client.orchestration import get_client

    from rnn_retrain.config.retrain import RetrainConfig
    from rnn_retrain.deployments.serve import build_deployment, load_deployment_specs
    from rnn_retrain.orchestration.promotion import limit_name

    # manual-retrain, without its one-run-at-a-time limit: six runs of it go at once.
    manual = next(s for s in load_deployment_specs() if s["name"] == "manual-retrain")
    spec = {key: value for key, value in manual.items() if key != "concurrency_limit"}
    deployment_id = build_deployment({**spec, "name": "six-at-once"}).apply()
    engines = []
    with get_client(sync_client=True) as client:
        for seed in range(1, 7):
            config = RetrainConfig.from_flat(
                demo_size=200, epochs=1, maxlen=20, units=4, embedding_dim=4, xla=False, seed=seed,
                min_accuracy=0.0, promotion_policy="not_worse", min_accuracy_gain=-1.0,
                artifact_root=str(tmp_path / "artifacts"), tracking_uri=team.tracking_uri,
            )  # fmt: skip
            run = client.create_flow_run_from_deployment(
                deployment_id, parameters={"config": config.model_dump(mode="json")}
            )
            # Each as a worker executes it, in a process and home of its own.
            env = {**team.env, "RETRAIN_HOME": str(tmp_path / f"worker-{seed}")}
            env["PREFECT__FLOW_RUN_ID"] = str(run.id)
            engine = subprocess.Popen(
                [str(BIN / "python"), "-m", "prefect.engine"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            engines.append((run.id, engine))
        outputs = [engine.communicate(timeout=900)[0].decode() for _, engine in engines]
        for (_, engine), output in zip(engines, outputs, strict=True):
            assert engine.returncode == 0, output[-3000:]
        states = [client.read_flow_run(run_id).state for run_id, _ in engines]
        assert all(state.is_completed() for state in states), [s.name for s in states]
        registry = ModelRegistry(team.tracking_uri, "review-sentiment")
        limit = client.read_global_concurrency_limit_by_name(limit_name(registry))
    assert limit.limit == 1 and limit.active_slots == 0

    decided = decisions(registry)
    assert sorted(decided, key=int) == ["1", "2", "3", "4", "5", "6"]
    # Taking turns: each decision was made against the champion of its moment, so the moves
    # form one chain, and every promotion replaced exactly the champion it was compared with.
    moves = ChampionHistory(registry).moves()
    assert moves[0].previous_version is None
    for before, after in zip(moves, moves[1:]):
        assert after.previous_version == before.version
    for move in moves[1:]:
        assert decided[move.version].champion_version == move.previous_version
    assert str(registry.champion().version) == moves[-1].version


@pytest.fixture(scope="module")
def own_servers(tmp_path_factory) -> Iterator[TeamServers]:
    """A pair of servers of this module's own: its tests stop and start them."""
    with team_servers(tmp_path_factory.mktemp("faults")) as servers:
        yield servers


@pytest.fixture
def as_pipeline(own_servers, monkeypatch) -> TeamServers:
    """This process's MLflow client as the pipeline's user of ``own_servers``."""
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, own_servers.env[name])
    return own_servers


def retrain_run(servers: TeamServers, home, *flags: str) -> subprocess.Popen:
    env = {**servers.env, "RETRAIN_HOME": str(home)}
    command = [str(BIN / "retrain"), "run", *flags, "--artifact-root", str(home / "artifacts")]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_training(servers: TeamServers, process: subprocess.Popen, timeout: float = 300):
    """Wait until the run's train task is Running (read on the server)."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName
    from servers import PREFECT_AUTH

    only = TaskRunFilter(name=TaskRunFilterName(like_="train"))
    deadline = time.monotonic() + timeout
    with SyncPrefectClient(servers.prefect_api, auth_string=PREFECT_AUTH) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1].decode()[-3000:]
            running = [
                task
                for task in client.read_task_runs(task_run_filter=only)
                if task.state is not None and task.state.is_running()
            ]
            if running:
                return
            time.sleep(0.2)
    raise AssertionError(f"no train task running in {timeout} s")


def finished(process: subprocess.Popen) -> tuple[int, str]:
    _, error = process.communicate(timeout=600)
    return process.returncode, error.decode()


def cached_stages(process: subprocess.Popen) -> set[str]:
    """The stages a finished `retrain run --json` reused from the cache."""
    output, error = process.communicate(timeout=600)
    assert process.returncode == 0, error.decode()[-3000:]
    stages = json.loads(output)["stages"]
    return {name for name, decision in stages.items() if decision["status"] == "cached"}


@pytest.mark.long
@pytest.mark.xdist_group("faults")  # One worker, one pair of servers for both fault tests.
def test_the_prefect_server_restarted_while_a_run_trains(as_pipeline, tmp_path):
    own_servers = as_pipeline
    processes = own_servers.processes
    home = tmp_path / "host"
    registry = ModelRegistry(own_servers.tracking_uri, "review-sentiment")
    before = len(registry.versions())
    run = retrain_run(own_servers, home, *TRAINS_A_WHILE, "--seed", "1")
    wait_for_training(own_servers, run)
    processes.stop("prefect")
    time.sleep(5)  # The server is away for a while, not only for a restart's seconds.
    processes.start("prefect")
    returncode, error = finished(run)
    # The run finishes: the Prefect client retries what it sends while the server is away.
    assert returncode == 0, error[-3000:]
    assert len(registry.versions()) == before + 1
    # The same command again completes: its stages come from the cache, and the version of the
    # same lineage is found rather than registered twice.
    again = retrain_run(own_servers, home, *TRAINS_A_WHILE, "--seed", "1", "--json")
    assert {"ingest", "tokenize", "train", "evaluate"} <= cached_stages(again)
    assert len(registry.versions()) == before + 1


@pytest.mark.long
@pytest.mark.xdist_group("faults")
def test_the_mlflow_server_down_at_register_time(as_pipeline, tmp_path):
    own_servers = as_pipeline
    processes = own_servers.processes
    home = tmp_path / "host"
    registry = ModelRegistry(own_servers.tracking_uri, "review-sentiment")
    champion_before = registry.champion()
    run = retrain_run(own_servers, home, *TRAINS_A_WHILE, "--seed", "2")
    wait_for_training(own_servers, run)
    processes.stop("mlflow")
    try:
        returncode, error = finished(run)
    finally:
        processes.start("mlflow")
    lines = error.strip().splitlines()
    assert returncode == EXIT_UNAVAILABLE, error[-3000:]
    assert lines[-1].startswith(f"error: tracking server {own_servers.tracking_uri} is unreachable")
    assert "Traceback" not in error
    # Nothing registered, the champion where it was.
    registry = ModelRegistry(own_servers.tracking_uri, "review-sentiment")
    after = registry.champion()
    assert (after and after.version) == (champion_before and champion_before.version)
    versions_before = {str(version.version) for version in registry.versions()}
    again = retrain_run(own_servers, home, *TRAINS_A_WHILE, "--seed", "2", "--json")
    assert {"ingest", "tokenize", "train", "evaluate"} <= cached_stages(again)
    added = {str(v.version) for v in registry.versions()} - versions_before
    assert len(added) == 1
    assert str(registry.champion().version) == added.pop()
