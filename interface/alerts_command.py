"""``retrain alerts apply``: put the alerting automations of deployments/automations.yaml on the
Prefect server (docs/alerts-and-triggers.md)."""

from __future__ import annotations

import argparse
import os

from rnn_retrain.environment.services import require_prefect_server
from rnn_retrain.errors import EXIT_OK, RetrainError

# Where `retrain alerts apply` reads the webhook URL when --webhook-url and --block are absent.
WEBHOOK_URL_VARIABLE = "RETRAIN_ALERTS_WEBHOOK_URL"


def add_alert_commands(commands: argparse._SubParsersAction) -> None:
    """``retrain alerts apply``."""
    alerts = commands.add_parser("alerts", help="alerting automations on the Prefect server")
    actions = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    apply = actions.add_parser(
        "apply",
        help="create or update the automations of deployments/automations.yaml",
        description=(
            "Create, or update in place by name, the Prefect automations that notify on a "
            "failed or late deployment run, a data-gate stop and a new champion, on the server "
            "at PREFECT_API_URL."
        ),
    )
    where = apply.add_mutually_exclusive_group()
    where.add_argument(
        "--webhook-url",
        help="POST each alert as JSON ({subject, text}) to this URL (saved as a secret value "
        "of the custom-webhook/rnn-retrain-alerts block); default: $"
        + WEBHOOK_URL_VARIABLE
        + ", which keeps a URL with a token out of shell history",
    )
    where.add_argument(
        "--block",
        help="send through this existing notification block, as TYPE-SLUG/NAME, e.g. "
        "slack-webhook/team-alerts (default: custom-webhook/rnn-retrain-alerts)",
    )
    apply.add_argument(
        "--late-after-minutes",
        type=float,
        help="how long a Late scheduled run may wait before it is reported (the file says 10)",
    )
    apply.set_defaults(handler=alerts_apply_command)


def alerts_apply_command(args: argparse.Namespace) -> int:
    """``retrain alerts apply``: one line per automation, created or updated."""
    from rnn_retrain.deployments.alerts import (
        apply_automations,
        load_automations,
        notification_block_id,
    )

    if args.late_after_minutes is not None and args.late_after_minutes <= 0:
        raise RetrainError("--late-after-minutes: must be greater than 0")
    require_prefect_server()
    webhook_url = args.webhook_url or (None if args.block else os.environ.get(WEBHOOK_URL_VARIABLE))
    block_id = notification_block_id(webhook_url or None, args.block)
    for applied in apply_automations(load_automations(block_id, args.late_after_minutes)):
        print(f"{applied.action} automation {applied.name!r} ({applied.id})")
    return EXIT_OK
