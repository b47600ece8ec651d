"""Terminal rendering of a run summary: the data counts, the training facts and the test metrics."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console
from rich.table import Table

# Width of the printed tables when the output is not a terminal (rich would use 80 columns).
PIPED_WIDTH = 160


def output_console() -> Console:
    """The console the CLI prints to: the terminal's width, or `PIPED_WIDTH` when piped.

    Piped to a file or a CI log, rich would wrap the tables at 80 columns; ``COLUMNS`` still
    sets the width when it is given.
    """
    console = Console()
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(width=PIPED_WIDTH)


METRIC_ORDER = ("accuracy", "precision", "recall", "f1", "roc_auc", "loss")


def metrics_table(metrics: dict[str, Any]) -> Table:
    """A two-column table of the test metrics and the confusion matrix."""
    table = Table(title="Test metrics", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in METRIC_ORDER:
        value = metrics.get(name)
        table.add_row(name, "n/a" if value is None else f"{value:.4f}")
    table.add_row(
        "confusion [tn fp; fn tp]",
        f"[{metrics['tn']} {metrics['fp']}; {metrics['fn']} {metrics['tp']}]",
    )
    table.add_row("test rows", str(metrics["rows"]))
    return table


def stages_table(stages: dict[str, Any]) -> Table:
    """One row per cached stage: whether it reused an earlier result or ran, and why."""
    table = Table(title="Stages", show_header=True, header_style="bold")
    for column in ("stage", "status", "why"):
        table.add_column(column)
    for decision in stages.values():
        table.add_row(decision.stage, decision.status, decision.reason)
    return table


def describe_verdict(decision: Any) -> str:
    """What the gate did with the challenger, in words."""
    return "promoted to champion" if decision.promote else "kept as challenger"


def print_summary(summary: Any, console: Console | None = None) -> None:
    """Print what a retraining run did and how well the model scored."""
    console = console or output_console()
    if summary.stages:
        console.print(stages_table(summary.stages))
    rows = summary.rows
    console.print(
        f"data: {rows['train']} train / {rows['test']} test rows "
        f"(split by {summary.split_method}; {summary.dropped_empty} empty texts dropped), "
        f"vocabulary {summary.vocabulary_size} ids"
    )
    console.print(
        f"training: {summary.config.cell} on {summary.train_rows} rows, validated on "
        f"{summary.validation_rows}; {summary.epochs_run} epochs in {summary.train_seconds:.1f}s, "
        f"best epoch {summary.best_epoch}"
    )
    for finding in summary.findings:
        if finding.severity == "warning":
            console.print(f"data gate warning: {finding.check}: {finding.message}")
    console.print(metrics_table(summary.metrics))
    registration = summary.registration
    decision = registration.decision
    verdict = describe_verdict(decision)
    reused = " (already registered: same data and recipe)" if registration.reused else ""
    console.print(
        f"registry: {registration.model_name} v{registration.version}{reused} {verdict}: "
        f"{decision.reason}"
    )


def mlflow_run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """A markdown link to the MLflow run (or how to open it, for a local store)."""
    path = f"#/experiments/{experiment_id}/runs/{run_id}"
    if tracking_uri.startswith(("http://", "https://")):
        return f"[{run_id}]({tracking_uri.rstrip('/')}/{path})"
    return (
        f"`{run_id}` in `{tracking_uri}`: run `mlflow ui --backend-store-uri {tracking_uri}` "
        f"and open http://127.0.0.1:5000/{path}"
    )


def render_run_report(summary: Any) -> str:
    """The markdown run report shown in the Prefect UI: data, findings, metrics, decision."""
    rows, metrics, config = summary.rows, summary.metrics, summary.config
    lines = [
        f"# Retraining run `{summary.run_id}`",
        "",
        "## Data",
        f"Source `{config.data}`, split by {summary.split_method}; "
        f"vocabulary of {summary.vocabulary_size} ids fitted on the train split.",
        "",
        "| split | rows | positive | negative |",
        "| --- | ---: | ---: | ---: |",
    ]
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
    lines += [f"| {f.check} | {f.severity} | {f.message} |" for f in summary.findings]
    lines += [
        "",
        "## Training",
        f"{config.cell} ({config.units} units, embedding {config.embedding_dim}, "
        f"{config.rnn_layers} layer(s){', bidirectional' if config.bidirectional else ''}) on "
        f"{summary.train_rows} rows, validated on {summary.validation_rows}: "
        f"{summary.epochs_run} of {config.epochs} epochs in {summary.train_seconds:.1f} s, "
        f"best epoch {summary.best_epoch}.",
        "",
        "## Test metrics",
        "| metric | value |",
        "| --- | ---: |",
    ]
    for name in METRIC_ORDER:
        value = metrics.get(name)
        lines.append(f"| {name} | {'n/a' if value is None else f'{value:.4f}'} |")
    lines.append(
        f"| confusion [tn fp; fn tp] | [{metrics['tn']} {metrics['fp']}; "
        f"{metrics['fn']} {metrics['tp']}] |"
    )
    registration = summary.registration
    decision = registration.decision
    verdict = describe_verdict(decision)
    lines += [
        "",
        "## Champion / challenger decision",
        f"**{registration.model_name} v{registration.version} {verdict}**: {decision.reason}",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| policy | {decision.policy} (significance level {config.significance_level}, "
        f"min gain {config.min_accuracy_gain}, floor {decision.min_accuracy}) |",
        f"| challenger accuracy | {decision.challenger_accuracy:.4f} |",
    ]
    if decision.champion_version is not None and decision.champion_accuracy is not None:
        lines += [
            f"| champion | v{decision.champion_version}, accuracy {decision.champion_accuracy:.4f} |",
            f"| accuracy gain | {decision.accuracy_gain:+.4f} |",
            f"| McNemar b / c / p | {decision.challenger_only_correct} / "
            f"{decision.champion_only_correct} / {decision.p_value:.4g} |",
        ]
    link = mlflow_run_link(
        registration.tracking_uri, registration.experiment_id, registration.mlflow_run_id
    )
    lines += ["", f"MLflow run: {link}"]
    return "\n".join(lines) + "\n"


def print_comparison(summary: Any, console: Console | None = None) -> None:
    """Print a sweep's comparison table and what the registry decided for the chosen one."""
    console = console or output_console()
    table = Table(title="Sweep candidates (chosen on validation loss)", header_style="bold")
    columns = ("candidate", "params", "val_loss", "accuracy", "f1", "roc_auc", "train_s", "outcome")
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("candidate", "params", "outcome") else "right"
        )
    for row in summary.comparison:
        table.add_row(*("" if row[column] is None else str(row[column]) for column in columns))
    console.print(table)
    registration = summary.registration
    decision = registration.decision
    verdict = describe_verdict(decision)
    console.print(
        f"registry: {summary.chosen} → {registration.model_name} v{registration.version} "
        f"{verdict}: {decision.reason}"
    )
