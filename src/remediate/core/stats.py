"""Aggregates over folded request states: `stats`, the inputs of `signal`, `export csv`.

Pure. States arrive one at a time (`Tally.add`, `newest`), so a caller can stream them
from the checkpoint's buckets without holding every state or event at once; each as a
`Summary`, the fields aggregates read (decoding a whole `Summary` from a bucket,
with its executions, approvals and event ids, costs several times more). A request
counts once, in its current state; requests the audit does not know (NEW, no decision
recorded) are not counted: `stats` and `signal` read the events, as the contract says.
Environments are compared case-insensitively, as everywhere else.
"""

from __future__ import annotations

import csv
import heapq
import io
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from remediate.core import lifecycle
from remediate.core.audit import RequestState
from remediate.core.decision import Approval
from remediate.core.signal import Signal, signal
from remediate.core.times import iso, parse_time

DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Summary:
    """What aggregates read of one request's folded state."""

    request_id: str
    status: str
    environment: str | None = None
    service_name: str | None = None
    action_type: str | None = None
    incident_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    performed_by: str | None = None
    detail: str = ""
    error: str | None = None
    last_failure: str | None = None
    last_failed_at: str | None = None
    overrides: tuple[Approval, ...] = ()  # the approvals that are operator overrides

    @classmethod
    def of(cls, state: RequestState) -> Summary:
        values = {name: getattr(state, name) for name in _SCALARS}
        return cls(**values, overrides=tuple(a for a in state.approvals if a.override))

    @classmethod
    def from_checkpoint(cls, name: str, data: dict[str, Any]) -> Summary:
        """From a state as a checkpoint bucket holds it (`core.checkpoint.encode`)."""
        get = data.get
        approvals = get("approvals")
        overrides = (
            tuple(
                Approval(
                    by=a["by"],
                    content_hash=a.get("content_hash"),
                    at=parse_time(a["at"]["$t"]),
                    reason=a.get("reason"),
                    override=True,
                    lifts=tuple(a.get("lifts", ())),
                )
                for a in approvals
                if a.get("override")
            )
            if approvals
            else ()
        )
        return cls(  # positional, in field order: this runs once per request of the audit
            name,
            str(data["status"]),
            get("environment"),
            get("service_name"),
            get("action_type"),
            get("incident_id"),
            get("created_at"),
            get("updated_at"),
            get("performed_by"),
            get("detail") or "",
            get("error"),
            get("last_failure"),
            get("last_failed_at"),
            overrides,
        )

    def row(self) -> list[Any]:
        """The summary as one list (the checkpoint's `summaries/` buckets): the scalars
        in field order, then the overrides as [by, content hash, at, reason, lifts]."""
        overrides = [
            [a.by, a.content_hash, iso(a.at), a.reason, list(a.lifts)] for a in self.overrides
        ]
        return [*(getattr(self, name) for name in _SCALARS), overrides]

    @classmethod
    def from_row(cls, row: list[Any]) -> Summary:
        """The summary `row` wrote (ValueError, KeyError, TypeError: not one). Runs once
        per request of the audit: positional, and no generator for the common no-override."""
        if len(row) != _ROW:
            raise ValueError("a summary row of another shape")
        overrides = row[-1]
        found = (
            tuple(
                Approval(
                    by=by,
                    content_hash=content,
                    at=parse_time(at),
                    reason=reason,
                    override=True,
                    lifts=tuple(lifts),
                )
                for by, content, at, reason, lifts in overrides
            )
            if overrides
            else ()
        )
        return cls(*row[:-1], found)  # type: ignore[call-arg]


_SCALARS = (
    "request_id",
    "status",
    "environment",
    "service_name",
    "action_type",
    "incident_id",
    "created_at",
    "updated_at",
    "performed_by",
    "detail",
    "error",
    "last_failure",
    "last_failed_at",
)
_ROW = len(_SCALARS) + 1


