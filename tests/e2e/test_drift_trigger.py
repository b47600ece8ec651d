"""Drift-started runs, end to end: batch scoring reports drift from the champion's data, and the
retrain deployment's drift trigger (deployments/prefect.yaml, turned on) starts exactly one run
on a real `prefect server` for drifted reviews and none for reviews like the champion's own."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_data_trigger import settled_triggered_runs

from rnn_retrain.store.artifacts import ArtifactStore

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_drifted_reviews_start_one_retrain_and_the_models_own_kind_none(
    team, tiny_config, tmp_path
):
    from prefect.client.orchestration import get_client

    from rnn_retrain.config.scoring import ScoreConfig
    from rnn_retrain.deployments.serve import build_deployment, load_deployment_specs, served_specs
    from rnn_retrain.flows.retrain import retrain
    from rnn_retrain.flows.score import score

    weekly = next(s for s in served_specs(load_deployment_specs()) if s["name"] == "weekly-retrain")
    # The drift trigger turned on, as the guide tells a team to.
    triggers = [
        {**trigger, "enabled": True} if "rnn-retrain.data.drifted" in trigger["expect"] else trigger
        for trigger in weekly["triggers"]
    ]
    deployment_id = build_deployment({**weekly, "triggers": triggers}).apply()
    champion = retrain(tiny_config(demo_size=600, epochs=2))
    store = ArtifactStore(champion.config.registry.artifact_root)
    snapshot = store.read_table(champion.artifacts["ingest/snapshot.parquet"])
    own = tmp_path / "own.parquet"  # The champion's own test reviews.
    pq.write_table(snapshot.filter(pc.equal(snapshot["split"], "test")).select(["text"]), own)
    strange = tmp_path / "strange.parquet"  # Long reviews in words it never saw.
    words = " ".join(f"zorp{index} quibble{index}" for index in range(60))
    pq.write_table(pa.table({"text": [f"{words} {row}" for row in range(200)]}), strange)
    artifacts = {"artifact_root": str(tmp_path / "scores")}

    calm = score(ScoreConfig(input=str(own), **artifacts))
    assert calm.drift is not None and not [f for f in calm.drift if f.severity == "warning"]
    drifted = score(ScoreConfig(input=str(strange), **artifacts))
    flagged = {f.check for f in drifted.drift if f.severity == "warning"}
    assert {"oov_rate", "length_psi"} <= flagged
    report = ArtifactStore(artifacts["artifact_root"]).read_table(drifted.drift_report)
    assert set(report.filter(report["drifted"])["check"].to_pylist()) == flagged

    with get_client(sync_client=True) as client:
        runs = settled_triggered_runs(client, deployment_id)
    # One run, started by the drifted batch: the calm one, scored first, started none.
    assert len(runs) == 1
    assert runs[0].parameters == weekly["parameters"]
