"""The sweep: shared data stages, candidates in parallel (threads or Dask), the best one gated."""

import csv
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from rnn_retrain.config.retrain import SweepConfig
from rnn_retrain.flows.sweep import sweep
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.store.artifacts import ArtifactStore

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.mark.slow  # The failing-candidate test below runs a local sweep in the fast subset.
def test_local_sweep_trains_every_cell_and_registers_the_lowest_validation_loss(
    tiny_config, tmp_path
):
    summary = sweep(tiny_config(SweepConfig, demo_size=300, epochs=2))
    assert [row["candidate"] for row in summary.comparison] == ["simplernn", "gru", "lstm"]
    finished = {o.name: o for o in summary.outcomes}
    best = min(finished.values(), key=lambda o: o.trained.best_validation_loss)
    assert summary.chosen == best.name
    assert [row["outcome"] for row in summary.comparison].count("chosen") == 1
    # Each candidate stored its own model, under its own folder of the one run.
    models = {o.trained.model.uri for o in summary.outcomes}
    assert len(models) == 3 and all(
        f"/train/{o.name}/" in o.trained.model.uri for o in summary.outcomes
    )
    store = ArtifactStore(tiny_config(SweepConfig, demo_size=300, epochs=2).registry.artifact_root)
    assert all(store.check(o.trained.model) is None for o in summary.outcomes)
    registry = ModelRegistry(summary.registration.tracking_uri, "review-sentiment")
    version = registry.get_version(version=summary.registration.version)
    assert f'"cell":"{best.config.model.cell}"' in version.tags["config"]
    # One baseline for the sweep, compared with the chosen candidate and tagged on its version.
    assert summary.baseline is not None and summary.baseline.p_value is not None
    assert version.tags["baseline.mcnemar_p"] == f"{summary.baseline.p_value:.6g}"


@pytest.mark.slow  # Trains through the whole flow.
def test_a_failing_candidate_is_reported_and_the_others_finish(tiny_config, tmp_path, monkeypatch):
    import rnn_retrain.model.network

    real = rnn_retrain.model.network.build_model

    def broken_gru(vocabulary_size, settings, training, classes=2):
        if settings.cell == "gru":
            raise RuntimeError("out of memory while building gru")
        return real(vocabulary_size, settings, training, classes)

    monkeypatch.setattr(rnn_retrain.model.network, "build_model", broken_gru)
    summary = sweep(tiny_config(SweepConfig, demo_size=300, epochs=2))
    outcomes = {row["candidate"]: row["outcome"] for row in summary.comparison}
    assert (
        outcomes["gru"].startswith("failed:")
        and "out of memory while building gru" in outcomes["gru"]
    )
    assert summary.chosen in ("simplernn", "lstm")
    assert summary.registration.version == "1"


@pytest.mark.long
@pytest.mark.slow
def test_dask_sweep_trains_candidates_in_worker_processes(tiny_config, tmp_path):
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        summary = sweep(
            tiny_config(
                SweepConfig,
                demo_size=300,
                epochs=2,
                cells=["gru", "lstm"],
                units_grid=[4, 6],
                task_runner="dask",
                dask_address=cluster.scheduler_address,
            )
        )
        with Client(cluster) as client:
            workers = set(client.run(os.getpid).values())
    assert len(summary.comparison) == 4
    assert all(row["outcome"] in ("chosen", "finished") for row in summary.comparison)
    store = ArtifactStore(tiny_config(SweepConfig, demo_size=300, epochs=2).registry.artifact_root)
    trainers = {
        pid
        for o in summary.outcomes
        for pid in store.read_table(o.trained.history)["process_id"].to_pylist()
    }
    assert trainers <= workers and os.getpid() not in trainers


def kill_when_training(checkpoints: Path, after_epochs: int) -> threading.Thread:
    """A thread that SIGKILLs the process training a candidate once it logged ``after_epochs``.

    The epoch log in the candidate's checkpoint folder names the process of every epoch.
    """

    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            for log in checkpoints.glob("*/epochs.csv"):
                rows = list(csv.DictReader(log.read_text().splitlines()))
                if len(rows) >= after_epochs:
                    os.kill(int(float(rows[-1]["process_id"])), signal.SIGKILL)
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.long
@pytest.mark.slow
def test_a_worker_killed_mid_training_is_replaced_and_its_candidate_resumes(tiny_config):
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        with Client(cluster) as client:
            (first_worker,) = client.run(os.getpid).values()
        config = tiny_config(
            SweepConfig,
            demo_size=300,
            epochs=12,
            early_stopping_patience=0,
            cells=["gru"],
            task_runner="dask",
            dask_address=cluster.scheduler_address,
        )
        killer = kill_when_training(Path(config.registry.artifact_root) / "checkpoints", 2)
        summary = sweep(config)
        killer.join(timeout=1)
    (outcome,) = summary.outcomes
    assert outcome.error is None and summary.registration.version == "1"
    history = ArtifactStore(config.registry.artifact_root).read_table(outcome.trained.history)
    assert history["epoch"].to_pylist() == list(range(1, 13))
    trainers = history["process_id"].to_pylist()
    # The killed worker trained the first epochs; the nanny's new worker resumed after them.
    assert trainers[0] == first_worker and trainers[-1] != first_worker
    assert trainers.count(first_worker) >= 2


@pytest.mark.long
@pytest.mark.slow
def test_a_candidate_whose_worker_dies_for_good_is_reported_and_the_others_finish(tiny_config):
    import dask
    from distributed import LocalCluster

    # No second chance: the first worker death fails its candidate (Dask's default allows 3).
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
    ):
        config = tiny_config(
            SweepConfig,
            demo_size=300,
            epochs=12,
            early_stopping_patience=0,
            cells=["gru", "simplernn"],
            task_runner="dask",
            dask_address=cluster.scheduler_address,
        )
        killer = kill_when_training(Path(config.registry.artifact_root) / "checkpoints", 2)
        summary = sweep(config)
        killer.join(timeout=1)
    outcomes = {row["candidate"]: row["outcome"] for row in summary.comparison}
    (dead,) = [name for name, outcome in outcomes.items() if outcome.startswith("failed:")]
    assert "KilledWorker" in outcomes[dead]
    (alive,) = set(outcomes) - {dead}
    assert summary.chosen == alive and summary.registration.version == "1"
