"""Terminal rendering of a run summary: the data counts, the training facts and the test metrics."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

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


def print_summary(summary: Any, console: Console | None = None) -> None:
    """Print what a retraining run did and how well the model scored."""
    console = console or Console()
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
    console.print(metrics_table(summary.metrics))
    registration = getattr(summary, "registration", None)
    if registration is not None:
        decision = registration.decision
        verdict = "promoted to champion" if decision.promote else "kept as challenger"
        reused = " (already registered: same data and recipe)" if registration.reused else ""
        console.print(
            f"registry: {registration.model_name} v{registration.version}{reused} {verdict}: "
            f"{decision.reason}"
        )
