"""The run reports: what a retraining or a scoring run did, for the Prefect UI and the terminal."""

from __future__ import annotations

from rnn_retrain.config.secrets import redacted
from rnn_retrain.data.labels import headline_f1, is_binary, metric_name
from rnn_retrain.results import (
    BASELINE_DESCRIPTIONS,
    GateDecision,
    Metrics,
    RetrainSummary,
    ScoreResult,
    StartingPoint,
)

METRIC_ORDER = ("accuracy", "precision", "recall", "f1", "roc_auc", "loss")
CLASS_METRIC_ORDER = ("accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr", "loss")


def headline_metrics(metrics: Metrics) -> list[tuple[str, float | int | None]]:
    """The metrics a report lists first: binary ones, or the K-class ones (no per-class rows)."""
    order = METRIC_ORDER if "f1" in metrics else CLASS_METRIC_ORDER
    return [(name, metrics.get(name)) for name in order]


def class_figures(metrics: Metrics, classes: list[str]) -> list[tuple[str, float, float]]:
    """Each class's name, test precision and recall (K-class metrics)."""
    return [
        (
            name,
            float(metrics[f"precision_{metric_name(name)}"] or 0.0),
            float(metrics[f"recall_{metric_name(name)}"] or 0.0),
        )
        for name in classes
    ]


def is_multiclass(summary: RetrainSummary) -> bool:
    """Whether the run's labels hold more than two classes."""
    return len(summary.classes) > 2


