"""Fault injection: transient failures are retried, deterministic ones fail at once."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import rnn_retrain.stages.pad
import rnn_retrain.tasks.pad
from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.store.artifacts import ArtifactRef, ArtifactStore

pytestmark = pytest.mark.usefixtures("prefect_server")


def tiny(root: Path, **overrides) -> RetrainConfig:
    return RetrainConfig.from_flat(
        **{
            "demo_size": 200,
            "epochs": 1,
            "maxlen": 20,
            "units": 4,
            "embedding_dim": 4,
            "artifact_root": str(root / "a"),
            "xla": False,
            **overrides,
        }
    )


@pytest.fixture
def no_retry_wait(monkeypatch):
    monkeypatch.setattr(rnn_retrain.tasks.pad.pad, "retry_delay_seconds", [0, 0])


def failing_pad(monkeypatch, errors: list[BaseException]) -> list[int]:
    """Make the pad stage raise ``errors`` one per attempt, then behave normally."""
    real = rnn_retrain.stages.pad.pad_token_ids
    attempts: list[int] = []

    def flaky(*args, **kwargs):
        attempts.append(1)
        if len(attempts) <= len(errors):
            raise errors[len(attempts) - 1]
        return real(*args, **kwargs)

    monkeypatch.setattr(rnn_retrain.stages.pad, "pad_token_ids", flaky)
    return attempts


@pytest.mark.slow  # Trains through the whole flow.
@pytest.mark.usefixtures("no_retry_wait")
def test_a_transient_io_error_twice_is_retried_and_the_run_succeeds(tmp_path, monkeypatch):
    attempts = failing_pad(monkeypatch, [OSError("disk hiccup"), TimeoutError("slow NFS")])
    summary = retrain(tiny(tmp_path))
    assert len(attempts) == 3
    assert summary.registration.version == "1"


@pytest.mark.usefixtures("no_retry_wait")
def test_a_value_error_from_bad_data_is_not_retried(tmp_path, monkeypatch):
    attempts = failing_pad(monkeypatch, [ValueError("row 7 has a negative token id")] * 3)
    with pytest.raises(ValueError, match="negative token id"):
        retrain(tiny(tmp_path))
    assert len(attempts) == 1


def start_flow_process(
    code: str, config: RetrainConfig, tmp_path: Path, name: str, shared_api: bool = False
):
    """Run ``code`` (given the config as JSON) in a new process with its own Prefect home.

    With ``shared_api`` the process reports to this session's Prefect test server, as a team's
    machines share one; without, it starts an ephemeral API of its own, as a lone user's run
    does (migrating a new database: about 15 s, which a test that only kills the process need
    not pay).

    Output goes to ``<name>.log``, not a pipe: Prefect's ephemeral API server (a grandchild)
    would keep a pipe open after a kill. Its own process group lets `finish` stop it afterwards.
    """
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_HOME": str(tmp_path / f"prefect-{name}")}
    env.pop("PREFECT_API_URL", None)
    if shared_api:
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()
    log = (tmp_path / f"{name}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", code, config.model_dump_json()],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, log


def finish(run, timeout: float = 400) -> int:
    """Wait for a `start_flow_process` run, then stop whatever is left of its process group."""
    process, log = run
    try:
        return process.wait(timeout=timeout)
    finally:
        log.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


KILL_AFTER_EPOCH_TWO = """
import os, signal, sys
import rnn_retrain.model.fitting

original = rnn_retrain.model.fitting.EpochProgress.on_epoch_begin

def killed_after_epoch_two(self, epoch, logs=None):
    # Epoch 2 is finished and backed up; the process dies as epoch 3 starts.
    if epoch == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    original(self, epoch, logs)

rnn_retrain.model.fitting.EpochProgress.on_epoch_begin = killed_after_epoch_two
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.config.retrain import RetrainConfig
retrain(RetrainConfig.model_validate_json(sys.argv[1]))
"""


@pytest.mark.slow
def test_training_killed_after_epoch_two_resumes_at_epoch_three(tmp_path):
    config = tiny(tmp_path, epochs=4, early_stopping_patience=0)
    killed = start_flow_process(KILL_AFTER_EPOCH_TWO, config, tmp_path, "killed", shared_api=True)
    returncode = finish(killed)
    assert returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-2000:]
    assert list((tmp_path / "a" / "checkpoints").glob("*/backup"))

    summary = retrain(config)
    store = ArtifactStore(config.registry.artifact_root)
    history = store.read_table(summary.artifacts["train/history.parquet"]).to_pydict()
    assert history["epoch"] == [1, 2, 3, 4]
    killed_pid, resumed_pid = history["process_id"][0], history["process_id"][2]
    assert history["process_id"] == [killed_pid, killed_pid, resumed_pid, resumed_pid]
    assert killed_pid != resumed_pid
    assert summary.epochs_run == 4 and summary.resumed_from_epoch == 2
    assert not list((tmp_path / "a" / "checkpoints").glob("*/backup"))


RUN_ONCE = """
import sys
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.config.retrain import RetrainConfig
retrain(RetrainConfig.model_validate_json(sys.argv[1]))
"""


@pytest.mark.long
@pytest.mark.slow
def test_two_runs_at_once_on_one_root_and_registry_stay_consistent(tmp_path):
    from rnn_retrain.registry.champion import ChampionHistory
    from rnn_retrain.registry.versions import ModelRegistry
    from rnn_retrain.results import GateDecision

    lenient = {"min_accuracy": 0.0, "promotion_policy": "not_worse", "min_accuracy_gain": -1.0}
    configs = [tiny(tmp_path, seed=seed, **lenient) for seed in (1, 2)]
    registry = ModelRegistry("", "review-sentiment")
    registry.tracking.experiment_id()  # Creates the MLflow tables once, before the runs race.
    runs = [
        start_flow_process(RUN_ONCE, config, tmp_path, f"run-{index}")
        for index, config in enumerate(configs)
    ]
    for index, run in enumerate(runs):
        assert finish(run) == 0, (tmp_path / f"run-{index}.log").read_text()[-3000:]

    versions = registry.versions()
    assert [str(version.version) for version in versions] == ["1", "2"]
    decisions = [GateDecision.model_validate_json(v.tags["gate.json"]) for v in versions]
    # The decisions were taken one after the other: the second saw the first's champion.
    assert decisions[0].champion_version is None and decisions[0].promote
    assert decisions[1].champion_version == "1"
    moves = [move.version for move in ChampionHistory(registry).moves()]
    assert moves[-1] == str(registry.champion().version) and moves[0] == "1"

    store = ArtifactStore(configs[0].registry.artifact_root)
    manifests = list((tmp_path / "a" / "runs").glob("*/*/*.manifest.json"))
    assert len({path.parts[-3] for path in manifests}) == 2  # One folder per run.
    for path in manifests:
        ref = ArtifactRef.model_validate_json(path.read_text())
        assert store.check(ref) is None
