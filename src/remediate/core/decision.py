"""What the policy engine decides, and what it decides from.

`Decision` is the contract between the policy engine (`core.policy`), the
runner (`service.apply`, the lifecycle verbs) and the outputs (`plan`,
`explain`, pull-request comments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from remediate.core.identity import Directory

DECISION_STATUSES = ("QUEUED", "PENDING_APPROVAL", "POLICY_VIOLATION")


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds: 2026-11-23T09:00:00.000Z."""
    if moment is None:
        return None

    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Approval:
    """An approval (or, with `override`, an operator override) given for one content hash."""

    by: str
    content_hash: str | None = None  # None: given for the current content (policy tests)
    at: datetime | None = None
    reason: str | None = None
    override: bool = False


@dataclass(frozen=True)
class Execution:
    """A prior execution start, from the audit: what rate limits count."""

    at: datetime
    request_id: str = ""
    service_name: str | None = None
    environment: str | None = None
    action_type: str | None = None
    incident_id: str | None = None
    severity: str | None = None


@dataclass(frozen=True)
class Context:
    """Everything a decision depends on besides the request and the policies."""

    now: datetime
    directory: Directory = field(default_factory=Directory)
    requester: str | None = None
    approvals: tuple[Approval, ...] = ()
    executions: tuple[Execution, ...] = ()
    default_decision: str = "require_approval"
    default_approvals: dict[str, Any] = field(default_factory=lambda: {"min": 1, "from": []})


@dataclass(frozen=True)
class Violation:
    policy: str
    rule: str  # rule name, "blockedEnvironments" or "rateLimit"
    message: str
    overridable: bool


@dataclass(frozen=True)
class ApprovalNeed:
    """One require_approval rule: how many distinct approvals, from whom, and who counted."""

    policy: str
    rule: str
    min: int
    principals: tuple[str, ...]
    counted: tuple[str, ...]  # approvers that count toward it
    ignored: tuple[tuple[str, str], ...] = ()  # (approver, why it does not count)

    @property
    def missing(self) -> int:
        return max(0, self.min - len(self.counted))


@dataclass(frozen=True)
class Decision:
    request_id: str
    status: str  # one of DECISION_STATUSES
    detail: str
    violations: tuple[Violation, ...] = ()
    policies: tuple[str, ...] = ()  # matched policies
    rules: tuple[str, ...] = ()  # "policy/rule" of every rule that applied
    needs: tuple[ApprovalNeed, ...] = ()
    not_before: datetime | None = None  # set only when deferred by change windows
    overridden: tuple[Violation, ...] = ()  # violations lifted by an operator override
    errors: tuple[str, ...] = ()  # condition evaluation errors (failed closed)

    @property
    def approvals_required(self) -> int:
        return sum(n.missing for n in self.needs)

    @property
    def approvers(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for need in self.needs:
            if need.missing:
                for p in need.principals:
                    seen.setdefault(p)
        return tuple(seen)

    @property
    def deferred(self) -> bool:
        return self.not_before is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "status": self.status,
            "detail": self.detail,
            "violations": [v.message for v in self.violations],
            "policies": list(self.policies),
            "rules": list(self.rules),
            "approvalsRequired": self.approvals_required,
            "approvers": list(self.approvers),
            "notBefore": iso(self.not_before),
        }
