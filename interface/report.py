"""Terminal rendering of a run summary: the data counts, the training facts and the test metrics."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rnn_retrain.data.labels import headline_f1
from rnn_retrain.interface.console import output_console
from rnn_retrain.reports import (
    class_figures,
    describe_verdict,
    headline_metrics,
    resumed_note,
    start_note,
    validation_note,
)
from rnn_retrain.results import (
    BASELINE_DESCRIPTIONS,
    BaselineResult,
    Metrics,
    RetrainSummary,
    StageDecision,
    SweepSummary,
)


def metrics_table(metrics: Metrics, classes: list[str] | None = None) -> Table:
    """A two-column table of the test metrics: with the binary confusion cells, or with each
    class's precision and recall when ``classes`` are more than two."""
    table = Table(title="Test metrics", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in headline_metrics(metrics):
        table.add_row(name, "n/a" if value is None else f"{value:.4f}")
    if classes is not None and len(classes) > 2:
        for name, precision, recall in class_figures(metrics, classes):
            table.add_row(f"precision / recall {name}", f"{precision:.4f} / {recall:.4f}")
    else:
        table.add_row(
            "confusion [tn fp; fn tp]",
            f"[{metrics['tn']} {metrics['fp']}; {metrics['fn']} {metrics['tp']}]",
        )
    table.add_row("test rows", str(metrics["rows"]))
    return table


def confusion_table(confusion: list[list[int]], classes: list[str]) -> Table:
    """The K × K confusion matrix: a row per true class, a column per predicted class."""
    table = Table(title="Confusion (rows: true, columns: predicted)", header_style="bold")
    table.add_column("true \\ predicted")
    for name in classes:
        table.add_column(name, justify="right")
    for name, row in zip(classes, confusion):
        table.add_row(name, *(str(count) for count in row))
    return table


def stages_table(stages: dict[str, StageDecision]) -> Table:
    """One row per cached stage: whether it reused an earlier result or ran, and why."""
    table = Table(title="Stages", show_header=True, header_style="bold")
    for column in ("stage", "status", "why"):
        table.add_column(column)
    for decision in stages.values():
        table.add_row(decision.stage, decision.status, decision.reason)
    return table


def baseline_line(baseline: BaselineResult, level: float) -> str:
    """The baseline's test figures and how the RNN compares, in one line."""
    metrics = baseline.metrics
    return (
        f"baseline: {BASELINE_DESCRIPTIONS[baseline.kind]}, "
        f"accuracy {metrics['accuracy']:.4f}, "
        f"F1 {headline_f1(metrics):.4f} (fitted in {baseline.seconds:.1f}s); "
        f"{baseline.verdict(level)}"
    )


def print_summary(summary: RetrainSummary, console: Console | None = None) -> None:
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
        f"training: {summary.config.model.cell} on {summary.train_rows} rows, validated on "
        f"{summary.validation_rows}; {summary.epochs_run} epochs in {summary.train_seconds:.1f}s, "
        f"best epoch {summary.best_epoch}{resumed_note(summary.resumed_from_epoch)}"
        f"{validation_note(summary)}{start_note(summary.start)}"
    )
    for finding in summary.findings:
        if finding.severity == "warning":
            console.print(f"data gate warning: {finding.check}: {finding.message}")
    classes = summary.classes
    if len(classes) > 2:
        console.print(f"classes: {len(classes)} ({', '.join(classes)})")
    console.print(metrics_table(summary.metrics, classes))
    if len(classes) > 2:
        console.print(confusion_table(summary.confusion, classes))
    if summary.baseline is not None:
        console.print(baseline_line(summary.baseline, summary.config.registry.significance_level))
    registration = summary.registration
    decision = registration.decision
    verdict = describe_verdict(decision)
    reused = " (already registered: same data and recipe)" if registration.reused else ""
    console.print(
        f"registry: {registration.model_name} v{registration.version}{reused} {verdict}: "
        f"{decision.reason}"
    )


def print_comparison(summary: SweepSummary, console: Console | None = None) -> None:
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
    if summary.baseline is not None:
        level = summary.config.registry.significance_level
        console.print(f"{summary.chosen} vs {baseline_line(summary.baseline, level)}")
    registration = summary.registration
    decision = registration.decision
    verdict = describe_verdict(decision)
    console.print(
        f"registry: {summary.chosen} → {registration.model_name} v{registration.version} "
        f"{verdict}: {decision.reason}"
    )
