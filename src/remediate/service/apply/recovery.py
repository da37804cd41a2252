"""Recovery: adopt orphan claims, fail abandoned executions, re-queue idempotent ones.

A request left EXECUTING by a runner that died stays so until its claim's
deadline has passed (the claim time, plus the timeouts of every action the
runner may run before it records this one's outcome, plus the clock-skew
allowance `Settings.spec.runner.clockSkew`; see
`service.execute.deadlines`); then it becomes FAILED with the outcome
unknown, and only an idempotent action with retries left is queued again,
after its backoff. Nothing here ever runs an action.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from remediate.core import lifecycle as lc
from remediate.core.audit import Event, RequestState, retry_time
from remediate.core.drafting import Chain, draft
from remediate.core.model import ActionType, Request
from remediate.core.snapshot import parse_files
from remediate.core.times import iso
from remediate.service.apply.starts import never_started
from remediate.service.checkpoint import by_runner
from remediate.service.claims import CLAIM_FILE, claim_ref
from remediate.service.runtime import Runtime


def adopt(
    rt: Runtime,
    chain: Chain,
    state: RequestState,
    claims: dict[str, str],
    warnings: list[str] | None = None,
) -> list[Event]:
    """A claim ref for the current attempt whose event is not on the branch: take its event.
    A claim commit the runner did not make (unsigned where the runner signs: made before
    signing was set up, or pushed in its place) is not taken, and its ref keeps the
    attempt: nothing runs twice, and `warnings` says how to release it."""
    ref = claim_ref(state.request_id, state.attempt)
    sha = claims.get(ref)
    if sha is None:
        return []
    rt.store.fetch_refs([ref])
    commit = rt.store.resolve(sha) is not None
    if not commit and rt.store.refs_named([ref]).get(ref) != sha:
        return []  # not fetched (the ref moved or went meanwhile): nothing to adopt now
    if not commit or not by_runner(rt.store, sha, rt.trust, CLAIM_FILE):  # nobody's to adopt
        what = (
            f"a claim commit {sha[:12]} that this runner did not make (not signed by its "
            "key, or not committed as the runner)"
            if commit
            else f"{sha[:12]}, which is no commit"
        )
        note = (
            f"{state.request_id}: {ref} holds {what}; attempt "
            f"{state.attempt} waits until someone who knows it never ran deletes the ref "
            f"(git push origin :{ref})"
        )
        if warnings is not None and note not in warnings:
            warnings.append(note)
        return []
    text = rt.store.show(sha, CLAIM_FILE)
    if text is None:
        return []
    events, _ = parse_files({CLAIM_FILE: text})
    adopted = []
    for event in events:
        if (
            event.request_id == state.request_id
            and event.verb in ("claim", "cancel", "decide")
            and event.details.get("attempt") == state.attempt
        ):
            linked = chain.add(event)
            if linked is not None:
                adopted.append(linked)
    return adopted


def recover(
    rt: Runtime,
    chain: Chain,
    request: Request,
    state: RequestState,
    actor: str,
    recovered: list[tuple[str, str]],
    dry: bool = False,
) -> None:
    action = rt.repository.action_types.get(request.action_type)
    deadline = state.deadline
    if deadline is None and state.claimed_at is not None:  # a claim from before deadlines
        timeout = action.timeout if action else timedelta(seconds=300)
        deadline = state.claimed_at + timeout + rt.repository.settings.clock_skew
    if deadline is None or rt.now < deadline:
        return
    if never_started(rt.store, rt.runner, request.name, state.attempt, seal=not dry):
        chain.add(
            draft(
                request.name,
                lc.EXECUTING,
                lc.QUEUED,
                actor,
                rt.now,
                {
                    "verb": "release",
                    "attempt": state.attempt,
                    "reason": f"not started: the runner stopped before it started the action "
                    f"(claimed {iso(state.claimed_at)}; its claim ref holds no start mark); "
                    "queued again",
                },
                state=state,
            )
        )
        recovered.append((request.name, lc.QUEUED))
        return
    error = (
        f"the runner stopped while the action was executing (claimed {iso(state.claimed_at)}); "
        "the outcome is unknown"
    )
    chain.add(
        draft(
            request.name,
            lc.EXECUTING,
            lc.FAILED,
            actor,
            rt.now,
            {"verb": "abandon", "attempt": state.attempt, "outcomeUnknown": True},
            state=state,
            error=error,
        )
    )
    recovered.append((request.name, lc.FAILED))
    maybe_retry(chain, request, action, actor, rt.now, recovered)


def maybe_retry(
    chain: Chain,
    request: Request,
    action: ActionType | None,
    actor: str,
    now: datetime,
    log: list[tuple[str, str]],
) -> None:
    state = chain.state(request.name)
    if action is None or not action.idempotent or state.failures > action.retries:
        return
    at = retry_time(now, action.backoff, state.failures)
    chain.add(
        draft(
            request.name,
            lc.FAILED,
            lc.QUEUED,
            actor,
            now,
            {"verb": "retry", "retryAt": iso(at), "retry": state.failures, "of": action.retries},
            state=state,
        )
    )
    log.append((request.name, lc.QUEUED))


def settle(chain: Chain, event: Event, attempt: Any, now: datetime) -> str:
    """Add an outcome to its request's chain: "recorded", "learned" (after another
    runner abandoned the execution), "known" (already written) or "lost" (the
    request moved on: queued or run again)."""
    learned = event.id + "-learned"
    if chain.snap.recorded(event.request_id, event.id) or chain.snap.recorded(
        event.request_id, learned
    ):
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
