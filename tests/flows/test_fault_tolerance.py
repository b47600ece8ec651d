"""Fault injection: transient failures are retried, deterministic ones fail at once."""

from pathlib import Path

import pytest

import tasks.pad
from flows.retrain import retrain
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
