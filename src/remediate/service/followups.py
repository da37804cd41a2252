"""Follow-up requests in `apply` (`core.followups`): made in the commit that records the
outcome of the request that ended, and decided in it on the normal policy path.

`make` runs inside the builds `audit_log.write` rebuilds on the fetched tip after a
rejected push, with the outcome linked onto the same chain: the follow-up lands with the
outcome or not at all, and a rebuilt batch sees one a racing runner made (its stream
subject is the request that ended). A rule's templates read `request.*` and `result.*`
through the bounded jinja2 sandbox; the request is checked as a request file would be
(`service.autoremediation.render_spec`): one that would not validate is not made, and
apply says why.
"""

from __future__ import annotations

from typing import Any

from remediate.core import followups as fu
from remediate.core.audit import Event, RequestState
from remediate.core.drafting import Chain, new_id
from remediate.core.model import Request
from remediate.core.streams import StreamEvent
from remediate.core.times import iso
from remediate.service.autoremediation import render_spec
from remediate.service.runtime import Runtime


def make(
    rt: Runtime, chain: Chain, request: Request, outcome: Event
) -> tuple[list[Request], list[str]]:
    """Link onto `chain` the follow-ups the outcome `outcome` of `request` (recorded on
    `chain` already) makes; the requests, and notes on those that could not be made."""
    if fu.is_follow_up(request.labels):
        return [], []  # bounded: a follow-up never makes a follow-up
    state = chain.state(request.name)
    if state.status not in fu.TRIGGERS or state.status != outcome.to:
        return [], []  # e.g. queued again for a retry: it has not ended
    policies = rt.policies.matching(
        request.environment,
        request.action_type,
        request.service_name,
        request.severity,
        request.labels,
    )
    rules = [rule for policy in policies for rule in policy.follow_ups]
    if not rules:
        return [], []
    data = {
        "request": fu.request_data(request.name, request.spec),
        "result": fu.result_data(state.status, outcome.details, outcome.error),
    }
    requester = rt.requester(request, state)
    made: list[Request] = []
    notes: list[str] = []
    for rule in rules:
        name = fu.request_name(rule.name, request.name)
        subject = chain.subject(fu.STREAM, request.name)
        why = f"follow-up {rule.name} of {request.name}: no request: "
        if name in fu.made(subject.value) or name in fu.not_made(subject.value):
            continue
        holds = fu.holds(rule, data["request"], data["result"], rt.now)
        if isinstance(holds, str):
            notes.append(why + f"its condition failed: {holds}")
            continue
        if not holds:
            continue
        holder = _holder(rt, chain, name)
        if holder is not None:
            taken = f"the name {name} is taken by {holder}"
            chain.add_to(_event(rt, request, fu.NOT_MADE, _not_made(name, rule, taken, state)))
            notes.append(why + f"{taken}; recorded in the audit, not tried again")
            continue
        if not requester:
            notes.append(why + f"who requested {request.name} is unknown")
            continue
        spec = render_spec(rt.repository, rule.request, data, name, {"severity": request.severity})
        if isinstance(spec, str):
            notes.append(why + spec)
            continue
        details = {
            "request": {
                "name": name,
                "rule": rule.name,
                "policy": rule.policy,
                "spec": spec,
                "requester": requester,
                "trigger": request.name,
            },
            "status": state.status,
            "attempt": state.attempt,
        }
        chain.add_to(_event(rt, request, fu.VERB, details))
        value = chain.subject(fu.STREAM, request.name).value
        made += [r for r in fu.FOLD.requests(value) if r.name == name]
    return made, notes


def _holder(rt: Runtime, chain: Chain, name: str) -> str | None:
    """What holds the request name `name` already, said so an SRE can find it: a request
    file, a request the audit recorded (what made it), or one that has ended; None if
    the name is free."""
    from remediate.core.autoremediation import FINDING_LABEL, RULE_LABEL
    from remediate.core.schedules import SCHEDULE_LABEL

    taken = rt.repository.requests.get(name)
    if taken is not None and taken.file:
        return f"the request file {taken.file}"
    if taken is not None and fu.FOLLOWUP_LABEL in taken.labels:
        rule, trigger = taken.labels[fu.FOLLOWUP_LABEL], taken.labels.get(fu.TRIGGER_LABEL)
        return f"follow-up {rule} of {trigger}, which the audit recorded"
    if taken is not None and SCHEDULE_LABEL in taken.labels:
        return f"a fire of schedule {taken.labels[SCHEDULE_LABEL]}, which the audit recorded"
    if taken is not None and RULE_LABEL in taken.labels:
        rule, finding = taken.labels[RULE_LABEL], taken.labels.get(FINDING_LABEL)
        return f"auto-remediation {rule} of finding {finding}, which the audit recorded"
    state = chain.state(name)
    if taken is not None or state.ids:
        return f"request {name}, which the audit recorded ({state.status})"
    return None


def _not_made(name: str, rule: fu.Rule, why: str, state: RequestState) -> dict[str, Any]:
    return {
        "name": name,
        "rule": rule.name,
        "policy": rule.policy,
        "why": why,
        "status": state.status,
        "attempt": state.attempt,
    }


def _event(rt: Runtime, request: Request, verb: str, details: dict[str, Any]) -> StreamEvent:
    """An event of the `followups` stream on the subject `request` (the one that ended)."""
    return StreamEvent(
        id=new_id(),
        at=iso(rt.now) or "",
        stream=fu.STREAM,
        subject=request.name,
        verb=verb,
        actor=rt.runner.email,
        details=details,
    )
