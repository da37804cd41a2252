"""What `apply` did: decisions, executions, skips, recoveries and failures, for every phase.

Its own module, so that the early phases (decide, select) record into it without
importing the phase that records outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remediate.core import lifecycle as lc
from remediate.core.audit import RequestState
from remediate.core.model import ActionType
from remediate.core.times import iso
from remediate.service.audit_log import PushStats


@dataclass(frozen=True)
class Failure:
    """A failed execution, why, and what happens next: a retry, or why there is none."""

    request_id: str
    error: str
    outcome_unknown: bool
    retry_at: str | None = None  # a retry is queued for then
    retry: tuple[int, int] | None = None  # (this retry, of how many)
    not_retried: str | None = None

    @property
    def then(self) -> str:
        if self.retry_at is not None and self.retry is not None:
            return f"retry {self.retry[0]} of {self.retry[1]} at {self.retry_at}"
        return f"not retried: {self.not_retried}"

    def as_json(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "error": self.error,
            "outcomeUnknown": self.outcome_unknown,
            "retryAt": self.retry_at,
            "notRetried": self.not_retried,
        }


def failure(
    request_id: str,
    error: str | None,
    outcome_unknown: bool,
    state: RequestState,
    action: ActionType | None,
) -> Failure:
    """The failure of `request_id`, from its state once the failure (and any retry) is written."""
    reason = error or "no reason was recorded"
    if state.status == lc.QUEUED and state.retry_at is not None and action is not None:
        retry = (state.failures, action.retries)
        return Failure(request_id, reason, outcome_unknown, iso(state.retry_at), retry)
    if action is None:
        why = "its action type is gone"
    elif not action.idempotent:
        why = f"action type {action.name} is not idempotent"
    else:
        why = f"no retries left ({action.retries} of {action.retries} used)"
    return Failure(request_id, reason, outcome_unknown, not_retried=why)


@dataclass
class ApplyReport:
    decided: list[tuple[str, str]] = field(default_factory=list)  # (request, status)
    executed: list[tuple[str, str]] = field(default_factory=list)  # (request, outcome)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (request, why)
    recovered: list[tuple[str, str]] = field(default_factory=list)
    late: list[tuple[str, str]] = field(default_factory=list)  # learned after an abandonment
    unrecorded: list[tuple[str, str]] = field(default_factory=list)  # the request moved on
    failures: list[Failure] = field(default_factory=list)  # executed or recovered as FAILED
    stats: PushStats = field(default_factory=PushStats)
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)  # what was ignored (`service.at_commit`)
    created: list[tuple[str, str]] = field(default_factory=list)  # (request, rule): no file
    notes: list[str] = field(default_factory=list)  # requests a rule could not make, and why

    @property
    def failed(self) -> bool:
        return bool(self.unrecorded) or any(o != lc.COMPLETED for _, o in self.executed)

    def as_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "decided": [{"requestId": r, "status": s} for r, s in self.decided],
            "executed": [{"requestId": r, "status": s} for r, s in self.executed],
            "skipped": [{"requestId": r, "reason": w} for r, w in self.skipped],
            "recovered": [{"requestId": r, "status": s} for r, s in self.recovered],
            "lateOutcomes": [{"requestId": r, "status": s} for r, s in self.late],
            "unrecordedOutcomes": [{"requestId": r, "status": s} for r, s in self.unrecorded],
            "failures": [f.as_json() for f in self.failures],
            "commits": self.stats.commits,
            "pushes": self.stats.pushes,
            "rejectedPushes": self.stats.rejected,
            "warnings": list(self.warnings),
            "created": [{"requestId": r, "rule": rule} for r, rule in self.created],
            "notes": list(self.notes),
        }
