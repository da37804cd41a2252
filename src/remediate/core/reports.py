"""The report digest of a period, aggregated over folded request states; pure.

`DigestTally.add` takes states one at a time (streamed by `service.reports`), keeping
counts and at most `LISTED` rows of each list, newest first; `digest` freezes it. What a
period holds: requests last updated in it (totals by status and by environment), the
failures in it with their errors, overrides given in it with their reasons, and the
outcomes (completions and failures) per UTC day. Pending approvals are those pending at
the end of the period, whenever they were asked for. The signal is as of the end.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from remediate.core import lifecycle
from remediate.core.signal import Signal
from remediate.core.stats import Stats, Summary, Tally, in_scope
from remediate.core.times import iso, parse_time

LISTED = 50  # rows of each list a digest keeps (the count says how many there are)
EXPIRING = timedelta(days=14)


@dataclass(frozen=True)
class Row:
    """One line of a list: a request, when, who, and what (an error, a reason, approvers)."""

    request_id: str
    at: str
    environment: str
    service_name: str
    action_type: str
    who: str = ""
    text: str = ""
    status: str = ""  # of a recent execution (the control center)

    def as_json(self) -> dict[str, Any]:
        body = {
            "requestId": self.request_id,
            "at": self.at,
            "environment": self.environment,
            "serviceName": self.service_name,
            "actionType": self.action_type,
            "who": self.who,
            "text": self.text,
        }
        if self.status:
            body["status"] = self.status
        return body


@dataclass(frozen=True)
class Expiring:
    """A policy exception that expires within 14 days of the report's end."""

    policy: str
    name: str
    owner: str
    reason: str
    expires: str


@dataclass(frozen=True)
class Digest:
    start: datetime
    end: datetime
    organization: str
    by_status: dict[str, int]
    by_environment: dict[str, dict[str, int]]  # environment → status → count
    failures: tuple[Row, ...]
    failure_count: int
    pending: tuple[Row, ...]  # `who`: who may approve, `text`: what the decision says
    pending_count: int
    overrides: tuple[Row, ...]  # `who`: the operator, `text`: the reason
    override_count: int
    expiring: tuple[Expiring, ...]
    signal: Signal
    days: tuple[tuple[str, int, int], ...]  # (yyyy-mm-dd, completed, failed) per UTC day
    queued: int
    stats: Stats | None = None  # every request now (`stats`), for the control center
    executions: tuple[Row, ...] = ()  # the newest executions, whenever (`status`, `text`)
    execution_count: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "organizationId": self.organization,
            "from": iso(self.start),
            "to": iso(self.end),
            "totalActions": self.total,
            "byStatus": dict(self.by_status),
            "byEnvironment": {e: dict(c) for e, c in self.by_environment.items()},
            "failures": [r.as_json() for r in self.failures],
            "failedActions": self.failure_count,
            "pending": [r.as_json() for r in self.pending],
            "pendingApprovals": self.pending_count,
            "overrides": [r.as_json() for r in self.overrides],
            "expiringExceptions": [e.__dict__ for e in self.expiring],
            "signal": self.signal.as_json(),
            "outcomesPerDay": [{"day": d, "completed": c, "failed": f} for d, c, f in self.days],
            "queuedExecutions": self.queued,
            "stats": self.stats.as_json() if self.stats is not None else None,
            "recentExecutions": [r.as_json() for r in self.executions],
        }


def _row(state: Summary, at: str, who: str = "", text: str = "", status: str = "") -> Row:
    return Row(
        state.request_id,
        at,
        state.environment or "-",
        state.service_name or "-",
        state.action_type or "-",
        who,
        text,
        status,
    )


EXECUTED = (lifecycle.EXECUTING, lifecycle.COMPLETED, lifecycle.FAILED)


class Newest:
    """The newest `LISTED` rows of a list, and how many there were."""

    def __init__(self) -> None:
        self.heap: list[tuple[str, str, Row]] = []
        self.count = 0

    def add(self, row: Row) -> None:
        self.count += 1
        item = (row.at, row.request_id, row)
        if len(self.heap) < LISTED:
            heapq.heappush(self.heap, item)
        elif item[:2] > self.heap[0][:2]:
            heapq.heapreplace(self.heap, item)

    def rows(self) -> tuple[Row, ...]:
        return tuple(r for *_, r in sorted(self.heap, key=lambda t: t[:2], reverse=True))


