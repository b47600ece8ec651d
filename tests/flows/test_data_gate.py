"""The data gate inside the flow: hard findings stop the run before training, soft ones warn."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rnn_retrain.errors import DataGateError
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.registry.versions import ModelRegistry

pytestmark = pytest.mark.usefixtures("prefect_server")


def split_parquet(path: Path, table: pa.Table, leaked: int) -> Path:
    """Write ``table`` with a split column: the last 60 rows test, the first ``leaked`` copied."""
    train = table.slice(0, table.num_rows - 60)
    test = table.slice(table.num_rows - 60)
    test = pa.concat_tables([train.slice(0, leaked), test.slice(leaked)])
    splits = ["train"] * train.num_rows + ["test"] * test.num_rows
    pq.write_table(pa.concat_tables([train, test]).append_column("split", pa.array(splits)), path)
    return path


def test_leaked_test_reviews_stop_the_run_before_training_and_keep_the_champion(
    tiny_config, tmp_path, demo_table
):
    clean = split_parquet(tmp_path / "clean.parquet", demo_table, leaked=0)
    first = retrain(tiny_config(data=str(clean)))
    assert {f.check: f.severity for f in first.findings}["leakage"] == "ok"

    leaky = split_parquet(tmp_path / "leaky.parquet", demo_table, leaked=6)
    with pytest.raises(DataGateError, match=r"leakage: .* is 10\.00% \(at most 1\.00% allowed\)"):
        retrain(tiny_config(data=str(leaky)))
    runs = list((tmp_path / "artifacts" / "runs").iterdir())
    assert len(runs) == 2
    failed = next(run for run in runs if run.name != first.run_id)
    assert sorted(path.name for path in failed.iterdir()) == ["ingest", "tokenize"]
    registry = ModelRegistry(first.registration.tracking_uri, "review-sentiment")
    assert [str(v.version) for v in registry.versions()] == ["1"]
    assert str(registry.champion().version) == "1"


@pytest.mark.slow  # Trains through the whole flow.
def test_soft_findings_are_warnings_in_the_summary_and_the_report(
    tiny_config, tmp_path, demo_table
):
    first = retrain(tiny_config(maxlen=40))
    assert {f.check: f.severity for f in first.findings}["oov_rate"] == "skipped"
    # Reviews padded with unseen words: longer, and full of tokens the champion never saw.
    texts = [f"{text} zorblax quuxly frobnicated wibble" for text in demo_table["text"].to_pylist()]
    drifted = tmp_path / "drifted.parquet"
    pq.write_table(demo_table.set_column(0, "text", pa.array(texts)), drifted)
    summary = retrain(tiny_config(maxlen=8, data=str(drifted)))
    severities = {f.check: f.severity for f in summary.findings}
    assert severities["oov_rate"] == "warning"
    assert severities["length_drift"] == "warning"
    assert severities["truncation"] == "warning"
    from rnn_retrain.reports import render_run_report

    report = render_run_report(summary)
    assert "| oov_rate | warning |" in report and "| leakage | ok |" in report
