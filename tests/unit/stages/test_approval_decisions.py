"""Approval's logic: the pending decision, the reviewer's answer applied, the form's figures."""

from datetime import datetime, timezone

import pytest

from rnn_retrain.results import Finding, GateDecision
from rnn_retrain.stages.approval import awaiting_approval, review_form, reviewed
from rnn_retrain.stages.register import decision_tags

AT = datetime(2026, 12, 6, 9, 30, tzinfo=timezone.utc)
GATE = GateDecision(
    promote=True,
    reason="significantly better than champion v3",
    policy="better",
    challenger_accuracy=0.91,
    min_accuracy=0.6,
    champion_version="3",
    champion_accuracy=0.88,
    challenger_only_correct=120,
    champion_only_correct=60,
    p_value=1.2e-5,
)


def answer(decision: GateDecision, said: str | None, champion_now: str | None = "3"):
    return reviewed(decision, said, "Ada", "read the errors", AT, champion_now, 3600, "4")


def test_a_promotion_awaiting_approval_moves_nothing_and_says_so():
    pending = awaiting_approval(GATE)
    assert not pending.promote and pending.approval == "pending"
    tags = decision_tags(pending)
    assert tags["gate.decision"] == "awaiting approval" and tags["approval.status"] == "pending"
    assert "approval.status" not in decision_tags(GATE)  # Nothing about approval when not asked.


def test_an_approval_promotes_and_records_who_why_and_when():
    final = answer(awaiting_approval(GATE), "approve")
    assert final.promote and final.approval == "approved"
    assert (
        final.reason == "approved by Ada: read the errors (significantly better than champion v3)"
    )
    assert (final.reviewer, final.reviewer_comment, final.reviewed_at) == (
        "Ada",
        "read the errors",
        "2026-12-06T09:30:00+00:00",
    )
    # A retried attempt that finds the alias already moved to the challenger promotes again.
    assert answer(awaiting_approval(GATE), "approve", champion_now="4").promote


@pytest.mark.parametrize(
    ("said", "champion_now", "status", "reason"),
    [
        ("reject", "3", "rejected", "rejected by Ada: read the errors"),
        (
            "approve",
            "5",
            "approved",
            "approved by Ada: read the errors, but the champion became v5 while the run waited; "
            "kept (a new run judges against the new champion)",
        ),
        (
            None,
            "3",
            "timed_out",
            "no approval within 3600 s; champion kept (the gate would have promoted: "
            "significantly better than champion v3)",
        ),
    ],
)
def test_a_rejection_a_stale_approval_and_silence_keep_the_champion(
    said, champion_now, status, reason
):
    final = answer(awaiting_approval(GATE), said, champion_now)
    assert not final.promote and final.approval == status and final.reason == reason
    assert final.reviewed_at == "2026-12-06T09:30:00+00:00"
    assert (final.reviewer is None) == (said is None)


def test_the_form_shows_both_models_the_test_and_the_data_gate():
    findings = [
        Finding(check="oov_rate", severity="warning", value=0.2, limit=0.1, message="20% unknown"),
        Finding(check="leakage", severity="ok", value=0.0, limit=0.0, message="none"),
    ]
    form = review_form(
        "review-sentiment",
        "4",
        awaiting_approval(GATE),
        0.905,
        0.87,
        None,
        0.05,
        findings,
        "`models:/review-sentiment/4`",
        AT,
    )
    assert "| test accuracy | 0.9100 | 0.8800 |" in form
    assert "| test F1 | 0.9050 | 0.8700 |" in form
    assert "120 rows only the challenger got right, 60 only the champion, p = 1.2e-05" in form
    assert "- oov_rate: 20% unknown" in form and "leakage" not in form
    assert "Unanswered by 2026-12-06 09:30 UTC, the champion is kept." in form
