"""Labels with more than two classes, end to end: ingest, training, metrics, the gate, the
registered model, batch scoring and the sweep, on the demo's topic corpus."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rnn_retrain.config.retrain import SweepConfig
from rnn_retrain.config.scoring import ScoreConfig
from rnn_retrain.data.demo import generate_topic_reviews
from rnn_retrain.flows.retrain import retrain
from rnn_retrain.flows.score import score
from rnn_retrain.flows.sweep import sweep
from rnn_retrain.model.package import model_classes, predict_reviews
from rnn_retrain.registry.versions import ModelRegistry
from rnn_retrain.reports import render_run_report
from rnn_retrain.store.artifacts import ArtifactStore

pytestmark = pytest.mark.usefixtures("prefect_server")

CLASSES = ["acting", "plot", "script"]


@pytest.mark.slow  # Trains through the whole flow.
def test_three_topics_train_evaluate_register_and_serve_by_class_name(tiny_config, tmp_path):
    config = tiny_config(demo_classes=3, demo_size=600, epochs=3, maxlen=30, units=8)
    summary = retrain(config)
    store = ArtifactStore(config.registry.artifact_root)

    # The mapping: topics in text order, stored beside the snapshot and used for the counts.
    assert summary.classes == CLASSES
    labels = json.loads(store.read_bytes(summary.artifacts["ingest/labels.json"]))
    assert labels["classes"] == CLASSES
    snapshot = store.read_table(summary.artifacts["ingest/snapshot.parquet"])
    assert set(snapshot["label"].to_pylist()) == {0, 1, 2}
    assert sum(summary.rows[f"train_class_{i}"] for i in range(3)) == summary.rows["train"]

    # K-class metrics and a confusion matrix that adds up to the test rows.
    metrics = summary.metrics
    for name in ("accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr", "loss"):
        assert metrics[name] is not None
    for topic in CLASSES:
        assert 0.0 <= metrics[f"precision_{topic}"] <= 1.0
        assert 0.0 <= metrics[f"recall_{topic}"] <= 1.0
    confusion = np.array(summary.confusion)
    assert confusion.shape == (3, 3) and confusion.sum() == summary.rows["test"]
    assert np.trace(confusion) / confusion.sum() == pytest.approx(metrics["accuracy"])
    assert summary.baseline is not None and summary.baseline.p_value is not None

    # The registered model carries the classes and answers as evaluate scored.
    registry = ModelRegistry(config.registry.tracking_uri, config.registry.model_name)
    model = registry.load(version=summary.registration.version)
    assert model_classes(model) == CLASSES
    test = snapshot.filter(pa.compute.equal(snapshot["split"], "test")).sort_by("row_id")
    served = predict_reviews(model, test["text"].to_pylist())
    assert served.shape == (test.num_rows, 3)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)
    evaluated = store.read_table(summary.artifacts["evaluate/predictions.parquet"]).sort_by(
        "row_id"
    )
    np.testing.assert_array_equal(served.argmax(axis=1), evaluated["prediction"].to_numpy())
    np.testing.assert_allclose(served.max(axis=1), evaluated["probability"].to_numpy(), atol=1e-5)
    # Logged to MLflow per class, tagged on the version, and drawn in the UI run report.
    run = registry.tracking.client.get_run(summary.registration.mlflow_run_id)
    assert {"test_f1_macro", "test_recall_plot", "baseline_f1_macro"} <= set(run.data.metrics)
    tags = registry.get_version(version=summary.registration.version).tags
    assert json.loads(tags["classes"]) == CLASSES and "test.roc_auc_ovr" in tags
    report = render_run_report(summary)
    assert "| split | rows | `acting` | `plot` | `script` |" in report
    assert "### Confusion matrix (rows: true class; columns: predicted)" in report
    assert "| f1 (macro) |" in report
    answer = model.predict(test.slice(0, 2).select(["text"]).to_pandas())
    assert list(answer.columns) == ["label", "probability"] + [f"probability_{c}" for c in CLASSES]
    assert set(answer["label"]) <= set(CLASSES)

    # A second model is judged against the champion by per-row correctness (McNemar).
    second = retrain(tiny_config(demo_classes=3, demo_size=600, epochs=3, maxlen=30, units=6))
    decision = second.registration.decision
    assert decision.champion_version == summary.registration.version
    assert decision.p_value is not None
    assert decision.challenger_only_correct + decision.champion_only_correct >= 0

    # Batch scoring writes one probability column per class.
    texts = generate_topic_reviews(50, seed=3, classes=3)
    source = tmp_path / "to_score.parquet"
    pq.write_table(texts.select(["text"]), source)
    output = tmp_path / "scored.parquet"
    scored = score(
        ScoreConfig(
            input=str(source),
            output=str(output),
            tracking_uri=config.registry.tracking_uri,
            artifact_root=config.registry.artifact_root,
        )
    )
    table = pq.read_table(output)
    assert scored.rows == 50
    assert table.column_names == [
        "text",
        "label",
        "probability",
        "prediction",
        *(f"probability_{c}" for c in CLASSES),
    ]
    matrix = np.column_stack([table[f"probability_{c}"].to_numpy() for c in CLASSES])
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-5)
    assert table["label"].to_pylist() == [CLASSES[i] for i in matrix.argmax(axis=1)]


@pytest.mark.slow  # Trains through the whole flow.
def test_a_sweep_trains_k_class_candidates_and_registers_the_best(tiny_config):
    config = tiny_config(
        SweepConfig, demo_classes=4, demo_size=400, epochs=1, maxlen=30, cells=["gru", "lstm"]
    )
    summary = sweep(config)
    assert {outcome.name for outcome in summary.outcomes} >= {summary.chosen}
    chosen = next(outcome for outcome in summary.outcomes if outcome.name == summary.chosen)
    assert chosen.evaluated.classes == ["acting", "plot", "script", "soundtrack"]
    assert len(chosen.evaluated.confusion) == 4
    assert all(row["f1"] is not None for row in summary.comparison)


def test_the_data_gate_scales_class_balance_to_k_classes(tiny_config):
    # Four balanced topics: each has about a quarter of the train rows, which would fail a
    # two-class limit of 0.3 but passes it scaled to four classes (0.3 × 2/4 = 0.15).
    summary = retrain(tiny_config(demo_classes=4, demo_size=400, min_class_share=0.3))
    balance = next(finding for finding in summary.findings if finding.check == "class_balance")
    assert balance.severity == "ok" and balance.limit == pytest.approx(0.15)
    assert 0.15 < balance.value < 0.35
