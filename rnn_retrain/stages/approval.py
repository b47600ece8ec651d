"""Approval before promotion: what a reviewer is shown, and the decision their answer makes.

With ``registry.approval: required``, a challenger the gate would promote is recorded as
"pending" instead (`awaiting_approval`); the run then asks a person (`rnn_retrain.tasks.approve`) and turns
the answer, or its absence, into the final decision (`reviewed`). Nothing here talks to Prefect
or MLflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rnn_retrain.results import BaselineResult, Finding, GateDecision


def awaiting_approval(decision: GateDecision) -> GateDecision:
    """The gate's promotion, held until a reviewer answers: nothing moves yet."""
    return decision.model_copy(update={"promote": False, "approval": "pending"})


def reviewed(
    decision: GateDecision,
    answer: str | None,
    reviewer: str,
    comment: str,
    at: datetime,
    champion_now: str | None,
    waited_seconds: int,
    version: str,
) -> GateDecision:
    """The final decision on a pending challenger.

    Args:
        decision: The pending decision (`awaiting_approval`).
        answer: "approve", "reject", or None when nobody answered in time.
        reviewer: Who answered (as they typed it in the form).
        comment: Their comment.
        at: When they answered (or when the wait ended).
        champion_now: The champion's version when the answer is applied. One that changed
            while the run waited was never compared with this challenger: it is kept.
        waited_seconds: The approval timeout, for the reason of a wait that ran out.
        version: The challenger's version (the champion already, on a retried attempt).
    """
    record = {"reviewed_at": at.isoformat(timespec="seconds"), "promote": False}
    if answer is None:
        return decision.model_copy(
            update={
                **record,
                "approval": "timed_out",
                "reason": f"no approval within {waited_seconds} s; champion kept "
                f"(the gate would have promoted: {decision.reason})",
            }
        )
    record |= {"reviewer": reviewer, "reviewer_comment": comment}
    said = f"{reviewer}: {comment}" if comment else reviewer
    if answer != "approve":
        return decision.model_copy(
            update={**record, "approval": "rejected", "reason": f"rejected by {said}"}
        )
    if champion_now not in (decision.champion_version, version):
        return decision.model_copy(
            update={
                **record,
                "approval": "approved",
                "reason": f"approved by {said}, but the champion became v{champion_now} while "
                "the run waited; kept (a new run judges against the new champion)",
            }
        )
    return decision.model_copy(
        update={
            **record,
            "approval": "approved",
            "promote": True,
            "reason": f"approved by {said} ({decision.reason})",
        }
    )


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def review_form(
    model_name: str,
    version: str,
    decision: GateDecision,
    challenger_f1: float | None,
    champion_f1: float | None,
    baseline: BaselineResult | None,
    significance_level: float,
    findings: list[Finding],
    version_link: str,
    deadline: datetime,
) -> str:
    """The Markdown the Prefect UI shows above the approve/reject form."""
    champion = decision.champion_version
    lines = [
        f"### Make {model_name} v{version} the champion?",
        f"The gate would promote it: {decision.reason}.",
        "",
        f"| | challenger v{version} | {f'champion v{champion}' if champion else 'no champion'} |",
        "| --- | ---: | ---: |",
        f"| test accuracy | {_figure(decision.challenger_accuracy)} | "
        f"{_figure(decision.champion_accuracy)} |",
        f"| test F1 | {_figure(challenger_f1)} | {_figure(champion_f1)} |",
        "",
    ]
    if decision.p_value is not None:
        lines.append(
            f"**McNemar** on the same test rows: {decision.challenger_only_correct} rows only "
            f"the challenger got right, {decision.champion_only_correct} only the champion, "
            f"p = {decision.p_value:.4g} ({decision.policy} policy)."
        )
    if baseline is not None:
        lines.append(
            f"**Baseline** ({baseline.kind}): test accuracy "
            f"{_figure(baseline.metrics.get('accuracy'))}; "
            f"{baseline.verdict(significance_level)}."
        )
    flagged = [finding for finding in findings if finding.severity in ("warning", "error")]
    if flagged:
        lines.append("**Data gate** warnings:")
        lines += [f"- {finding.check}: {finding.message}" for finding in flagged]
    else:
        lines.append(f"**Data gate**: all {len(findings)} checks passed.")
    lines += [
        "",
        f"MLflow: {version_link}",
        "",
        f"Unanswered by {deadline_text(deadline)}, the champion is kept.",
    ]
    return "\n".join(lines)


def deadline_text(deadline: datetime) -> str:
    """A deadline as a reviewer reads it: "2026-12-07 15:39 UTC"."""
    return deadline.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def deadline_after(start: datetime, seconds: int) -> datetime:
    """When a wait that starts at ``start`` runs out."""
    return start + timedelta(seconds=seconds)
