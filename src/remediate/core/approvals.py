"""Which approvals and overrides count, and for which require_approval rule.

An approval counts for a rule when it was given for the request's current
content (its content hash), by an operator who is not the requester (compared
as people, through `Directory`), and who is one of the rule's principals (an
empty `from` means any operator). Approvers are distinct people: one person
with two identities counts once. Everything that does not count is kept with
the reason, so `explain` and the lifecycle verbs can say why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from remediate.core.decision import Approval, ApprovalNeed, Context


@dataclass(frozen=True)
class Screened:
    """Approvals that may count (by principal still to check) and those that never do."""

    valid: tuple[Approval, ...]
    rejected: tuple[tuple[str, str], ...]  # (approver, why)
    overrides: tuple[Approval, ...]  # valid operator overrides with a reason


def screen(approvals: Sequence[Approval], content_hash: str, context: Context) -> Screened:
    valid: list[Approval] = []
    rejected: list[tuple[str, str]] = []
    overrides: list[Approval] = []
    for approval in approvals:
        why = _why_not(approval, content_hash, context)
        if why:
            rejected.append((approval.by, why))
            continue
        valid.append(approval)
        if approval.override:
            if approval.reason and approval.reason.strip():
                overrides.append(approval)
            else:
                rejected.append(
                    (approval.by, "an override needs a reason; counted as an approval only")
                )
    return Screened(tuple(valid), tuple(rejected), tuple(overrides))


def _why_not(approval: Approval, content_hash: str, context: Context) -> str | None:
    if approval.content_hash is not None and approval.content_hash != content_hash:
        return (
            f"stale: given for content {approval.content_hash[:19]}…, "
            f"the request has changed since (now {content_hash[:19]}…)"
        )
    if context.directory.same_person(approval.by, context.requester):
        return "is the requester, who never counts"
    if not context.directory.is_operator(approval.by):
        return "is not an operator"
    return None


def need(
    policy: str,
    rule: str,
    minimum: int,
    principals: Sequence[str],
    screened: Screened,
    context: Context,
) -> ApprovalNeed:
    """How far the valid approvals go toward one rule's `approvals: {min, from}`."""
    directory = context.directory
    counted: list[str] = []
    people: dict[str, str] = {}
    ignored: list[tuple[str, str]] = list(screened.rejected)
    for approval in screened.valid:
        if principals and not directory.matches_any(approval.by, principals):
            ignored.append((approval.by, f"is not one of {', '.join(principals)}"))
            continue
        person = directory.person(approval.by)
        if person in people:
            if people[person] != approval.by:
                ignored.append((approval.by, f"is the same person as {people[person]}"))
            continue
        people[person] = approval.by
        counted.append(approval.by)
    return ApprovalNeed(policy, rule, minimum, tuple(principals), tuple(counted), tuple(ignored))
