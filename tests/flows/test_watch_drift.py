"""The source watcher with drift on: a change's new files, scored by the champion, are compared
with its data; reviews like its own are not drifted, reviews in words it never saw are."""

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client

from rnn_retrain.flows.retrain import retrain
from rnn_retrain.flows.watch import watch_source
from rnn_retrain.orchestration.drift_reports import DRIFT_ARTIFACT_KEY
from rnn_retrain.stages.watch import WatchSettings
from rnn_retrain.store.artifacts import ArtifactStore

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]


def warnings(findings) -> set[str]:
    return {finding.check for finding in findings if finding.severity == "warning"}


def test_a_changed_source_is_scored_by_the_champion_and_its_drift_reported(tiny_config, tmp_path):
    champion = retrain(tiny_config(demo_size=600, epochs=2))
    snapshot = ArtifactStore(champion.config.registry.artifact_root).read_table(
        champion.artifacts["ingest/snapshot.parquet"]
    )
    own = snapshot.filter(pc.equal(snapshot["split"], "test")).select(["text", "label"])
    folder = tmp_path / "incoming"
    folder.mkdir()
    pq.write_table(own, folder / "week-1.parquet")
    root = tmp_path / "watch-artifacts"
    settings = WatchSettings(
        source=str(folder), settle_seconds=0, artifact_root=str(root), drift=True
    )

    first = watch_source(settings)  # The first look records the source: no change, no report.
    assert first.first_look and first.drift == [] and first.drift_report is None

    pq.write_table(own, folder / "week-2.parquet")  # A week like the champion's own.
    calm = watch_source(settings)
    assert calm.start_run and calm.changed == [str(folder / "week-2.parquet")]
    assert {finding.check for finding in calm.drift} == {
        "oov_rate",
        "length_psi",
        "score_psi",
        "class_share",
    }
    assert warnings(calm.drift) == set()

    words = " ".join(f"zorp{index} quibble{index}" for index in range(60))
    strange = pa.table({"text": [f"{words} {row}" for row in range(200)], "label": [1] * 200})
    pq.write_table(strange, folder / "week-3.parquet")
    drifted = watch_source(settings)
    assert drifted.changed == [str(folder / "week-3.parquet")]
    assert {"oov_rate", "length_psi"} <= warnings(drifted.drift)
    report = ArtifactStore(str(root)).read_table(drifted.drift_report)
    assert report.num_rows == 4
    assert set(report.filter(report["drifted"])["check"].to_pylist()) == warnings(drifted.drift)
    with get_client(sync_client=True) as client:
        shown = [
            artifact.description
            for artifact in client.read_artifacts()
            if artifact.key == DRIFT_ARTIFACT_KEY and str(folder) in artifact.description
        ]
    # One report per look that found a change: the calm week's, then the strange one's.
    assert len(shown) == 2
    [strange_report] = [text for text in shown if "200 reviews in 1 new or changed files" in text]
    assert "oov_rate" in strange_report.rsplit("data:", 1)[1]


def test_without_a_champion_the_change_is_reported_without_drift(tmp_path: Path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    settings = WatchSettings(
        source=str(folder), settle_seconds=0, artifact_root=str(tmp_path / "a"), drift=True
    )
    watch_source(settings)
    pq.write_table(pa.table({"text": ["a fine film"], "label": [1]}), folder / "new.parquet")
    looked = watch_source(settings)
    assert looked.start_run and looked.drift == [] and looked.drift_report is None
