"""``retrain gc``: remove old run folders, stale cache records and never-promoted versions."""

from __future__ import annotations

import argparse

from rich.table import Table

from rnn_retrain.config.housekeeping import GcSettings
from rnn_retrain.errors import EXIT_OK
from rnn_retrain.interface.console import output_console
from rnn_retrain.interface.model_commands import print_json

# The flags, by the settings field they set.
FLAGS = {
    "older_than_days": "--older-than-days",
    "versions_older_than_days": "--versions-older-than-days",
    "artifact_root": "--artifact-root",
    "tracking_uri": "--tracking-uri",
    "model_name": "--model-name",
}


def add_gc_command(commands: argparse._SubParsersAction) -> None:
    """Register ``retrain gc``: one flag per `GcSettings` field, described by the field."""
    gc = commands.add_parser(
        "gc",
        help="remove old run folders, stale cache records and never-promoted versions",
        description=(
            "Remove run folders and never-promoted registered versions older than their limits, "
            "and stage-cache records whose artifacts are gone. Never touches a version an alias "
            "or the champion history refers to, nor the run folders they were trained in."
        ),
    )
    fields = GcSettings.model_fields
    for name, flag in FLAGS.items():
        kind = float if fields[name].annotation is float else str
        gc.add_argument(
            flag, type=kind, default=fields[name].default, help=fields[name].description
        )
    gc.add_argument("--dry-run", action="store_true", help=fields["dry_run"].description)
    gc.add_argument("--json", action="store_true", help="print the plan as one JSON document")
    gc.set_defaults(handler=gc_command)


def gc_command(args: argparse.Namespace) -> int:
    """Plan, remove unless --dry-run, and print both lists with their bytes."""
    from rnn_retrain.orchestration.housekeeping import run_collection  # MLflow: seconds.

    settings = GcSettings(dry_run=args.dry_run, **{name: getattr(args, name) for name in FLAGS})
    plan = run_collection(settings)
    verb = "would remove" if settings.dry_run else "removed"
    if args.json:
        items = {"remove": plan.remove, "keep": plan.keep}
        print_json({key: [vars(item) for item in value] for key, value in items.items()})
        return EXIT_OK
    table = Table(title="retrain gc")
    for column in ("", "kind", "what", "bytes", "why"):
        table.add_column(column, justify="right" if column == "bytes" else "left")
    for action, items in ((verb, plan.remove), ("kept", plan.keep)):
        for item in items:
            table.add_row(action, item.kind, item.name, f"{item.bytes:,}", item.reason)
    console = output_console()
    console.print(table)
    console.print(f"gc: {verb} {len(plan.remove)} items, {plan.bytes:,} bytes")
    return EXIT_OK
