"""`apply`, phase 1: record decisions, adopt orphan claims, recover abandoned executions.

Rebuilt from a fresh snapshot on every push attempt (`service.audit_log.write`).
Outcomes a failed push left in the local spool are recorded first.
"""

from __future__ import annotations

from dataclasses import replace

from remediate.core import autoremediation as ar
from remediate.core import lifecycle as lc
from remediate.core.audit import Event, RequestState
from remediate.core.decision import Decision, Execution
from remediate.core.drafting import Batch, Chain, draft
from remediate.core.model import ActionType, Request
from remediate.core.snapshot import AuditSnapshot
from remediate.core.times import iso
from remediate.service.apply.recovery import adopt, recover, settle
from remediate.service.apply.report import ApplyReport
from remediate.service.audit_log import read
from remediate.service.claims import Claim, claim, claim_ref
from remediate.service.runtime import Runtime, decision_details

EDITED = "the request was edited: earlier approvals are void"
EDITED_ACTION = "action type {action} was edited: earlier approvals are void"


class ClaimsOnRemote:
    """The claim refs of the current attempts of QUEUED requests, asked once per snapshot."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.seen: dict[str | None, dict[str, str]] = {}

    def on_remote(self, snap: AuditSnapshot) -> dict[str, str]:
        if snap.rev not in self.seen:
            wanted = [
                claim_ref(s.request_id, s.attempt) for s in snap.active() if s.status == lc.QUEUED
            ]
            self.seen[snap.rev] = self.rt.store.refs_named(wanted)
        return self.seen[snap.rev]


def decide_batch(
    rt: Runtime,
    snap: AuditSnapshot,
    claims: ClaimsOnRemote,
    report: ApplyReport,
    dry: bool,
    kept: list[Event],
) -> Batch | None:
    for found in (report.decided, report.recovered, report.late, report.unrecorded):
        found.clear()
    report.created.clear()
    report.notes.clear()
    chain = Chain(snap)
    _spooled(rt, chain, kept, report)
    executions = snap.executions(rt.counted_since)
    for name in sorted(rt.repository.requests):
        request = rt.repository.requests[name]
        state = chain.state(name)
        if state.status == lc.QUEUED:
            for adopted in adopt(rt, chain, state, claims.on_remote(snap), report.warnings):
                if adopted.verb == "decide":  # a re-decision (`claim_redecisions`)
                    report.decided.append((name, adopted.to))
            state = chain.state(name)
        if state.status == lc.EXECUTING:
            recover(rt, chain, request, state, rt.runner.email, report.recovered, dry)
        elif state.status in (lc.NEW, lc.PENDING_APPROVAL, lc.POLICY_VIOLATION):
            event = decision_event(rt, request, state, executions)
            if event is not None:
                chain.add(event)
                report.decided.append((name, event.to))
    _made(rt, chain, executions, report)
    if dry:
        return None
    return chain.batch(f"remediate apply: {len(chain.events)} transition(s)")


def _made(
    rt: Runtime, chain: Chain, executions: tuple[Execution, ...], report: ApplyReport
) -> None:
    """The requests the audit makes, no file (auto-remediation of open findings), after the
    decisions above (a slot they freed is filled now), each decided in this same batch."""
    from remediate.service import autoremediation

    made, notes = autoremediation.make(rt.repository, chain, rt.runner.email, rt.now)
    report.notes += [n for n in notes if n not in report.notes]  # (again after outcomes)
    report.created += [(r.name, r.labels.get(ar.RULE_LABEL, "")) for r in made]
    for request in made:
        event = decision_event(rt, request, chain.state(request.name), executions)
        if event is not None:
            chain.add(event)
            report.decided.append((request.name, event.to))


def follow_ups(
    rt: Runtime, chain: Chain, request: Request, outcome: Event
) -> tuple[list[tuple[str, str]], list[str], list[tuple[str, str]]]:
    """The follow-ups the outcome just linked onto `chain` makes (GuardrailPolicy
    spec.followUps), each decided on `chain` too: (made (request, rule), notes, decided)."""
    from remediate.core.followups import FOLLOWUP_LABEL
    from remediate.service import followups

    made, notes = followups.make(rt, chain, request, outcome)
    decided = []
    # read only when a follow-up was made: every executed action comes through here, and
    # the list is as long as the runs in the window (1,000 outcomes x 1,000 executions)
    executions = chain.snap.executions(rt.counted_since) if made else ()
    for new in made:
        event = decision_event(rt, new, chain.state(new.name), executions)
        if event is not None:
            chain.add(event)
            decided.append((new.name, event.to))
    return [(r.name, r.labels.get(FOLLOWUP_LABEL, "")) for r in made], notes, decided


def refill_batch(rt: Runtime, snap: AuditSnapshot, report: ApplyReport) -> Batch | None:
    """After this run's outcomes: the requests whose slots they freed, made and decided
    (a QUEUED one runs at the next apply), or None when there are none."""
    chain = Chain(snap)
    _made(rt, chain, snap.executions(rt.counted_since), report)
    return (
        chain.batch(f"remediate apply: {len(chain.others)} request(s) made")
        if chain.others
        else None
    )


def claim_redecisions(rt: Runtime) -> None:
    """Re-decide edited QUEUED requests first. Leaving QUEUED needs the attempt's claim
    ref, so each decision goes into a claim commit; `decide_batch` then adopts the ones
    this runner won, like orphan claims, and a request still allowed runs in this same
    apply under its new attempt. A lost claim means another runner took the attempt."""
    snap = read(rt.store, rt.store.fetch(), rt.trust)
    executions = snap.executions(rt.counted_since)
    claims = []
    for name in sorted(rt.repository.requests):
        request, state = rt.repository.requests[name], snap.state(name)
        if state.status == lc.QUEUED and rt.edited(request, state):
            event = decision_event(rt, request, state, executions)
            if event is not None:
                details = {**event.details, "attempt": state.attempt}
                linked = replace(event, details=details, prev=state.head)
                claims.append(Claim("requests", name, state.attempt, (linked,)))
    claim(rt.store, rt.runner, claims, "re-decisions")


def _spooled(rt: Runtime, chain: Chain, kept: list[Event], report: ApplyReport) -> None:
    """Outcomes a failed push left in the local spool: recorded now, or reported."""
    for event in kept:
        how = settle(chain, event, event.details.get("attempt"), rt.now)
        if how == "learned":
            report.late.append((event.request_id, event.to))
        elif how == "lost":
            report.unrecorded.append((event.request_id, event.to))
        request = rt.repository.requests.get(event.request_id)
        if how in ("recorded", "learned") and request is not None:
            made, notes, decided = follow_ups(rt, chain, request, event)
            report.created += made
            report.notes += notes
            report.decided += decided


def decision_event(
    rt: Runtime, request: Request, state: RequestState, executions: tuple[Execution, ...]
) -> Event | None:
    """A fresh decision, if it changes the status or the request or its ActionType was
    edited since."""
    edited = rt.edited(request, state)
    decision = rt.evaluate(request, rt.context(request, state, executions=executions))
    if state.status == decision.status and not edited:
        return None
    details = decision_details(
        decision,
        request.content_hash,
        "decide",
        rt.requester(request, state),
        rt.action_hash(request),
    )
    if edited == "request":
        details["reason"] = EDITED
    elif edited == "actionType":
        details["reason"] = EDITED_ACTION.format(action=request.action_type)
    return draft(
        request.name,
        state.status,
        decision.status,
        rt.runner.email,
        rt.now,
        details,
        request=request,
    )


def before_claim(
    at: Runtime,
    request: Request,
    state: RequestState,
    executions: tuple[Execution, ...],
    reviewed: ActionType | None,
) -> tuple[Event | None, str | None]:
    """Decide a QUEUED request again, against the documents `at` holds (those of the
    commit a claim is made on), just before it is claimed: (a re-decision to record
    instead of the claim, None) when it may no longer run as reviewed, (None, why) when it
    waits (a change window), (None, None) when it may be claimed. `reviewed`: the action
    type the request was selected with; another one at `at` voids the approvals too."""
    current = at.repository.requests.get(request.name)
    if current is None:
        return None, f"{request.file or request.name} is no longer on the branch"
    edited = at.edited(current, state)
    action = at.repository.action_types.get(current.action_type)
    if edited is None and reviewed is not None and action != reviewed:
        edited = "actionType"
    decision = at.evaluate(current, at.context(current, state, executions=executions))
    if decision.status == lc.QUEUED and edited is None:
        if decision.deferred:
            return None, f"deferred until {iso(decision.not_before)}"
        return None, None
    details = decision_details(
        decision,
        current.content_hash,
        "decide",
        at.requester(current, state),
        at.action_hash(current),
    )
    details["attempt"] = state.attempt
    details["reason"] = _reason(edited, current, decision, at.rev)
    event = draft(
        current.name, lc.QUEUED, decision.status, at.runner.email, at.now, details, request=current
    )
    return replace(event, prev=state.head), None


def _reason(edited: str | None, request: Request, decision: Decision, rev: str | None) -> str:
    if edited == "request":
        return EDITED
    if edited == "actionType":
        return EDITED_ACTION.format(action=request.action_type)
    where = f" (commit {rev[:12]})" if rev else ""
    lost = [
        f"the approval by {by} no longer counts: {why}"
        for need in decision.needs
        for by, why in need.ignored
    ]
    because = "; ".join(lost) + "; " if lost else ""
    return (
        f"decided again before it was claimed, from the documents of the branch{where}: "
        f"{because}{decision.detail}"
    )
