"""`explain ID`: why a request is in its state, and what would change it."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from remediate.core import lifecycle as lc
from remediate.core.audit import RequestState
from remediate.core.decision import Approval, Decision, iso
from remediate.core.document import Document
from remediate.core.model import ActionType, Repository, Request, build_repository
from remediate.core.policy import PolicySet
from remediate.core.ratelimit import counts_toward, execution_key, key_value, request_key
from remediate.core.sentences import local_time, plural, utc, who
from remediate.service.plan import History, compile_repository, decide_all, find_request
from remediate.service.session import Session


@dataclass(frozen=True)
class Explanation:
    request: Request
    decision: Decision
    recorded: bool
    steps: tuple[str, ...]  # what would change the outcome, one sentence each
    why: tuple[str, ...] = ()  # for a request already started: what the audit says happened
    voided: tuple[tuple[Approval, str], ...] = ()  # approvals an edit voided, and which edit

    def as_json(self) -> dict[str, object]:
        body = self.decision.as_json()
        body.update(
            {
                "recorded": self.recorded,
                "file": self.request.file,
                "errors": list(self.decision.errors),
                "overridden": [v.message for v in self.decision.overridden],
                "approvals": [
                    {
                        "policy": n.policy,
                        "rule": n.rule,
                        "min": n.min,
                        "from": list(n.principals),
                        "counted": list(n.counted),
                        "ignored": [{"by": b, "why": w} for b, w in n.ignored],
                    }
                    for n in self.decision.needs
                ],
                "why": list(self.why),
                "whatWouldChangeIt": list(self.steps),
                "voided": [
                    {"by": a.by, "at": iso(a.at), "edit": edit, "sentence": voided(a, edit, self)}
                    for a, edit in self.voided
                ],
            }
        )
        return body


def explain(
    session: Session, request_id: str, now: datetime, history: History | None = None
) -> Explanation:
    repo = build_repository(_documents_for(session, request_id))
    if request_id not in repo.requests:  # made in the audit, no file: a fire, a follow-up…
        from remediate.core.schedules import with_fired
        from remediate.service.audit_log import checked_at_head

        repo = with_fired(repo, checked_at_head(session))
    request = find_request(repo, request_id)
    policies = compile_repository(repo)
    history = history or History()
    (entry,) = decide_all(repo, policies, now, history, [request])
    state = history.states.get(request_id)
    action = repo.action_types.get(request.action_type)
    if entry.recorded and state is not None:
        why, steps = started(state, action)
        return Explanation(request, entry.decision, True, tuple(steps), tuple(why))
    steps = what_would_change(entry.decision, repo, policies, request, history, now)
    lost: tuple[tuple[Approval, str], ...] = ()
    if state is not None:
        steps += _retry_steps(state, action, now)
        lost = state.voided(request.content_hash, action.content_hash if action else None)
    found = Explanation(request, entry.decision, entry.recorded, tuple(steps), voided=lost)
    return replace(found, steps=(*(voided(a, e, found) for a, e in lost), *found.steps))


def voided(approval: Approval, edit: str, explanation: Explanation) -> str:
    """`the approval by X (T) was voided by an edit of action type Y: approve again.`"""
    what = (
        f"action type {explanation.request.action_type}"
        if edit == "actionType"
        else f"the request {explanation.request.name}"
    )
    return (
        f"the approval by {approval.by} ({iso(approval.at) or 'at an unrecorded time'}) was "
        f"voided by an edit of {what} after it was given: approve again to run what is "
        "there now."
    )


NEW_REQUEST = "a new action needs a new request (a new file under remediations/)."


def started(state: RequestState, action: ActionType | None) -> tuple[list[str], list[str]]:
    """What happened to a request that has started, and what could still change it."""
    if state.status == lc.FAILED:
        return [_failed(state)], _after_failure(state, action)
    if state.status == lc.EXECUTING:
        why = f"Executing since {iso(state.claimed_at) or 'an unrecorded time'}."
        deadline = iso(state.deadline) or "its action's timeout"
        return [why], [
            f"if its runner stopped, the first apply after {deadline} marks it FAILED "
            "with the outcome unknown (and queues a retry when the action allows one)."
        ]
    by = f" by {state.performed_by}" if state.performed_by else ""
    return [f"{state.status.capitalize()} at {state.updated_at}{by}."], [
        f"nothing changes a {state.status} request: {NEW_REQUEST}"
    ]


def _failed(state: RequestState) -> str:
    error = (state.last_failure or state.error or "no reason was recorded").rstrip(".")
    return f"The action failed at {state.last_failed_at} (attempt {state.attempt}): {error}."


def _after_failure(state: RequestState, action: ActionType | None) -> list[str]:
    steps = []
    if state.outcome_unknown:
        steps.append("its outcome is unknown: check what the action did before asking again.")
    if action is None:
        steps.append(f"its action type no longer exists: {NEW_REQUEST}")
    elif not action.idempotent:
        steps.append(
            f"action type {action.name} is not idempotent, so a failed request is never "
            f"retried: {NEW_REQUEST}"
        )
    else:
        steps.append(
            f"its retries are used up ({action.retries} of {action.retries}, retries.max of "
            f"action type {action.name}): {NEW_REQUEST}"
        )
    return steps


def _retry_steps(state: RequestState, action: ActionType | None, now: datetime) -> list[str]:
    """A QUEUED retry after a failure: why, and when it runs."""
    if state.status != lc.QUEUED or state.retry_at is None or state.failures == 0:
        return []
    of = f" of {action.retries}" if action is not None else ""
    error = (state.last_failure or "no reason was recorded").rstrip(".")
    head = f"the last attempt failed ({error}); retry {state.failures}{of}"
    if state.retry_at > now:
        return [f"{head} is due at {iso(state.retry_at)}: the first apply from then on runs it."]
    return [f"{head} was due at {iso(state.retry_at)}: the next apply runs it."]


_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?")


def _documents_for(session: Session, request_id: str) -> list[Document]:
    """The request's own file (`remediations/**/ID.yaml`) with its context, else everything."""
    root = session.root
    found = []
    if _NAME.fullmatch(request_id) and (root / "remediations").is_dir():
        found = [
            str(p)
            for suffix in (".yaml", ".yml")
            for p in (root / "remediations").rglob(f"{glob.escape(request_id)}{suffix}")
        ]
    if found:
        documents = session.documents.load_paths(found)
        if any(d.kind == "RemediationRequest" and d.name == request_id for d in documents):
            return documents
    return session.documents.load()


