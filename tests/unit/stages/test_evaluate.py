import keras
import numpy as np
import pytest

from rnn_retrain.stages.evaluate import compute_metrics, predictions_table


def test_metrics_on_a_hand_checked_example():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([0.1, 0.6, 0.4, 0.9])
    metrics = compute_metrics(labels, probabilities)
    assert metrics["accuracy"] == 0.5 and metrics["precision"] == 0.5 and metrics["recall"] == 0.5
    assert metrics["f1"] == 0.5 and metrics["roc_auc"] == 0.75
    assert (metrics["tn"], metrics["fp"], metrics["fn"], metrics["tp"], metrics["rows"]) == (
        1,
        1,
        1,
        1,
        4,
    )
    expected_loss = float(
        keras.losses.binary_crossentropy(labels.astype("float32"), probabilities.astype("float32"))
    )
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_auc_is_undefined_for_a_single_class():
    assert compute_metrics(np.array([1, 1]), np.array([0.2, 0.9]))["roc_auc"] is None


def test_predictions_are_keyed_by_row_id():
    table = predictions_table(np.array([7, 9]), np.array([1, 0]), np.array([0.8, 0.5]))
    assert table.to_pydict() == {
        "row_id": [7, 9],
        "label": [1, 0],
        "probability": [0.8, 0.5],
        "prediction": [1, 1],
    }


def test_mlflow_links_point_at_the_run():
    from rnn_retrain.reports import mlflow_run_link

    assert (
        mlflow_run_link("http://mlflow:5000/", "3", "abc")
        == "[abc](http://mlflow:5000/#/experiments/3/runs/abc)"
    )
    local = mlflow_run_link("sqlite:////home/u/.rnn-retrain/mlflow.db", "1", "abc")
    assert "mlflow ui --backend-store-uri sqlite:////home/u/.rnn-retrain/mlflow.db" in local
    assert "http://127.0.0.1:5000/#/experiments/1/runs/abc" in local
