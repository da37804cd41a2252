"""`apply`, phase 2: which QUEUED requests to run now, each with the event that claims it.

A QUEUED request runs only if its retry backoff is over, its action type
exists, nothing else executes on its target, and a fresh evaluation (as of
now, counting the executions this run will start) still allows it and puts it
inside its change windows. One that may no longer run (edited, an approver who
lost the role, a policy that now blocks it) is re-decided instead, its new status
recorded with the reason: that too leaves QUEUED, so it needs the attempt's claim,
like an execution. The claim push decides each again against the documents of the
commit it lands on (`pipeline._claim_batch`).
"""

from __future__ import annotations

from dataclasses import replace

from remediate.core import lifecycle as lc
from remediate.core.audit import RequestState
from remediate.core.decision import Execution
from remediate.core.drafting import draft
from remediate.core.model import Request
from remediate.core.ratelimit import started
from remediate.core.snapshot import AuditSnapshot
from remediate.core.times import iso
from remediate.service.apply import locks
from remediate.service.apply.decide import before_claim, decision_event
from remediate.service.apply.execute import Job, target_of
from remediate.service.apply.report import ApplyReport
from remediate.service.runtime import Runtime


def select(
    rt: Runtime, snap: AuditSnapshot, report: ApplyReport, max_actions: int | None
) -> list[Job]:
    jobs: list[Job] = []
    executions = list(snap.executions(rt.counted_since))
    busy = {  # targets where an action (of any runner) is executing now
        locks.target(st.environment or "", st.service_name or "")
        for st in snap.active()
        if st.status == lc.EXECUTING
    }
    for name in sorted(rt.repository.requests):
        request, state = rt.repository.requests[name], snap.state(name)
        if state.status != lc.QUEUED:
            continue
        if max_actions is not None and sum(j.execute for j in jobs) >= max_actions:
            report.skipped.append((name, f"--max {max_actions} reached"))
        elif rt.edited(request, state):
            jobs.append(_redecide(rt, request, state, tuple(executions)))
            report.decided.append((name, jobs[-1].claim.to))
        else:
            why = _not_now(rt, request, state, busy)
            action = rt.repository.action_types.get(request.action_type)
            event, why = (
                (None, why) if why else before_claim(rt, request, state, tuple(executions), action)
            )
            if why:
                report.skipped.append((name, why))
            elif event is not None:  # it may no longer run: its new status is recorded
                jobs.append(Job(request, action, state.attempt, event, execute=False))
                report.decided.append((name, event.to))
            else:
                jobs.append(_claim_job(rt, request, state))
                executions.append(started(request, rt.now))
    return jobs


def _redecide(
    rt: Runtime, request: Request, state: RequestState, executions: tuple[Execution, ...]
) -> Job:
    """An edited QUEUED request: a fresh decision, which consumes the attempt's claim."""
    event = decision_event(rt, request, state, executions)
    assert event is not None  # edited: always a new decision
    event = replace(event, details={**event.details, "attempt": state.attempt})
    action = rt.repository.action_types.get(request.action_type)
    return Job(request, action, state.attempt, event, execute=False)


def _not_now(
    rt: Runtime, request: Request, state: RequestState, busy: set[locks.Target]
) -> str | None:
    """Why a QUEUED request is not decided again or claimed now, or None."""
    if state.retry_at is not None and rt.now < state.retry_at:
        return f"retry waits until {iso(state.retry_at)}"
    if request.action_type not in rt.repository.action_types:
        return f"action type {request.action_type} is not defined"
    if target_of(request) in busy:
        return "another action on this target is executing"
    return None


def _claim_job(rt: Runtime, request: Request, state: RequestState) -> Job:
    claim = draft(
        request.name,
        lc.QUEUED,
        lc.EXECUTING,
        rt.runner.email,
        rt.now,
        {"verb": "claim", "attempt": state.attempt, "severity": request.severity},
        request=request,
    )
    action = rt.repository.action_types.get(request.action_type)
    return Job(request, action, state.attempt, claim)
