"""The housekeeping flow: the scheduled form of `retrain gc` (`rnn_retrain.orchestration.housekeeping`)."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from rnn_retrain.config.housekeeping import GcSettings
from rnn_retrain.orchestration.housekeeping import Plan, render_plan, run_collection


@flow(name="gc", description="Remove old run folders, stale cache records, unpromoted versions.")
def gc(settings: GcSettings = GcSettings()) -> Plan:
    """Plan the collection, remove it unless ``dry_run``, and report both lists in the UI."""
    plan = run_collection(settings)
    get_run_logger().info(
        "%s %d items, %d bytes",
        "Would remove" if settings.dry_run else "Removed",
        len(plan.remove),
        plan.bytes,
    )
    create_markdown_artifact(render_plan(plan, settings.dry_run), key="retrain-gc")
    return plan
