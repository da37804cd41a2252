"""The `detail` sentence of a decision: what decided it, in words a person reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from remediate.core.decision import Approval, ApprovalNeed, Violation

if TYPE_CHECKING:
    from remediate.core.verdicts import Findings


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def who(principals: Sequence[str]) -> str:
    return " or ".join(principals) if principals else "any operator"


def need_sentence(need: ApprovalNeed, message: str) -> str:
    said = message.strip().rstrip(".")
    where = "" if need.policy == "settings" else f" Policy match: {need.policy} rule {need.rule}."
    have = f" ({len(need.counted)} of {need.min} so far)" if need.counted else ""
    return (
        f"Needs {plural(need.missing, 'more approval')} from {who(need.principals)}{have}"
        + (f": {said}." if said else ".")
        + where
    )


def local_time(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M ") + zone


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(
    status: str,
    violations: Sequence[Violation],
    overridden: Sequence[Violation],
    needs: Sequence[ApprovalNeed],
    messages: Mapping[tuple[str, str], str],
    found: Findings,
    overrides: Sequence[Approval],
    not_before: datetime | None,
    now: datetime,
) -> str:
    parts: list[str] = []
    if status == "POLICY_VIOLATION":
        parts.extend(v.detail for v in violations)
    elif status == "PENDING_APPROVAL":
        parts.extend(
            need_sentence(n, messages.get((n.policy, n.rule), "")) for n in needs if n.missing
        )
    else:
        parts.append(_queued(needs, found, not_before))
    if overridden:
        by = ", ".join(f"{o.by} (reason: {(o.reason or '').strip()})" for o in overrides)
        lifted = "; ".join(f"{v.policy} {v.rule}" for v in overridden)
        parts.append(f"Operator override by {by} lifts: {lifted}.")
    parts.extend(found.errors)
    parts.extend(note.rstrip(".") + "." for note in found.notes)
    return " ".join(parts)


def _where(need: ApprovalNeed) -> str:
    if need.policy == "settings":
        return "Settings defaultDecision"
    return f"{need.policy} rule {need.rule}"


def _queued(needs: Sequence[ApprovalNeed], found: Findings, not_before: datetime | None) -> str:
    if needs:
        granted = "; ".join(f"{_where(n)} by {', '.join(n.counted)}" for n in needs)
        head = f"Approved: {granted}."
    elif found.allowed_by == ["settings/defaultDecision"]:
        head = (
            "No policy rule decided this request; Settings defaultDecision is allow."
            if found.policies
            else "No policy matches this request; Settings defaultDecision is allow."
        )
    else:
        rules = ", ".join(r.replace("/", " rule ", 1) for r in found.allowed_by if "/" in r)
        head = f"Allowed. Policy match: {rules}." if rules else "Allowed."
    if not_before is None:
        if found.windowed:
            head += (
                " Inside the change window of " + ", ".join(p.name for p in found.windowed) + "."
            )
        return head
    names = ", ".join(p.name for p in found.windowed)
    zone = found.windowed[0].windows[0].timezone
    return (
        f"{head} Deferred: outside the change window of {names}; "
        f"not before {local_time(not_before, zone)} ({utc(not_before)})."
    )
