"""First use under concurrency: runs started together on an empty home all succeed.

The first scheduled run and a manual one, say: each `retrain run` creates Prefect's database and
the MLflow store when it finds none, and before the locks around that, two of them raced on the
migrations (`table _alembic_tmp_experiments already exists`). The test starts two real `retrain`
processes at once on a new, empty home: two make the race (three took 72 s of the suite's
2,381 test-seconds; two leave the other worker a core).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnn_retrain.registry.versions import ModelRegistry

RUNS = 2
TINY = ["--demo-size", "200", "--epochs", "1", "--maxlen", "20", "--units", "4", "--no-xla"]
LENIENT = ["--min-accuracy", "0", "--promotion-policy", "not_worse", "--min-accuracy-gain", "-1"]


@pytest.mark.long
@pytest.mark.slow
def test_runs_started_together_on_an_empty_home_all_succeed(tmp_path: Path):
    home = tmp_path / "new-machine"  # Nothing yet: no ~/.prefect, no ~/.rnn-retrain.
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    for name in ("RETRAIN_HOME", "MLFLOW_TRACKING_URI"):  # The defaults, under the new home.
        env.pop(name, None)
    command = str(Path(sys.executable).with_name("retrain"))
    runs = [
        subprocess.Popen(
            [command, "run", *TINY, *LENIENT, "--seed", str(seed)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for seed in range(1, RUNS + 1)
    ]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-4000:]
        assert "Traceback" not in output
    registry = ModelRegistry(f"sqlite:///{home / '.rnn-retrain' / 'mlflow.db'}", "review-sentiment")
    versions = registry.versions()
    assert len(versions) == RUNS
    # Every version went through the gate, one decision at a time.
    assert all("gate.json" in version.tags for version in versions)
    assert registry.champion() is not None
