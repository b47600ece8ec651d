"""The baseline tasks: fit the bag-of-words baseline, then compare it with the RNN.

The logic is in `rnn_retrain.stages.baseline`. `baseline` needs only the snapshot, so a flow runs
it beside training; `compare_baseline` needs evaluate's predictions too, and is cheap.
"""

from __future__ import annotations

import time

from prefect import get_run_logger, task

from rnn_retrain.config.retrain import RetrainConfig
from rnn_retrain.data.labels import headline_f1
from rnn_retrain.orchestration.caching import cached_stage
from rnn_retrain.orchestration.retries import RETRY_SETTINGS
from rnn_retrain.orchestration.runs import current_run_id, store_for
from rnn_retrain.results import BaselineResult, EvaluateResult
from rnn_retrain.stages.baseline import (
    CONFIG,
    compare_with_network,
    fit_baseline,
    model_document,
    split_rows,
    terms_table,
)
from rnn_retrain.stages.evaluate import compute_metrics, predictions_table
from rnn_retrain.store.artifacts import ArtifactRef


@task(**cached_stage("baseline", CONFIG))
def baseline(
    snapshot: ArtifactRef, config: RetrainConfig, classes: list[str] | None = None
) -> BaselineResult:
    """Fit the baseline on the train rows, score the test rows, and store both as plain data.

    The texts of the snapshot are held in memory at once: scikit-learn fits on all of them.
    ``classes`` name the class ids (ingest's), for the per-class metrics of K classes.
    """
    store = store_for(config)
    rows = store.read_table(snapshot, columns=["row_id", "text", "label", "split"])
    train, test = split_rows(rows, "train"), split_rows(rows, "test")
    started = time.perf_counter()
    fitted = fit_baseline(
        train["text"],
        train["label"].to_numpy(),
        config.training.baseline_max_features,
        config.training.baseline_min_df,
        config.training.baseline_kind,
    )
    seconds = round(time.perf_counter() - started, 2)
    labels = test["label"].to_numpy()
    probabilities = fitted.scores(test["text"])
    metrics = compute_metrics(labels, probabilities, classes=classes)
    get_run_logger().info(
        "baseline (%s): accuracy %.4f, F1 %.4f, fitted in %.1f s",
        fitted.kind,
        metrics["accuracy"],
        headline_f1(metrics),
        seconds,
    )
    run_id = current_run_id()
    # The kind fitted: TF-IDF where NB was asked for K > 2 classes (see `fit_baseline`).
    params = {**CONFIG.values(config), "kind": fitted.kind, "fitted_on": "train"}
    terms = terms_table(fitted)
    return BaselineResult(
        metrics=metrics,
        terms=store.write_table(run_id, "baseline", "terms", terms, params),
        model=store.write_json(run_id, "baseline", "model", model_document(fitted), params),
        predictions=store.write_table(
            run_id,
            "baseline",
            "predictions",
            predictions_table(test["row_id"].to_numpy(), labels, probabilities),
            {**params, "split": "test"},
        ),
        train_rows=train.num_rows,
        features=terms.num_rows,
        seconds=seconds,
        kind=fitted.kind,
    )


@task(name="compare-baseline", **RETRY_SETTINGS)
def compare_baseline(
    fitted: BaselineResult, evaluated: EvaluateResult, config: RetrainConfig
) -> BaselineResult:
    """The baseline with its exact McNemar comparison against the RNN's test predictions."""
    store = store_for(config)
    b, c, p_value = compare_with_network(
        store.read_table(fitted.predictions), store.read_table(evaluated.predictions)
    )
    return fitted.model_copy(
        update={"rnn_only_correct": b, "baseline_only_correct": c, "p_value": p_value}
    )