def _fmt(value: float | int | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def describe_verdict(decision: GateDecision) -> str:
    """What the gate did with the challenger, in words."""
    if decision.approval == "pending":
        return "kept as challenger, awaiting approval"
    return "promoted to champion" if decision.promote else "kept as challenger"


def start_note(start: StartingPoint | None) -> str:
    """ "; warm start: from champion version N, ..." or "; cold start: why", when a warm start
    was asked for; else nothing."""
    return f"; {start.describe()}" if start is not None else ""


def planned_epochs(summary: RetrainSummary) -> int:
    """The epochs the fit could run: warm_start_epochs for a warm start, else epochs."""
    training = summary.config.training
    warm = summary.start is not None and summary.start.warm
    return training.warm_start_epochs if warm else training.epochs


def resumed_note(epoch: int) -> str:
    """ ", resumed from epoch N" when training continued from a checkpoint, else nothing."""
    return f", resumed from epoch {epoch}" if epoch else ""


# A validation accuracy this far above the test accuracy (1 point) is called optimistic.
OPTIMISTIC_GAP = 0.01


def validation_note(summary: RetrainSummary) -> str:
    """ "; validation accuracy A, G points above/below test", with a hint when G is large."""
    gap = summary.validation_test_gap
    side = "above" if gap >= 0 else "below"
    note = (
        f"; validation accuracy {summary.validation_accuracy:.4f}, "
        f"{abs(gap) * 100:.1f} points {side} test"
    )
    if gap > OPTIMISTIC_GAP and not summary.config.source.group_column:
        note += (
            " (optimistic: validation rows may share a group, e.g. a movie, with train rows; "
            "see --group-column)"
        )
    return note


def mlflow_run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """A markdown link to the MLflow run (or how to open it, for a local store); a password in
    the URI is never shown."""
    tracking_uri = redacted(tracking_uri)
    path = f"#/experiments/{experiment_id}/runs/{run_id}"
    if tracking_uri.startswith(("http://", "https://")):
        return f"[{run_id}]({tracking_uri.rstrip('/')}/{path})"
    return (
        f"`{run_id}` in `{tracking_uri}`: run `mlflow ui --backend-store-uri {tracking_uri}` "
        f"and open http://127.0.0.1:5000/{path}"
    )


def mlflow_version_link(tracking_uri: str, model_name: str, version: str) -> str:
    """A markdown link to a model version in the MLflow UI (its URI, for a local store)."""
    tracking_uri = redacted(tracking_uri)
    if tracking_uri.startswith(("http://", "https://")):
        path = f"#/models/{model_name}/versions/{version}"
        return f"[{model_name} v{version}]({tracking_uri.rstrip('/')}/{path})"
    return f"`models:/{model_name}/{version}`"


def _data_section(summary: RetrainSummary) -> list[str]:
    rows = summary.rows
    lines = [
        "## Data",
        f"Source `{summary.config.source.data}`, split by {summary.split_method}; "
        f"vocabulary of {summary.vocabulary_size} ids fitted on the train split.",
        "",
    ]
    if not is_binary(summary.classes):
        lines += [
            "| split | rows | " + " | ".join(f"`{name}`" for name in summary.classes) + " |",
            "| --- | ---: |" + " ---: |" * len(summary.classes),
        ]
        for split in ("train", "test"):
            counts = [str(rows[f"{split}_class_{index}"]) for index in range(len(summary.classes))]
            lines.append(f"| {split} | {rows[split]} | " + " | ".join(counts) + " |")
    else:
        lines += ["| split | rows | positive | negative |", "| --- | ---: | ---: | ---: |"]
        for split in ("train", "test"):
            lines.append(
                f"| {split} | {rows[split]} | {rows[f'{split}_pos']} | {rows[f'{split}_neg']} |"
            )
    if summary.stages:
        lines += ["", "## Stages", "| stage | status | why |", "| --- | --- | --- |"]
        lines += [f"| {d.stage} | {d.status} | {d.reason} |" for d in summary.stages.values()]
    lines += ["", "## Data gate"]
    if summary.dropped_empty:
        lines.append(f"- {summary.dropped_empty} rows with an empty or missing text were dropped.")
    lines += ["", "| check | result | finding |", "| --- | --- | --- |"]
    return lines + [f"| {f.check} | {f.severity} | {f.message} |" for f in summary.findings]


def _training_section(summary: RetrainSummary) -> list[str]:
    model, metrics = summary.config.model, summary.metrics
    lines = [
        "## Training",
        f"{model.cell} ({model.units} units, embedding {model.embedding_dim}, "
        f"{model.rnn_layers} layer(s){', bidirectional' if model.bidirectional else ''}) on "
        f"{summary.train_rows} rows, validated on {summary.validation_rows}: "
        f"{summary.epochs_run} of {planned_epochs(summary)} epochs in "
        f"{summary.train_seconds:.1f} s, best epoch {summary.best_epoch}"
        f"{resumed_note(summary.resumed_from_epoch)}{validation_note(summary)}"
        f"{start_note(summary.start)}.",
        "",
        "## Test metrics",
        "| metric | value |",
        "| --- | ---: |",
    ]
    lines += [f"| {name} | {_fmt(value)} |" for name, value in headline_metrics(metrics)]
    if not is_multiclass(summary):
        return lines + [
            f"| confusion [tn fp; fn tp] | [{metrics['tn']} {metrics['fp']}; "
            f"{metrics['fn']} {metrics['tp']}] |"
        ]
    lines += ["", "### Per class", "| class | precision | recall |", "| --- | ---: | ---: |"]
    lines += [
        f"| `{name}` | {precision:.4f} | {recall:.4f} |"
        for name, precision, recall in class_figures(metrics, summary.classes)
    ]
    names = summary.classes
    lines += [
        "",
        "### Confusion matrix (rows: true class; columns: predicted)",
        "| | " + " | ".join(f"`{name}`" for name in names) + " |",
        "| --- |" + " ---: |" * len(names),
    ]
    lines += [
        f"| `{name}` | " + " | ".join(str(count) for count in row) + " |"
        for name, row in zip(names, summary.confusion)
    ]
    return lines


def _baseline_section(summary: RetrainSummary) -> list[str]:
    baseline = summary.baseline
    if baseline is None:
        return ["## Bag-of-words baseline", "Not fitted in this run (`--no-baseline`)."]
    metrics = baseline.metrics
    level = summary.config.registry.significance_level
    lines = [
        "## Bag-of-words baseline",
        f"{BASELINE_DESCRIPTIONS[baseline.kind]} ({baseline.features} terms), "
        f"fitted on the same {baseline.train_rows} train rows in {baseline.seconds:.1f} s and "
        "scored on the same test rows.",
        "",
        f"**{baseline.verdict(level)}**",
        "",
        "| figure | RNN | baseline |",
        "| --- | ---: | ---: |",
    ]
    lines.append(f"| accuracy | {summary.metrics['accuracy']:.4f} | {metrics['accuracy']:.4f} |")
    f1_name = "f1" if "f1" in summary.metrics else "f1 (macro)"
    lines.append(
        f"| {f1_name} | {_fmt(headline_f1(summary.metrics))} | {_fmt(headline_f1(metrics))} |"
    )
    if baseline.p_value is not None:
        lines += [
            "",
            f"Exact McNemar test on the test rows: b = {baseline.rnn_only_correct} rows only the "
            f"RNN got right, c = {baseline.baseline_only_correct} only the baseline, "
            f"p = {baseline.p_value:.4g}.",
        ]
    return lines


def _decision_section(summary: RetrainSummary) -> list[str]:
    registration, gate = summary.registration, summary.config.registry
    decision = registration.decision
    lines = [
        "## Champion / challenger decision",
        f"**{registration.model_name} v{registration.version} {describe_verdict(decision)}**: "
        f"{decision.reason}",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| policy | {decision.policy} (significance level {gate.significance_level}, "
        f"min gain {gate.min_accuracy_gain}, floor {decision.min_accuracy}) |",
        f"| challenger accuracy | {decision.challenger_accuracy:.4f} |",
    ]
    if decision.champion_version is not None and decision.champion_accuracy is not None:
        lines += [
            f"| champion | v{decision.champion_version}, "
            f"accuracy {decision.champion_accuracy:.4f} |",
            f"| accuracy gain | {decision.accuracy_gain:+.4f} |",
            f"| McNemar b / c / p | {decision.challenger_only_correct} / "
            f"{decision.champion_only_correct} / {decision.p_value:.4g} |",
        ]
    link = mlflow_run_link(
        registration.tracking_uri, registration.experiment_id, registration.mlflow_run_id
    )
    return lines + ["", f"MLflow run: {link}"]


def render_run_report(summary: RetrainSummary) -> str:
    """The markdown run report shown in the Prefect UI: data, findings, metrics, baseline, decision."""
    lines = [f"# Retraining run `{summary.run_id}`", ""]
    for section in (_data_section, _training_section, _baseline_section, _decision_section):
        lines += [*section(summary), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_score_report(result: ScoreResult) -> str:
    """The markdown report of a scoring run for the Prefect UI: rows, model, input, output."""
    chosen = f" (alias `{result.model_alias}`)" if result.model_alias else ""
    lines = [
        f"# Batch scoring run `{result.run_id}`",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| rows scored | {result.rows} |",
        f"| model | {result.model_name} v{result.model_version}{chosen} |",
        f"| input | `{result.config.input}`: {len(result.inputs)} file(s), "
        f"sha256 `{result.input_sha256[:12]}…` |",
        f"| predictions | `{result.predictions.uri}` |",
    ]
    if result.drift is None:
        lines += ["", "No drift report: the model was registered without a training profile."]
    else:
        lines += [
            "",
            "## Drift from the model's training data",
            "",
            "| check | drifted | figure | limit | finding |",
            "| --- | --- | ---: | ---: | --- |",
        ]
        lines += [
            f"| {f.check} | {'yes' if f.severity == 'warning' else 'no'} | {f.value:.4f} | "
            f"{f.limit} | {f.message} |"
            for f in result.drift
        ]
    return "\n".join(lines) + "\n"
