"""The bag-of-words baseline beside a run: in the summary, the reports, MLflow, the gate, predict."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rnn_retrain.flows.retrain import retrain
from rnn_retrain.interface.cli import main
from rnn_retrain.interface.report import print_summary
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.reports import render_run_report
from rnn_retrain.stages.baseline import rebuild_baseline
from rnn_retrain.store.artifacts import ArtifactStore

pytestmark = [pytest.mark.usefixtures("prefect_server"), pytest.mark.slow]

TEXTS = ["a superb and moving film", "dull, awful and boring"]


def word_reviews(path: Path, rows: int = 400, seed: int = 4) -> Path:
    """Reviews whose words alone give the label, a quarter of them test rows."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    words = (["dull", "awful", "boring", "weak"], ["superb", "moving", "great", "fresh"])
    texts = [
        f"review {index} the plot was {rng.choice(words[label])} and the cast "
        f"{rng.choice(words[label])}"
        for index, label in enumerate(labels)
    ]
    splits = np.where(np.arange(rows) % 4 == 0, "test", "train")
    pq.write_table(pa.table({"text": texts, "label": labels, "split": splits}), path)
    return path


def test_the_baseline_is_reported_logged_tagged_and_scored_by_predict(
    tiny_config, tmp_path, capsys
):
    summary = retrain(tiny_config())
    baseline = summary.baseline
    assert baseline is not None and baseline.train_rows == summary.rows["train"]
    assert baseline.metrics["rows"] == summary.metrics["rows"]
    assert baseline.p_value is not None and 0.0 <= baseline.p_value <= 1.0
    assert summary.stages["baseline"].status == "ran"
    report = render_run_report(summary)
    assert "## Bag-of-words baseline" in report
    assert f"c = {baseline.baseline_only_correct} only the baseline" in report
    print_summary(summary)
    assert "baseline: NB-weighted logistic regression over binary 1–3-grams, accuracy" in (
        capsys.readouterr().out
    )

    registry = ModelRegistry("", "review-sentiment")
    version = registry.get_version(version=summary.registration.version)
    run = registry.tracking.client.get_run(version.run_id)
    assert run.data.metrics["baseline_accuracy"] == pytest.approx(baseline.metrics["accuracy"])
    assert run.data.metrics["baseline_mcnemar_p"] == pytest.approx(baseline.p_value)
    assert version.tags["baseline.f1"] == str(baseline.metrics["f1"])
    assert version.tags["baseline.mcnemar_c"] == str(baseline.baseline_only_correct)

    # predict --baseline scores with the files logged to MLflow, as the stored baseline does.
    out = tmp_path / "scores.parquet"
    assert main(["predict", *TEXTS, "--baseline", "--out", str(out)]) == 0
    scores = pq.read_table(out)
    store = ArtifactStore(summary.config.registry.artifact_root)
    document = json.loads(store.read_bytes(baseline.model))
    stored = rebuild_baseline(store.read_table(baseline.terms), document).positive_probabilities(
        pa.array(TEXTS)
    )
    assert np.max(np.abs(scores["baseline_probability"].to_numpy() - stored)) <= 1e-9
    assert main(["predict", *TEXTS, "--baseline"]) == 0
    printed = capsys.readouterr().out
    assert "baseline probability" in printed and f"{stored[0]:.4f}" in printed

    # A second run with the same data reuses the cached baseline.
    again = retrain(tiny_config())
    assert again.stages["baseline"].status == "cached"
    assert again.baseline.metrics == baseline.metrics


def test_the_gate_refuses_an_rnn_significantly_worse_than_the_baseline(tiny_config, tmp_path):
    # Words alone give the label, so the baseline is near perfect; an RNN that barely moves
    # from its initial weights (one epoch at a learning rate of 1e-6) is near chance.
    data = word_reviews(tmp_path / "reviews.parquet")
    config = tiny_config(data=str(data), learning_rate=1e-6, require_beat_baseline=True)
    summary = retrain(config)
    baseline = summary.baseline
    assert baseline.metrics["accuracy"] >= 0.95 and summary.metrics["accuracy"] <= 0.8
    assert baseline.baseline_only_correct > baseline.rnn_only_correct and baseline.p_value < 1e-4
    decision = summary.registration.decision
    assert not decision.promote
    assert "significantly worse than the bag-of-words baseline" in decision.reason
    assert ModelRegistry("", "review-sentiment").champion() is None
