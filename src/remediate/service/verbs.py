"""The lifecycle verbs a person runs: approve, reject, cancel.

Each is rebuilt from the latest audit on every push attempt, so two people
approving at once both count, and a verb never acts on a stale status. An
approval or rejection that does not count (the requester, a non-operator, a
changed request) raises UserError saying why: exit 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from remediate.core import lifecycle as lc
from remediate.core.audit import RequestState
from remediate.core.decision import Approval, Decision
from remediate.core.drafting import Batch, Chain, draft
from remediate.core.model import Request
from remediate.core.snapshot import AuditSnapshot
from remediate.errors import UserError
from remediate.service import audit_log
from remediate.service.claims import Claim, claim, in_the_way
from remediate.service.runtime import Runtime, acting_identity, decision_details, load, person
from remediate.service.session import Session


@dataclass
class VerbResult:
    status: str
    detail: str = ""
    violations: list[str] = field(default_factory=list)
    recorded: bool = False
    counted: bool = True  # False: nothing changed and the user must act (exit 1)
    warnings: tuple[str, ...] = ()  # what was ignored (`service.at_commit`)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status}
        if self.violations:
            body["violations"] = self.violations
        if self.detail:
            body["detail"] = self.detail
        return body


def _start(session: Session, request_id: str) -> tuple[Runtime, Request, str]:
    rt = load(session, keep=(request_id,))
    request = rt.request(request_id)
    return rt, request, acting_identity(session)


def _check_current(rt: Runtime, state: RequestState, request: Request, verb: str) -> None:
    edited = rt.edited(request, state)
    if edited and not state.started:
        what = (
            f"{request.name} changed since it was evaluated"
            if edited == "request"
            else f"action type {request.action_type} changed since {request.name} was evaluated"
        )
        raise UserError(
            f"{what}; its approvals are void "
            f"and a {verb} now would be stale. Run `remediate apply` to re-evaluate it, "
            f"then {verb} again."
        )


def _check_operator(
    rt: Runtime, request: Request, state: RequestState, actor: str, verb: str
) -> None:
    if rt.is_requester(actor, request, state):
        raise UserError(
            f"{actor} requested {request.name} and cannot {verb} it: the requester never counts"
        )
    if not rt.directory.is_operator(actor):
        raise UserError(f"{actor} is not an operator (Settings rbac) and cannot {verb} requests")


def approve(session: Session, request_id: str, reason: str | None) -> VerbResult:
    rt, request, actor = _start(session, request_id)
    result = VerbResult(lc.NEW, warnings=rt.warnings)

    def build(snap: AuditSnapshot) -> Batch | None:
        chain = Chain(snap)
        state = chain.state(request.name)
        result.status, result.recorded, result.counted = state.status, False, True
        result.detail, result.violations = "", []
        if state.status not in (lc.PENDING_APPROVAL, lc.POLICY_VIOLATION):
            if state.status == lc.NEW:
                raise UserError(f"{request.name} has no decision yet: run `remediate apply` first")
            return None  # approving anything else returns its current status
        _check_current(rt, state, request, "approve")
        _check_operator(rt, request, state, actor, "approve")
        before = _decide(rt, request, state, (), snap)
        override = bool(reason) and bool(before.violations)
        # an override lifts only the violations it is given for, not ones that appear later
        lifts = tuple(v.ref for v in before.violations if v.overridable) if override else ()
        action_hash = rt.action_hash(request)
        approval = Approval(
            actor, request.content_hash, rt.now, reason, override, lifts, action_hash
        )
        decision = _decide(rt, request, state, (approval,), snap)
        if decision.status == lc.POLICY_VIOLATION and not decision.overridden:
            result.status, result.detail = lc.POLICY_VIOLATION, decision.detail
            result.violations = [v.message for v in decision.violations]
            result.counted = False
            if reason:
                result.detail += " These violations cannot be overridden."
            return None
        _check_counts(rt, actor, before, decision)
        details = decision_details(
            decision, request.content_hash, "approve", action_hash=action_hash
        )
        details["approval"] = {
            "by": actor,
            "contentHash": request.content_hash,
            "actionHash": action_hash,
            "reason": reason,
            "override": override,
            "lifts": list(lifts),
        }
        if override:
            details["overrideReason"] = reason
            details["violations"] = [v.message for v in before.violations]
        chain.add(
            draft(
                request.name, state.status, decision.status, actor, rt.now, details, request=request
            )
        )
        result.status, result.detail, result.recorded = decision.status, decision.detail, True
        return chain.batch(f"remediate approve {request.name} by {actor}")

    audit_log.write(session, build, rt.now, person(actor, rt.store), rt.runner)
    audit_log.save_checkpoint(session, rt.runner)
    return result


def _check_counts(rt: Runtime, actor: str, before: Decision, after: Decision) -> None:
    """An approval that changes nothing toward any rule does not count: say why (exit 1)."""
    if after.status != lc.PENDING_APPROVAL or not after.needs or after.overridden:
        return
    same = rt.directory.same_person
    if any(same(actor, who) for need in before.needs for who in need.counted):
        raise UserError(
            f"{actor} has already approved this request; it still needs "
            f"{after.approvals_required} more approval(s)"
        )
    if any(same(actor, who) for need in after.needs for who in need.counted):
        return
    reasons = sorted({why for need in after.needs for who, why in need.ignored if same(actor, who)})
    raise UserError(
        f"the approval of {actor} does not count: {'; '.join(reasons) or 'no rule asks for it'}"
    )


def _decide(
    rt: Runtime,
    request: Request,
    state: RequestState,
    extra: tuple[Approval, ...],
    snap: AuditSnapshot,
) -> Decision:
    return rt.evaluate(
        request, rt.context(request, state, extra, snap.executions(rt.counted_since))
    )


def reject(session: Session, request_id: str, reason: str | None) -> VerbResult:
    rt, request, actor = _start(session, request_id)
    result = VerbResult(lc.REJECTED, warnings=rt.warnings)

    def build(snap: AuditSnapshot) -> Batch | None:
        chain = Chain(snap)
        state = chain.state(request.name)
        message = lc.reject_error(state.status)
        if message:
            raise UserError(message)
        _check_current(rt, state, request, "reject")
        _check_operator(rt, request, state, actor, "reject")
        details = {
            "verb": "reject",
            "reason": reason,
            "contentHash": request.content_hash,
            "detail": state.detail,
            "priorDetail": state.detail,
        }
        chain.add(
            draft(request.name, state.status, lc.REJECTED, actor, rt.now, details, request=request)
        )
        result.recorded = True
        return chain.batch(f"remediate reject {request.name} by {actor}")

    audit_log.write(session, build, rt.now, person(actor, rt.store), rt.runner)
    audit_log.save_checkpoint(session, rt.runner)
    return result


def cancel(session: Session, request_id: str) -> VerbResult:
    """The requester or an operator may cancel a request that has not started."""
    rt, request, actor = _start(session, request_id)
    state = audit_log.read(rt.store, rt.store.fetch(), rt.trust).state(request.name)
    if state.status not in lc.NOT_STARTED:
        raise UserError(
            f'Cannot cancel action in "{state.status}" status — only actions that have not '
            "started can be cancelled."
        )
    if not (rt.is_requester(actor, request, state) or rt.directory.is_operator(actor)):
        raise UserError(f"{actor} is neither the requester of {request.name} nor an operator")
    details: dict[str, Any] = {"verb": "cancel", "attempt": state.attempt}
    event = draft(request.name, state.status, lc.CANCELLED, actor, rt.now, details, request=request)
    if state.status == lc.QUEUED:  # leaving QUEUED needs the attempt's claim, as a run does
        linked = (replace(event, prev=state.head),)
        wanted = Claim("requests", request.name, state.attempt, linked)
        if not claim(rt.store, rt.runner, [wanted], "cancel"):
            other = None if rt.store.refs_named([wanted.ref]) else in_the_way(rt.store, wanted.ref)
            if other is not None:
                raise UserError(
                    f"{request.name}: {other} stands where its claim ref {wanted.ref} goes and "
                    f"is no runner's claim; nothing can leave {state.status} until it is "
                    f"deleted (git push origin :{other})"
                )
            raise UserError(
                f"{request.name} was just claimed by a runner; it can no longer be cancelled"
            )

    def build(snap: AuditSnapshot) -> Batch | None:
        chain = Chain(snap)
        current = chain.state(request.name)
        if current.status != state.status or current.attempt != state.attempt:
            if snap.recorded(request.name, event.id):
                return None
            raise UserError(f"{request.name} changed to {current.status} meanwhile; not cancelled")
        chain.add(event)
        return chain.batch(f"remediate cancel {request.name} by {actor}")

    audit_log.write(session, build, rt.now, person(actor, rt.store), rt.runner)
    audit_log.save_checkpoint(session, rt.runner)
    return VerbResult(lc.CANCELLED, recorded=True, warnings=rt.warnings)
