"""The `retrain` command on labels with more than two classes: run, predict, predict --out,
predict --baseline and the bad K-class inputs, as a user types them."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rnn_retrain.interface.cli import main

pytestmark = pytest.mark.usefixtures("prefect_server")

TINY = ["--epochs", "2", "--maxlen", "30", "--units", "8", "--no-xla", "--min-accuracy", "0"]
CLASSES = ["acting", "plot", "script"]


@pytest.mark.slow  # Trains through the whole flow.
def test_a_three_topic_run_then_predict_by_class_name(tmp_path: Path, capsys):
    root = ["--artifact-root", str(tmp_path / "a")]
    assert main(["run", "--demo-classes", "3", "--demo-size", "600", *TINY, *root]) == 0
    output = " ".join(capsys.readouterr().out.split())
    assert "classes: 3 (acting, plot, script)" in output
    assert "f1_macro" in output and "roc_auc_ovr" in output
    assert "precision / recall plot" in output
    assert "Confusion (rows: true, columns: predicted)" in output
    assert "registry: review-sentiment v1 promoted to champion" in output

    reviews = ["the acting was superb", "the plot was dull", "the script felt clever"]
    assert main(["predict", *reviews, "--baseline"]) == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if any(review in line for review in reviews)]
    assert len(rows) == 3
    for line in rows:
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        probability, label, baseline_probability, baseline_label = cells[:4]
        assert label in CLASSES and baseline_label in CLASSES
        assert 1 / 3 <= float(probability) <= 1 and 1 / 3 <= float(baseline_probability) <= 1

    out = tmp_path / "scores.parquet"
    assert main(["predict", *reviews, "--out", str(out)]) == 0
    table = pq.read_table(out)
    columns = [f"probability_{name}" for name in CLASSES]
    assert table.column_names[-3:] == columns
    assert set(table["label"].to_pylist()) <= set(CLASSES)
    for row in table.to_pylist():
        assert sum(row[column] for column in columns) == pytest.approx(1.0, abs=1e-5)
        assert row["probability"] == max(row[column] for column in columns)


def test_a_k_above_the_configured_cap_is_one_line_and_trains_nothing(tmp_path: Path, capsys):
    args = ["run", "--demo-classes", "5", "--max-classes", "4", *TINY]
    assert main([*args, "--artifact-root", str(tmp_path / "a")]) == 3
    error = capsys.readouterr().err
    lines = [line for line in error.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: demo: label column 'label' has 5 distinct values, more than max_classes=4 "
        "(e.g. ['acting', 'cinematography', 'plot', 'script', 'soundtrack']); is 'label' the "
        "label column? Raise max_classes if these really are classes"
    ]
    assert not list((tmp_path / "a").glob("runs/*/ingest/snapshot.parquet"))
