"""The sweep: shared data stages, candidates in parallel (threads or Dask), the best one gated."""

import os

import pytest

from flows.sweep import sweep
from rnn_retrain.artifacts import ArtifactStore
from rnn_retrain.config import SweepConfig
from rnn_retrain.registry import ModelRegistry

pytestmark = pytest.mark.usefixtures("prefect_server")


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
    store = ArtifactStore(tiny_config(SweepConfig, demo_size=300, epochs=2).artifact_root)
    assert all(store.check(o.trained.model) is None for o in summary.outcomes)
    registry = ModelRegistry(summary.registration.tracking_uri, "review-sentiment")
    version = registry.get_version(version=summary.registration.version)
    assert f'"cell":"{best.config.cell}"' in version.tags["config"]


def test_a_failing_candidate_is_reported_and_the_others_finish(tiny_config, tmp_path, monkeypatch):
    import rnn_retrain.modeling

    real = rnn_retrain.modeling.build_model

    def broken_gru(vocabulary_size, config):
        if config.cell == "gru":
            raise RuntimeError("out of memory while building gru")
        return real(vocabulary_size, config)

    monkeypatch.setattr(rnn_retrain.modeling, "build_model", broken_gru)
    summary = sweep(tiny_config(SweepConfig, demo_size=300, epochs=2))
    outcomes = {row["candidate"]: row["outcome"] for row in summary.comparison}
    assert (
        outcomes["gru"].startswith("failed:")
        and "out of memory while building gru" in outcomes["gru"]
    )
    assert summary.chosen in ("simplernn", "lstm")
    assert summary.registration.version == "1"


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
    store = ArtifactStore(tiny_config(SweepConfig, demo_size=300, epochs=2).artifact_root)
    trainers = {
        pid
        for o in summary.outcomes
        for pid in store.read_table(o.trained.history)["process_id"].to_pylist()
    }
    assert trainers <= workers and os.getpid() not in trainers
