"""Fault injection: transient failures are retried, deterministic ones fail at once."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import tasks.pad
from flows.retrain import retrain
from rnn_retrain.artifacts import ArtifactStore
from rnn_retrain.config import RetrainConfig

pytestmark = pytest.mark.usefixtures("prefect_server")


def tiny(root: Path) -> RetrainConfig:
    return RetrainConfig(
        demo_size=200, epochs=1, maxlen=20, units=4, embedding_dim=4, artifact_root=str(root / "a")
    )


@pytest.fixture
def no_retry_wait(monkeypatch):
    monkeypatch.setattr(tasks.pad.pad, "retry_delay_seconds", [0, 0])


def failing_pad(monkeypatch, errors: list[BaseException]) -> list[int]:
    """Make the pad stage raise ``errors`` one per attempt, then behave normally."""
    real = tasks.pad.pad_token_ids
    attempts: list[int] = []

    def flaky(*args, **kwargs):
        attempts.append(1)
        if len(attempts) <= len(errors):
            raise errors[len(attempts) - 1]
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks.pad, "pad_token_ids", flaky)
    return attempts


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


KILL_AFTER_EPOCH_TWO = """
import os, signal, sys
import tasks.train

original = tasks.train.EpochProgress.on_epoch_begin

def killed_after_epoch_two(self, epoch, logs=None):
    # Epoch 2 is finished and backed up; the process dies as epoch 3 starts.
    if epoch == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    original(self, epoch, logs)

tasks.train.EpochProgress.on_epoch_begin = killed_after_epoch_two
from flows.retrain import retrain
from rnn_retrain.config import RetrainConfig
retrain(RetrainConfig.model_validate_json(sys.argv[1]))
"""


def test_training_killed_after_epoch_two_resumes_at_epoch_three(tmp_path):
    config = tiny(tmp_path).model_copy(update={"epochs": 4, "early_stopping_patience": 0})
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    # Output goes to a file, not a pipe: Prefect's ephemeral API server (a grandchild) would
    # keep a pipe open after the kill. Its own process group lets the test stop it afterwards.
    with (tmp_path / "killed.log").open("w") as log:
        killed = subprocess.Popen(
            [sys.executable, "-c", KILL_AFTER_EPOCH_TWO, config.model_dump_json()],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = killed.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(killed.pid, signal.SIGKILL)
    assert returncode == -signal.SIGKILL, (tmp_path / "killed.log").read_text()[-2000:]
    assert list((tmp_path / "a" / "checkpoints").glob("*/backup"))

    summary = retrain(config)
    store = ArtifactStore(config.artifact_root)
    history = store.read_table(summary.artifacts["train/history.parquet"]).to_pydict()
    assert history["epoch"] == [1, 2, 3, 4]
    killed_pid, resumed_pid = history["process_id"][0], history["process_id"][2]
    assert history["process_id"] == [killed_pid, killed_pid, resumed_pid, resumed_pid]
    assert killed_pid != resumed_pid
    assert summary.epochs_run == 4
    assert not list((tmp_path / "a" / "checkpoints").glob("*/backup"))