def what_would_change(
    decision: Decision,
    repo: Repository,
    policies: PolicySet,
    request: Request,
    history: History,
    now: datetime,
) -> list[str]:
    """Sentences in the style of `needs 1 more approval from team:sre`."""
    steps = []
    for v in decision.violations:
        if v.rule == "rateLimit":
            steps.append(_rate_limit_step(v.policy, policies, request, history, decision, now))
        elif v.overridable:
            steps.append(
                f"{v.policy} {v.rule} is overridable: an operator can approve with a reason "
                f"(remediate approve {request.name} --reason ...)."
            )
        else:
            steps.append(
                f"{v.policy} {v.rule} cannot be overridden: change the request or the policy."
            )
    for need in decision.needs:
        if need.missing:
            counted = f"; counted so far: {', '.join(need.counted)}" if need.counted else ""
            steps.append(
                f"needs {plural(need.missing, 'more approval')} from {who(need.principals)} "
                f"({need.policy} {need.rule}{counted})."
            )
        for by, why in need.ignored:
            steps.append(f"the approval by {by} does not count: {why}.")
    if decision.not_before is not None and decision.status == "QUEUED":
        zone = _zone_of(policies, decision)
        steps.append(
            f"blocked until the change window opens at {local_time(decision.not_before, zone)} "
            f"({utc(decision.not_before)})."
        )
    steps.extend(f"{e}" for e in decision.errors)
    return steps


def _zone_of(policies: PolicySet, decision: Decision) -> str:
    for name in decision.policies:
        policy = policies.get(name)
        if policy is not None and policy.windows:
            return policy.windows[0].timezone
    return "UTC"


def _rate_limit_step(
    name: str,
    policies: PolicySet,
    request: Request,
    history: History,
    decision: Decision,
    now: datetime,
) -> str:
    message = next(v.message for v in decision.violations if v.ref == f"{name}/rateLimit")
    head = message.rstrip(".")
    policy = policies.get(name)
    hint = ""
    if policy is not None and policy.rate_limit is not None:
        limit = policy.rate_limit
        key = tuple(key_value(v) for v in request_key(request, limit.by))
        window = sorted(
            e.at.astimezone(UTC)
            for e in history.executions(now - limit.per)
            if counts_toward(policy, e, now) and execution_key(e, limit.by) == key
        )
        if len(window) >= limit.max:
            hint = f"; a slot frees up at {utc(window[len(window) - limit.max] + limit.per)}"
    return (
        f"rate limit: {head[0].lower() + head[1:]}{hint}; or an operator overrides with a reason."
    )
