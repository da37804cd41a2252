"""What the policy engine decides, and what it decides from.

`Decision` is the contract between the policy engine (`core.policy`), the
runner (`service.apply`, the lifecycle verbs) and the outputs (`plan`,
`explain`, pull-request comments).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from remediate.core.identity import Directory
from remediate.core.model import Settings
from remediate.core.times import iso as iso  # where outputs have always found it

DECISION_STATUSES = ("QUEUED", "PENDING_APPROVAL", "POLICY_VIOLATION")


@dataclass(frozen=True)
class Approval:
    """An approval (or, with `override`, an operator override) given for one content hash.

    An override lifts only the violations it was given for: `lifts` names them
    as `policy/rule` (`Violation.ref`). A violation that appears later (a rate
    limit reached, a freeze that starts) is not lifted by an earlier override.
    """

    by: str
    content_hash: str | None = None  # None: given for the current content (policy tests)
    at: datetime | None = None
    reason: str | None = None
    override: bool = False
    lifts: tuple[str, ...] = ()  # with `override`: the `policy/rule` of each violation lifted
    action_hash: str | None = None  # the ActionType's content hash (None: recorded before)


_MATCH = "Policy match: "
_LEGACY = re.compile(
    r"(?P<policy>[a-z0-9._-]+) (?:"
    r"rule (?P<rule>[a-z0-9._-]+)(?: \(overridable by an operator with a reason\))?\.$"
    r"|(?P<special>blockedEnvironments) includes "
    r"|(?P<limit>rateLimit) allows )"
)


def legacy_lifts(violations: Any) -> tuple[str, ...]:
    """What an override recorded before `Approval.lifts` existed lifts: `policy/rule`s.

    Such an event lists the full violation sentences in `details.violations`,
    each ending in `Policy match: <policy> rule <rule>.` (or `blockedEnvironments
    includes …`, `rateLimit allows …`); the override lifts exactly those. A
    sentence that names no policy match lifts nothing, and so does an event
    without `violations`: an old override never lifts more than it listed.
    """
    if not isinstance(violations, list):
        return ()
    refs: dict[str, None] = {}
    for text in violations:
        if not isinstance(text, str) or _MATCH not in text:
            continue
        found = _LEGACY.match(text[text.rindex(_MATCH) + len(_MATCH) :])
        if found:
            rule = found["rule"] or found["special"] or found["limit"]
            refs.setdefault(f"{found['policy']}/{rule}")
    return tuple(refs)


@dataclass(frozen=True, slots=True)  # slots: a checkpoint's 50,000 are held for rate limits
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
    """One violation: `message` is its sentence, `match` the `Policy match: …` clause.

    `message` is what the seed API's `violations` lists; `detail` (message and
    match) is what the decision's `detail` sentence says.
    """

    policy: str  # a policy name; several joined by "+" for changeWindows that never overlap
    rule: str  # rule name, "blockedEnvironments", "rateLimit" or "changeWindows"
    message: str
    overridable: bool
    match: str = ""

    @property
    def ref(self) -> str:
        """`policy/rule`: what an override names in `Approval.lifts`."""
        return f"{self.policy}/{self.rule}"

    @property
    def detail(self) -> str:
        return f"{self.message} {self.match}" if self.match else self.message


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


def requesters_of(recorded: str | None, by_file: Sequence[str]) -> tuple[str, ...]:
    """Everyone whose approval never counts: the recorded requester first when there is
    one, and everyone git names as a writer of the request's file (who added its
    content, who added its current path, who edited it since: a move must not make the
    mover the requester, and an edit of someone else's request is a request of its
    author's, who must not approve what they wrote)."""
    if not recorded:
        return tuple(by_file)
    return (recorded, *(who for who in by_file if who.casefold() != recorded.casefold()))


def decision_context(
    now: datetime,
    directory: Directory,
    settings: Settings,
    requesters: Sequence[str] = (),
    approvals: Iterable[Approval] = (),
    executions: Iterable[Execution] = (),
) -> Context:
    """The one way a decision's context is built (apply, the verbs, plan, explain, policy
    test). The first of `requesters` (`requesters_of`) is the requester the policies see,
    whose approvals the engine drops; the approvals of the others are dropped here."""
    requester, *others = tuple(requesters) or (None,)
    kept = tuple(
        a for a in approvals if not any(directory.same_person(a.by, who) for who in others)
    )
    return Context(
        now=now,
        directory=directory,
        requester=requester,
        approvals=kept,
        executions=tuple(executions),
        default_decision=settings.default_decision,
        default_approvals=settings.default_approvals,
    )
