"""Recording what actions did: promptly, and never dropped silently.

`Recorder` is handed each target's outcomes as soon as that target's actions
are done (`service.execute.execute`) and writes them within `FLUSH_AFTER`
seconds, together with whatever else finished meanwhile, so an outcome
reaches the audit well before its claim's deadline passes (it has
`recovery.ABANDON_GRACE` to spare) and a run makes few commits. An outcome
whose request moved on meanwhile is never dropped: if another runner marked
the execution abandoned (FAILED, outcome unknown) and did not queue it again,
the real outcome is recorded with the verb `learn` (FAILED → COMPLETED or
FAILED); if it was queued again, the run reports the outcome as unrecorded
and `apply` exits 1. Outcomes a failed push could not write are kept in the
local spool for the next run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from remediate.adapters import environment
from remediate.adapters.git_store import Person
from remediate.core import lifecycle as lc
from remediate.core.audit import Event, RequestState, to_line
from remediate.core.decision import iso
from remediate.core.model import ActionType
from remediate.errors import UserError
from remediate.executors.base import ExecutionResult
from remediate.service.execute import Job, Outcomes
from remediate.service.recovery import maybe_retry
from remediate.service.runtime import Runtime
from remediate.service.writeback import Batch, Chain, PushStats, draft, new_id, write

FLUSH_AFTER = 5.0  # seconds an outcome may wait for others to share its commit


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
        }


@dataclass
class Recorder:
    """Collects outcomes (`add`) and writes them (`flush`): at the latest `FLUSH_AFTER`
    after the first unwritten one came in, so one commit carries many outcomes.
    `finish` raises if a push failed (the outcomes are then in the local spool)."""

    rt: Runtime
    author: Person
    report: ApplyReport
    errors: list[str] = field(default_factory=list)
    pending: list[tuple[Event, Job]] = field(default_factory=list)
    since: float = 0.0  # monotonic time of the oldest unwritten outcome

    def add(self, outcomes: Outcomes) -> None:
        if not self.pending:
            self.since = time.monotonic()
        finished = environment.now()
        for job, result in outcomes:
            self.pending.append((outcome_event(self.rt, job, result, finished), job))

    def flush(self, force: bool = False) -> None:
        if self.pending and (force or time.monotonic() - self.since >= FLUSH_AFTER):
            events, self.pending = self.pending, []
            self._write(events)

    def _write(self, events: list[tuple[Event, Job]]) -> None:
        rt, report = self.rt, self.report
        now = environment.now()
        settled: dict[str, str] = {}
        last: list[Chain] = []

        def build(snap: Any) -> Batch:
            chain = Chain(snap)
            last[:] = [chain]
            settled.clear()
            for event, job in events:
                settled[event.request_id] = settle(chain, event, job.attempt, now)
                if settled[event.request_id] == "recorded" and event.to == lc.FAILED:
                    # idempotent actions only, within their retry budget
                    maybe_retry(chain, job.request, job.action, rt.runner.email, now, [])
            return chain.batch(f"remediate apply: {len(events)} action(s) executed")

        try:
            write(rt.store, build, now, self.author, rt.runner, report.stats)
        except UserError as exc:  # the actions ran: keep their outcomes for the next run
            path = rt.store.spool(
                f"{new_id()}.jsonl", "".join(to_line(e) + "\n" for e, _ in events)
            )
            self.errors.append(f"{exc}; the outcomes are kept in {path}")
        else:
            self._failures(events, settled, last[0])
        for event, _ in events:
            report.executed.append((event.request_id, event.to))
            how = settled.get(event.request_id)
            if how == "learned":
                report.late.append((event.request_id, event.to))
            elif how == "lost":
                report.unrecorded.append((event.request_id, event.to))

    def _failures(
        self, events: list[tuple[Event, Job]], settled: dict[str, str], chain: Chain
    ) -> None:
        for event, job in events:
            if event.to == lc.FAILED and settled.get(event.request_id) in ("recorded", "learned"):
                unknown = bool(event.details.get("outcomeUnknown"))
                state = chain.state(event.request_id)
                self.report.failures.append(
                    failure(event.request_id, event.error, unknown, state, job.action)
                )

    def finish(self) -> None:
        if self.errors:
            raise UserError("; ".join(self.errors) + "; the next apply records them")


def settle(chain: Chain, event: Event, attempt: Any, now: datetime) -> str:
    """Add an outcome to its request's chain: "recorded", "learned" (after another
    runner abandoned the execution), "known" (already written) or "lost" (the
    request moved on: queued or run again)."""
    learned = event.id + "-learned"
    if event.id in chain.snap.ids or learned in chain.snap.ids:
        return "known"
    state = chain.state(event.request_id)
    if state.attempt != attempt:
        return "lost"
    if state.status == lc.EXECUTING:
        chain.add(event)
        return "recorded"
    if state.status == lc.FAILED and state.outcome_unknown:
        details = {**event.details, "verb": "learn", "learnedAfter": "abandon"}
        chain.add(replace(event, id=learned, from_=lc.FAILED, at=iso(now) or "", details=details))
        return "learned"
    return "lost"


def outcome_event(rt: Runtime, job: Job, result: ExecutionResult, now: datetime) -> Event:
    details: dict[str, Any] = {
        "verb": "complete" if result.ok else "fail",
        "attempt": job.attempt,
        **json_safe(result.details),
    }
    if result.outcome_unknown:
        details["outcomeUnknown"] = True
    to = lc.COMPLETED if result.ok else lc.FAILED
    return draft(
        job.request.name,
        lc.EXECUTING,
        to,
        rt.runner.email,
        now,
        details,
        request=job.request,
        error=result.error,
        event_id=job.claim.id + "-outcome",
    )


def json_safe(value: Any) -> dict[str, Any]:
    return dict(json.loads(json.dumps(value, default=str)))
