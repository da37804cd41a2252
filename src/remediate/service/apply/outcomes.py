"""Recording what actions did: promptly, and never dropped silently.

`Recorder` is handed each target's outcomes as soon as that target's actions
are done (`service.execute.execute`) and writes them within `FLUSH_AFTER`
seconds, together with whatever else finished meanwhile, so an outcome
reaches the audit before its claim's deadline passes (an outcome whose
deadline is near is written at once) and a run makes few commits. An outcome
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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from remediate.core import lifecycle as lc
from remediate.core.audit import Event, to_line
from remediate.core.commits import Person
from remediate.core.drafting import Batch, Chain, draft, new_id
from remediate.errors import UserError
from remediate.executors.base import ExecutionResult
from remediate.service.apply.decide import follow_ups
from remediate.service.apply.execute import NOT_STARTED, RELEASED, Job, Outcomes
from remediate.service.apply.recovery import maybe_retry, settle
from remediate.service.apply.report import ApplyReport, failure
from remediate.service.audit_log import write
from remediate.service.runtime import Runtime

FLUSH_AFTER = 5.0  # seconds an outcome may wait for others to share its commit


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
        finished = self.rt.session.clock.now()
        for job, result in outcomes:
            if result is RELEASED:  # another run proved it never started, and recorded it
                self.report.skipped.append((job.request.name, "released by another run"))
            elif result is NOT_STARTED:
                self.pending.append((release_event(self.rt, job, finished), job))
            else:
                self.pending.append((outcome_event(self.rt, job, result, finished), job))

    def flush(self, force: bool = False) -> None:
        if self.pending and (force or time.monotonic() - self.since >= FLUSH_AFTER):
            events, self.pending = self.pending, []
            self._write(events)

    def _write(self, events: list[tuple[Event, Job]]) -> None:
        rt, report = self.rt, self.report
        now = rt.session.clock.now()
        settled: dict[str, str] = {}
        last: list[Chain] = []
        made: list[Any] = [[], [], []]  # follow-ups of these outcomes: made, notes, decided

        def build(snap: Any) -> Batch:
            chain = Chain(snap)
            last[:] = [chain]
            settled.clear()
            made[:] = [[], [], []]
            for event, job in events:
                if event.verb == "release":
                    state = chain.state(event.request_id)
                    if state.status == lc.EXECUTING and state.attempt == job.attempt:
                        chain.add(event)
                    settled[event.request_id] = "released"
                    continue
                settled[event.request_id] = settle(chain, event, job.attempt, now)
                if settled[event.request_id] == "recorded" and event.to == lc.FAILED:
                    # idempotent actions only, within their retry budget
                    maybe_retry(chain, job.request, job.action, rt.runner.email, now, [])
                if settled[event.request_id] in ("recorded", "learned"):  # with the outcome
                    for found, more in zip(
                        made, follow_ups(rt, chain, job.request, event), strict=True
                    ):
                        found += more
            return chain.batch(f"remediate apply: {len(events)} action(s) executed")

        try:
            write(rt.session, build, now, self.author, rt.runner, report.stats)
        except UserError as exc:  # the actions ran: keep their outcomes for the next run
            path = rt.store.spool(
                f"{new_id()}.jsonl", "".join(to_line(e) + "\n" for e, _ in events)
            )
            self.errors.append(f"{exc}; the outcomes are kept in {path}")
        else:
            self._failures(events, settled, last[0])
            report.created += made[0]
            report.notes += made[1]
            report.decided += made[2]
        for event, _ in events:
            if event.verb == "release":
                report.skipped.append((event.request_id, str(event.details["reason"])))
                continue
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


def release_event(rt: Runtime, job: Job, now: datetime) -> Event:
    """A claimed action this runner did not start (it was stopping): QUEUED again."""
    why = rt.session.processes.stopping() or "stopping"
    return draft(
        job.request.name,
        lc.EXECUTING,
        lc.QUEUED,
        rt.runner.email,
        now,
        {
            "verb": "release",
            "attempt": job.attempt,
            "reason": f"not started: the runner was stopped ({why}) before it started the "
            "action; queued again",
        },
        request=job.request,
        event_id=job.claim.id + "-outcome",
    )


def json_safe(value: Any) -> dict[str, Any]:
    return dict(json.loads(json.dumps(value, default=str)))
