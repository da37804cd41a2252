"""Report runs: the seed's run records, their fold on the `reports` stream, the listing
of `report runs`; pure.

A run is one subject of the audit's `reports` stream: a `start` event when it starts
(`running`, before anything is sent) and a `finish` event when it ends (`success` when
every recipient received the report, else `failed`), each carrying the whole record
(`details.run`, every field of the seed), so the fold of a subject is its latest record.
The stream's lifecycle: a run starts once, finishes once, after it started; `audit
verify` reports any other event. `retryOf` names the run a `report retry` repeats (its
period: `from`, `to`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from remediate.core import streams
from remediate.core.times import iso, parse_time

STREAM = "reports"
RUNNING, SUCCESS, FAILED = "running", "success", "failed"
STATUSES = (RUNNING, SUCCESS, FAILED)
# the seed's fields, in its order: the JSON keys and the CSV header of `report runs`
FIELDS = (
    "id",
    "organizationId",
    "cadence",
    "recipients",
    "deliveredCount",
    "failedDeliveryCount",
    "deliveryFailures",
    "deletedCount",
    "totalActions",
    "failedActions",
    "pendingApprovals",
    "queuedExecutions",
    "status",
    "error",
    "startedAt",
    "completedAt",
)


@dataclass(frozen=True)
class ReportRun:
    id: str
    organization: str
    cadence: str
    recipients: tuple[str, ...]
    started_at: datetime
    period_start: datetime
    period_end: datetime
    status: str = RUNNING
    delivered: int = 0
    failures: tuple[tuple[str, str], ...] = ()  # (recipient, error)
    deleted: int = 0
    total_actions: int = 0
    failed_actions: int = 0
    pending_approvals: int = 0
    queued_executions: int = 0
    error: str | None = None
    completed_at: datetime | None = None
    retry_of: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The seed's fields in its order, then this project's (`from`, `to`, `retryOf`)."""
        return {
            "id": self.id,
            "organizationId": self.organization,
            "cadence": self.cadence,
            "recipients": list(self.recipients),
            "deliveredCount": self.delivered,
            "failedDeliveryCount": len(self.failures),
            "deliveryFailures": [{"recipient": r, "error": e} for r, e in self.failures],
            "deletedCount": self.deleted,
            "totalActions": self.total_actions,
            "failedActions": self.failed_actions,
            "pendingApprovals": self.pending_approvals,
            "queuedExecutions": self.queued_executions,
            "status": self.status,
            "error": self.error,
            "startedAt": iso(self.started_at),
            "completedAt": iso(self.completed_at),
            "from": iso(self.period_start),
            "to": iso(self.period_end),
            "retryOf": self.retry_of,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportRun:
        """A run from its record; ValueError (or KeyError, TypeError) when it is not one."""
        status = data["status"]
        if status not in STATUSES:
            raise ValueError(f"report run status {status!r} is not one of {', '.join(STATUSES)}")
        completed = data.get("completedAt")
        return cls(
            id=str(data["id"]),
            organization=str(data["organizationId"]),
            cadence=str(data["cadence"]),
            recipients=tuple(str(r) for r in data["recipients"]),
            started_at=parse_time(data["startedAt"]),
            period_start=parse_time(data["from"]),
            period_end=parse_time(data["to"]),
            status=status,
            delivered=int(data["deliveredCount"]),
            failures=tuple(
                (str(f["recipient"]), str(f["error"])) for f in data["deliveryFailures"]
            ),
            deleted=int(data["deletedCount"]),
            total_actions=int(data["totalActions"]),
            failed_actions=int(data["failedActions"]),
            pending_approvals=int(data["pendingApprovals"]),
            queued_executions=int(data["queuedExecutions"]),
            error=data.get("error"),
            completed_at=parse_time(completed) if completed else None,
            retry_of=data.get("retryOf"),
        )

    def finished(
        self, now: datetime, failures: Mapping[str, str], error: str | None = None
    ) -> ReportRun:
        """The run once delivery ended: `failures` per recipient, or `error` before any."""
        listed = tuple((r, failures[r]) for r in self.recipients if r in failures)
        ok = error is None and not listed
        return replace(
            self,
            status=SUCCESS if ok else FAILED,
            delivered=0 if error else len(self.recipients) - len(listed),
            failures=listed,
            error=error
            or (f"{len(listed)} of {len(self.recipients)} deliveries failed" if listed else None),
            completed_at=now,
        )


def latest(records: Iterable[ReportRun]) -> dict[str, ReportRun]:
    """Each run's latest record (a finished record over its `running` one)."""
    found: dict[str, ReportRun] = {}
    for run in records:
        old = found.get(run.id)
        if old is None or _rank(run) >= _rank(old):
            found[run.id] = run
    return found


def _rank(run: ReportRun) -> tuple[int, str]:
    return (run.status != RUNNING, iso(run.completed_at) or "")


def select(
    runs: Iterable[ReportRun],
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> list[ReportRun]:
    """Newest first by `startedAt` (then id); `since`/`until` bound `startedAt`, inclusive."""
    chosen = [
        r
        for r in runs
        if (status is None or r.status == status)
        and (since is None or r.started_at >= since)
        and (until is None or r.started_at <= until)
    ]
    chosen.sort(key=lambda r: (r.started_at, r.id), reverse=True)
    return chosen if limit is None else chosen[:limit]


def csv_row(run: ReportRun) -> list[object]:
    """The CSV cells of a run, in `FIELDS` order (lists joined by `;`)."""
    body = run.as_json()
    failures = ";".join(f"{f['recipient']}: {f['error']}" for f in body["deliveryFailures"])
    body = {**body, "recipients": ";".join(body["recipients"]), "deliveryFailures": failures}
    return [body[name] for name in FIELDS]


def _start(subject: str) -> dict[str, Any] | None:
    return None


def _step(value: dict[str, Any] | None, event: streams.StreamEvent) -> dict[str, Any]:
    return dict(event.details["run"])


def _refuse(value: dict[str, Any] | None, event: streams.StreamEvent) -> str | None:
    """Why the stream's lifecycle forbids `event` (None: it may happen)."""
    run = event.details.get("run")
    if not isinstance(run, dict) or run.get("id") != event.subject:
        return "a report run event carries its run's record (details.run) under its own id"
    if run.get("status") not in STATUSES:
        return f"a report run's status is one of {', '.join(STATUSES)}"
    if event.verb == "start":
        if value is not None:
            return "the run has started already"
        return None if run["status"] == RUNNING else "a run starts running"
    if event.verb == "finish":
        if value is None:
            return "a run finishes only after it started"
        if value.get("status") != RUNNING:
            return "the run has finished already"
        return None if run["status"] != RUNNING else "a finished run is success or failed"
    return f"{event.verb!r} is not a verb of report runs (start, finish)"


FOLD = streams.register(streams.Fold(STREAM, start=_start, step=_step, refuse=_refuse))


def run_of(value: Any) -> ReportRun | None:
    """The run a subject's folded value holds; None for one that does not read."""
    if not isinstance(value, dict):
        return None
    try:
        return ReportRun.from_json(value)
    except (KeyError, TypeError, ValueError):
        return None