def success_rate(completed: int, total: int) -> float:
    """completed / total × 100 with one decimal, half up (31 of 42 → 73.8); 0.0 for none."""
    if total == 0:
        return 0.0
    exact = Decimal(completed) * 100 / Decimal(total)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Stats:
    total: int
    pending: int
    executing: int
    completed: int
    failed: int

    @property
    def success_rate(self) -> float:
        return success_rate(self.completed, self.total)

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "pending": self.pending,
            "executing": self.executing,
            "completed": self.completed,
            "failed": self.failed,
            "successRate": self.success_rate,
        }


def in_scope(state: Summary, environment: str | None) -> bool:
    """Is `state` a recorded request of `environment` (any, when None)?"""
    if state.status == lifecycle.NEW:
        return False
    return environment is None or (state.environment or "").casefold() == environment.casefold()


def failed_since(state: Summary, since: datetime, until: datetime) -> bool:
    """Did the request's last failure happen in (since, until]?"""
    if state.last_failed_at is None:
        return False
    try:
        at = parse_time(state.last_failed_at)
    except ValueError:
        return False
    return since < at <= until


@dataclass
class Tally:
    """Counts by status, and the failures of the 24 h before `now`, of one scope."""

    now: datetime
    environment: str | None = None
    by_status: Counter[str] = field(default_factory=Counter)
    failed_recently: int = 0

    def add(self, state: Summary) -> None:
        if not in_scope(state, self.environment):
            return
        self.by_status[state.status] += 1
        if failed_since(state, self.now - DAY, self.now):
            self.failed_recently += 1

    def add_all(self, states: Iterable[Summary]) -> Tally:
        for state in states:
            self.add(state)
        return self

    def stats(self) -> Stats:
        count = self.by_status
        return Stats(
            total=sum(count.values()),
            pending=count[lifecycle.PENDING_APPROVAL],
            executing=count[lifecycle.EXECUTING],
            completed=count[lifecycle.COMPLETED],
            failed=count[lifecycle.FAILED],
        )

    def signal(self) -> Signal:
        count = self.by_status
        return signal(
            count[lifecycle.PENDING_APPROVAL], count[lifecycle.EXECUTING], self.failed_recently
        )


# export csv: the seed's columns, in its order
COLUMNS = (
    "id",
    "incidentId",
    "actionType",
    "status",
    "performedBy",
    "serviceName",
    "environment",
    "createdAt",
    "updatedAt",
    "details",
    "error",
)
# A spreadsheet takes a cell starting with one of these as a formula (OWASP, "CSV
# Injection"): = + - @, and tab and carriage return, which some strip before looking.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutral_cell(value: object) -> str:
    """A CSV cell that no spreadsheet evaluates: one starting like a formula gets a
    leading apostrophe (shown by none, kept by all); None is the empty cell."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_row(state: Summary) -> tuple[str | None, ...]:
    """One request in its current state, in `COLUMNS` order (`id` is its name)."""
    return (
        state.request_id,
        state.incident_id,
        state.action_type,
        state.status,
        state.performed_by,
        state.service_name,
        state.environment,
        state.created_at,
        state.updated_at,
        state.detail,
        state.error,
    )


def updated_within(state: Summary, start: datetime, end: datetime) -> bool:
    try:
        return state.updated_at is not None and start <= parse_time(state.updated_at) <= end
    except ValueError:
        return False


def matches(state: Summary, status: str | None, environment: str | None) -> bool:
    return in_scope(state, environment) and (status is None or state.status == status)


def newest(
    states: Iterable[Summary], status: str | None, environment: str | None, limit: int
) -> list[Summary]:
    """The `limit` most recently updated matching requests, newest first (holding only
    `limit` of them at any time); ties by name."""
    chosen = (s for s in states if matches(s, status, environment))
    return heapq.nlargest(limit, chosen, key=lambda s: (s.updated_at or "", s.request_id))


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """RFC 4180 lines (CRLF, quoted as needed), every cell through `neutral_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(list(header))
    yield _take(buffer)
    for row in rows:
        writer.writerow([neutral_cell(v) for v in row])
        yield _take(buffer)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