@dataclass
class DigestTally:
    start: datetime
    end: datetime
    organization: str = ""
    environment: str | None = None
    by_status: Counter[str] = field(default_factory=Counter)
    by_environment: dict[str, Counter[str]] = field(default_factory=dict)
    failures: Newest = field(default_factory=Newest)
    pending: Newest = field(default_factory=Newest)
    overrides: Newest = field(default_factory=Newest)
    days: Counter[tuple[str, str]] = field(default_factory=Counter)
    signal: Tally | None = None
    executions: Newest = field(default_factory=Newest)

    def __post_init__(self) -> None:
        self.signal = Tally(self.end, self.environment)

    def within(self, at: str | datetime | None) -> bool:
        if at is None:
            return False
        try:
            moment = parse_time(at)
        except ValueError:
            return False
        return self.start <= moment <= self.end

    def add(self, state: Summary) -> None:
        if not in_scope(state, self.environment):
            return
        assert self.signal is not None
        self.signal.add(state)
        if self.within(state.updated_at):
            self.by_status[state.status] += 1
            env = state.environment or "-"
            self.by_environment.setdefault(env, Counter())[state.status] += 1
            if state.status == lifecycle.COMPLETED and state.updated_at:
                self.days[(state.updated_at[:10], lifecycle.COMPLETED)] += 1
        if self.within(state.last_failed_at) and state.last_failed_at:
            self.failures.add(_row(state, state.last_failed_at, text=state.last_failure or ""))
            self.days[(state.last_failed_at[:10], lifecycle.FAILED)] += 1
        if state.status == lifecycle.PENDING_APPROVAL:
            self.pending.add(_row(state, state.updated_at or "", text=state.detail))
        if state.status in EXECUTED and state.updated_at:
            text = state.error or state.detail
            self.executions.add(
                _row(state, state.updated_at, state.performed_by or "", text, state.status)
            )
        for approval in state.overrides:
            if self.within(approval.at):
                at = iso(approval.at) or ""
                self.overrides.add(_row(state, at, approval.by, approval.reason or ""))

    def add_all(self, states: Iterable[Summary]) -> DigestTally:
        for state in states:
            self.add(state)
        return self

    def digest(self, approvers: dict[str, str], expiring: Iterable[Expiring] = ()) -> Digest:
        """The digest; `approvers`: request → who may approve it (from a fresh decision)."""
        assert self.signal is not None
        pending = tuple(
            Row(**{**r.__dict__, "who": approvers.get(r.request_id, "")})
            for r in self.pending.rows()
        )
        return Digest(
            start=self.start,
            end=self.end,
            organization=self.organization,
            by_status=dict(sorted(self.by_status.items())),
            by_environment={
                env: dict(sorted(c.items())) for env, c in sorted(self.by_environment.items())
            },
            failures=self.failures.rows(),
            failure_count=self.failures.count,
            pending=pending,
            pending_count=self.pending.count,
            overrides=self.overrides.rows(),
            override_count=self.overrides.count,
            expiring=tuple(sorted(expiring, key=lambda e: (e.expires, e.policy, e.name))),
            signal=self.signal.signal(),
            days=self._days(),
            queued=self.signal.by_status[lifecycle.QUEUED],
            stats=self.signal.stats(),
            executions=self.executions.rows(),
            execution_count=self.executions.count,
        )

    def _days(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        day = self.start.date()
        while day <= self.end.date():
            key = day.isoformat()
            out.append(
                (key, self.days[(key, lifecycle.COMPLETED)], self.days[(key, lifecycle.FAILED)])
            )
            day += timedelta(days=1)
        return tuple(out)


def expiring_exceptions(policies: Iterable[Any], end: datetime) -> list[Expiring]:
    """Exceptions of `policies` (`core.compiled.Policy`) that are in force at `end` and
    expire within 14 days of it."""
    return [
        Expiring(p.name, e.name, e.owner, e.reason.strip(), iso(e.expires) or "")
        for p in policies
        for e in p.exceptions
        if end < e.expires <= end + EXPIRING
    ]


def period(text: str) -> timedelta:
    """`24h`, `7d`, `30d`…: a whole number of hours or days, at least one hour."""
    from remediate.core.duration import parse_duration

    found = parse_duration(text)
    if found < timedelta(hours=1):
        raise ValueError(f"{text!r} is shorter than an hour")
    return found


CADENCE = {"daily": timedelta(hours=24), "weekly": timedelta(days=7)}
