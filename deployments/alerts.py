"""Apply the alerting automations of ``automations.yaml`` to the configured Prefect server.

Prefect's ``prefect automation create --from-file`` reads the same file but creates a second copy
of every automation each time it runs; `apply_automations` creates what is missing and updates
the rest in place, by name, so applying is safe to repeat (from CI, after every change).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore
from prefect.exceptions import ObjectNotFound

from rnn_retrain.errors import RetrainError

AUTOMATIONS_FILE = Path(__file__).with_name("automations.yaml")
BLOCK_PLACEHOLDER = "{{ notification_block }}"
# The block `--webhook-url` creates (or updates): a plain JSON POST of the subject and body.
WEBHOOK_BLOCK_NAME = "rnn-retrain-alerts"
LATE_AUTOMATION = "rnn-retrain: scheduled run late"


@dataclass(frozen=True)
class Applied:
    """One automation as the server now holds it."""

    name: str
    action: str  # "created" or "updated"
    id: UUID


def notification_block_id(webhook_url: str | None, block: str | None) -> UUID:
    """The notification block the automations send through.

    Args:
        webhook_url: Create or update the ``custom-webhook/rnn-retrain-alerts`` block to POST
            ``{"subject": ..., "text": ...}`` as JSON to this URL.
        block: An existing notification block, as ``<block-type-slug>/<name>`` (for example
            ``slack-webhook/team-alerts``).
    """
    if webhook_url and block:
        raise RetrainError("alerts apply: give --webhook-url or --block, not both")
    if webhook_url:
        if not webhook_url.startswith(("http://", "https://")):
            raise RetrainError(f"--webhook-url: {webhook_url!r} is not an http(s) URL")
        # The URL (its path is often a token) is kept among the block's secret values, which
        # the UI and the API show obfuscated; the block's plain URL field is only a template.
        webhook = CustomWebhookNotificationBlock(
            name=WEBHOOK_BLOCK_NAME,
            url="{{webhook_url}}",
            secrets={"webhook_url": webhook_url},
            json_data={"subject": "{{subject}}", "text": "{{body}}"},
        )
        return webhook.save(WEBHOOK_BLOCK_NAME, overwrite=True)
    slug = block or f"custom-webhook/{WEBHOOK_BLOCK_NAME}"
    block_type, _, block_name = slug.partition("/")
    if not block_type or not block_name:
        raise RetrainError(f"--block: {slug!r} is not <block-type-slug>/<name>")
    try:
        with get_client(sync_client=True) as client:
            document = client.read_block_document_by_name(
                block_name, block_type, include_secrets=False
            )
    except ObjectNotFound:
        raise RetrainError(
            f"--block: no notification block {slug!r} on the Prefect server; create it "
            "in the UI (Blocks) or pass --webhook-url"
        ) from None
    capabilities = document.block_schema.capabilities if document.block_schema else []
    if "notify" not in capabilities:
        raise RetrainError(f"--block: {slug!r} is not a notification block (it cannot notify)")
    return document.id


def load_automations(
    block_id: UUID, late_after_minutes: float | None = None, path: Path = AUTOMATIONS_FILE
) -> list[AutomationCore]:
    """The file's automations, sending through ``block_id``, validated by Prefect's own model.

    ``late_after_minutes`` replaces how long a Late scheduled run may wait before the late-run
    automation fires.
    """
    try:
        document = yaml.safe_load(path.read_text())
        entries = document["automations"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise RetrainError(f"{path}: not a list of automations ({error})") from None
    automations = []
    for entry in entries:
        entry = _fill(entry, BLOCK_PLACEHOLDER, str(block_id))
        if late_after_minutes is not None and entry.get("name") == LATE_AUTOMATION:
            entry["trigger"]["within"] = late_after_minutes * 60
        try:
            automations.append(AutomationCore.model_validate(entry))
        except ValueError as error:
            name = entry.get("name", "an automation")
            message = str(error).splitlines()[0]
            raise RetrainError(f"{path}: {name!r} is not a valid automation ({message})") from None
    return automations


def apply_automations(automations: list[AutomationCore]) -> list[Applied]:
    """Create each automation, or update the one of the same name in place."""
    applied = []
    with get_client(sync_client=True) as client:
        for automation in automations:
            existing = client.read_automations_by_name(automation.name)
            if existing:
                client.update_automation(existing[0].id, automation)
                applied.append(Applied(automation.name, "updated", existing[0].id))
            else:
                created = client.create_automation(automation)
                applied.append(Applied(automation.name, "created", created))
    return applied


def _fill(value: Any, placeholder: str, replacement: str) -> Any:
    """``value`` with every string equal to ``placeholder`` replaced."""
    if isinstance(value, dict):
        return {key: _fill(item, placeholder, replacement) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, placeholder, replacement) for item in value]
    return replacement if value == placeholder else value
