"""`apply`: record decisions, recover abandoned executions, claim, execute, record outcomes.

Exactly once: a request attempt runs only after this runner created its claim
ref `refs/claims/<request>/<attempt>` on the remote with a compare-and-swap
push (a ref that must not exist yet); losers skip it quietly. A claim whose
event never reached the branch (the runner died) is adopted from the claim
commit by the next run, so an abandoned action is seen as EXECUTING and never
re-run blindly: past its claim's deadline it becomes FAILED with the outcome
unknown, and only an idempotent action with retries left is queued again.
Before claiming, a runner takes the lock of each target it will act on
(`service.locks`), so two runners never act on one service and environment
at the same time.

Phases: decisions and recovery (`decide`, `recovery`), selection (`select`),
locks (`locks`) and claims (here, through `service.claims`), execution
(`execute`), outcomes (`outcomes`); what each phase did goes into the
`report`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from remediate.core import lifecycle as lc
from remediate.core.audit import Event
from remediate.core.commits import Person
from remediate.core.drafting import Batch, Chain
from remediate.core.ratelimit import started
from remediate.core.schedules import with_fired
from remediate.core.snapshot import AuditSnapshot, parse_files
from remediate.core.times import iso, later
from remediate.errors import RemediateError
from remediate.service.apply import locks, starts
from remediate.service.apply.decide import (
    ClaimsOnRemote,
    before_claim,
    claim_redecisions,
    decide_batch,
    refill_batch,
)
from remediate.service.apply.execute import Job, deadlines, execute, target_of
from remediate.service.apply.outcomes import Recorder
from remediate.service.apply.report import ApplyReport, failure
from remediate.service.apply.select import select
from remediate.service.audit_log import checkpoint_pushed, checkpoint_update, read, write
from remediate.service.claims import (
    PREFIXES,
    Claim,
    Won,
    claim,
    claim_ref,
    in_the_way,
    prunable,
    release,
)
from remediate.service.runtime import Runtime, load, person
from remediate.service.session import Session


def apply(
    session: Session,
    actor: str | None,
    dry_run: bool = False,
    max_actions: int | None = None,
    concurrency: int = 4,
) -> ApplyReport:
    rt = load(session)
    report = ApplyReport(dry_run=dry_run, warnings=list(rt.warnings))
    author = person(actor, rt.store) if actor else rt.runner
    snap = _dry(rt, report) if dry_run else _decide(rt, author, report)
    jobs = select(rt, snap, report, max_actions)
    if dry_run:
        report.skipped += [(j.request.name, "dry run: would execute") for j in jobs if j.execute]
        return report
    skew = rt.repository.settings.clock_skew
    won, held = locks.acquire(rt.store, rt.runner, rt.now, _targets(jobs), skew, rt.trust)
    try:
        jobs = _with_deadlines(rt, _locked(jobs, won, held, report), concurrency)
        _claim_and_run(rt, snap, jobs, concurrency, author, report)
        _refill(rt, author, report)
    except BaseException:
        locks.release(rt.store, held)
        raise
    _finish(rt, held)
    return report


def _refill(rt: Runtime, author: Person, report: ApplyReport) -> None:
    """Slots this run's outcomes freed: auto-remediation's next requests, made and decided
    in one more commit (only when a rule exists and something ran)."""
    if not (rt.repository.settings.auto_remediation and report.executed):
        return
    decided, created, notes = list(report.decided), list(report.created), list(report.notes)

    def build(snap: AuditSnapshot) -> Batch | None:  # rebuilt on the tip after a rejection
        report.decided[:], report.created[:], report.notes[:] = decided, created, notes
        return refill_batch(rt, snap, report)

    try:
        snap = write(rt.session, build, rt.now, author, rt.runner, report.stats)
    except RemediateError as error:  # bookkeeping: the outcomes are recorded already
        report.decided[:], report.created[:], report.notes[:] = decided, created, notes
        report.warnings.append(
            f"the requests for the slots this run freed were not recorded ({error}); "
            "the next apply makes them"
        )
        return
    if len(report.created) > len(created):
        rt.repository = with_fired(rt.repository, snap)


def _finish(rt: Runtime, held: locks.Held) -> None:
    """One push of every ref update a run ends with: its locks released, its checkpoint,
    the claim refs whose attempt is over on the tip this run left, and the starts refs of
    claim commits that no claim ref points at then. The starts refs are listed before the
    claim refs: a runner makes its claim ref before its starts ref, so a starts ref listed
    first whose claim commit no claim ref names (after the deletions) has none for good."""
    updates: dict[str, tuple[str | None, str]] = {
        ref: (None, sha) for ref, sha in held.refs.items()
    }
    try:  # the locks go in any case
        updates.update(checkpoint_update(rt.session, rt.runner))
        snap = rt.session.memo.get("audit@tip")
        found = rt.store.claim_refs(starts.STARTS_PREFIX)
        listed = rt.store.claim_refs(PREFIXES["requests"])
        over = prunable(listed, snap.state) if listed and isinstance(snap, AuditSnapshot) else {}
        updates.update(over)
        if found and listed is not None:
            kept = {ref: sha for ref, sha in listed.items() if ref not in over}
            unused = starts.unused(found, kept)
            updates.update({ref: (None, sha) for ref, sha in unused.items()})
    finally:
        pushed = rt.store.push_leases(updates)
    checkpoint_pushed(rt.session, rt.runner, pushed)


def _targets(jobs: list[Job]) -> dict[locks.Target, timedelta]:
    """Each target to lock, with how long its actions may take one after another."""
    targets: dict[locks.Target, timedelta] = {}
    for job in jobs:
        if job.execute and job.action is not None:
            key = target_of(job.request)
            targets[key] = targets.get(key, timedelta()) + job.action.timeout
    return targets


def _locked(
    jobs: list[Job], won: set[locks.Target], held: locks.Held, report: ApplyReport
) -> list[Job]:
    kept = []
    for job in jobs:
        target = target_of(job.request)
        if job.execute and target not in won:
            why = held.stuck.get(target) or f"another runner holds {locks.lock_ref(target)}"
            report.skipped.append((job.request.name, why))
        else:
            kept.append(job)
    return kept


def _claim_and_run(
    rt: Runtime,
    snap: AuditSnapshot,
    jobs: list[Job],
    concurrency: int,
    author: Person,
    report: ApplyReport,
) -> None:
    runner = rt.runner
    if rt.session.processes.stopping() is not None:
        report.skipped += [(j.request.name, "the runner is stopping: not claimed") for j in jobs]
        return
    jobs, won = _claim(rt, snap, jobs, report)
    if not jobs:
        return
    redecided: dict[str, Event | str] = {}
    written = write(
        rt.session,
        lambda s: _claim_batch(rt, s, jobs, redecided),
        rt.now,
        author,
        runner,
        report.stats,
    )
    jobs = _on_the_branch(rt, written, jobs, won, report, redecided)
    if not jobs:
        return
    recorder = Recorder(rt, author, report)
    execute(rt, jobs, concurrency, recorder, won.sha)
    recorder.finish()


def _with_deadlines(rt: Runtime, jobs: list[Job], concurrency: int) -> list[Job]:
    """Each claim names its deadline: past it, another run may take the execution for
    abandoned. It covers the actions this run may run before recording this outcome,
    counted from the runner's clock read now (just before claiming), plus the clock-skew
    allowance and nothing more."""
    due = deadlines(jobs, concurrency)
    claimed = rt.session.clock.now()
    skew = rt.repository.settings.clock_skew
    return [
        replace(
            job,
            claim=replace(
                job.claim,
                at=iso(claimed) or job.claim.at,
                details={
                    **job.claim.details,
                    "deadline": iso(later(claimed, due[job.request.name] + skew)),
                },
            ),
        )
        if job.request.name in due
        else job
        for job in jobs
    ]


def _decide(rt: Runtime, author: Person, report: ApplyReport) -> AuditSnapshot:
    """Phase 1: re-decisions of edited QUEUED requests, then decisions, adoptions,
    recovery and spooled outcomes, written in one commit; the snapshot written on."""
    claims = ClaimsOnRemote(rt)
    spooled = rt.store.spooled()
    kept, _ = parse_files(spooled)
    claim_redecisions(rt)
    snap = write(
        rt.session,
        lambda s: decide_batch(rt, s, claims, report, False, kept),
        rt.now,
        author,
        rt.runner,
        report.stats,
    )
    for name in spooled:  # written now, or superseded
        rt.store.unspool(name)
    if report.created:  # requests made in the audit, no file: decided, and run below
        rt.repository = with_fired(rt.repository, snap)
    for name in dict.fromkeys(n for n, status in report.recovered if status == lc.FAILED):
        state = snap.state(name)
        request = rt.repository.requests.get(name)
        action = rt.repository.action_types.get(request.action_type) if request else None
        report.failures.append(failure(name, state.last_failure, True, state, action))
    return snap


def _dry(rt: Runtime, report: ApplyReport) -> AuditSnapshot:
    snap = read(rt.store, rt.store.fetch(), rt.trust)
    decide_batch(rt, snap, ClaimsOnRemote(rt), report, True, [])
    return snap


# -- phase 3: claim ----------------------------------------------------------------------


def _claim(
    rt: Runtime, snap: AuditSnapshot, jobs: list[Job], report: ApplyReport
) -> tuple[list[Job], Won]:
    """Create every job's claim ref in one push; keep the jobs this runner won."""
    claims = [
        Claim(
            "requests",
            job.request.name,
            job.attempt,
            (replace(job.claim, prev=snap.state(job.request.name).head),),
        )
        for job in jobs
    ]
    won = claim(rt.store, rt.runner, claims, "claims")
    refs = {c.ref for c in won}
    lost = [c.ref for c in claims if c.ref not in refs]
    absent = set(lost) - set(rt.store.refs_named(lost)) if lost else set()
    kept = []
    for job, wanted in zip(jobs, claims, strict=True):
        other = in_the_way(rt.store, wanted.ref) if wanted.ref in absent else None
        if wanted.ref in refs:
            kept.append(job)
        elif other is not None:  # no claim at all: nothing can create its ref
            report.skipped.append((job.request.name, f"not claimed: {other} is in the way"))
            report.warnings.append(
                f"{job.request.name}: {other} stands where its claim ref {wanted.ref} goes "
                f"and is no runner's claim; the request waits until it is deleted "
                f"(git push origin :{other})"
            )
        else:
            report.skipped.append((job.request.name, "claimed by another runner"))
    return kept, won


def _on_the_branch(
    rt: Runtime,
    written: AuditSnapshot,
    jobs: list[Job],
    won: Won,
    report: ApplyReport,
    redecided: dict[str, Event | str],
) -> list[Job]:
    """The jobs whose claim event is on the branch now: only those run. A claim ref won
    for an attempt the branch already shows taken (its ref was pruned, and this runner's
    view predated the outcome) runs nothing, and its ref is deleted again; so does one
    decided again at claim time (its new status is on the branch instead)."""
    on = [written.recorded(j.request.name, j.claim.id) for j in jobs]
    kept = [j for j, there in zip(jobs, on, strict=True) if there]
    late = [j for j, there in zip(jobs, on, strict=True) if not there]  # not `j not in kept`:
    # that compared whole jobs, n x n (1.3 s of 1,000 actions)
    for job in late:
        event = redecided.get(job.request.name)
        if isinstance(event, str):  # it waits (a change window closed meanwhile)
            report.skipped.append((job.request.name, event))
        elif event is not None and written.recorded(job.request.name, event.id):
            report.decided.append((job.request.name, event.to))
            report.skipped.append((job.request.name, str(event.details.get("reason", ""))))
        else:
            report.skipped.append(
                (job.request.name, f"attempt {job.attempt} was already taken on the branch")
            )
    release(rt.store, won, [claim_ref(j.request.name, j.attempt) for j in late])
    return kept


def _claim_batch(
    rt: Runtime, snap: AuditSnapshot, jobs: list[Job], redecided: dict[str, Event | str]
) -> Batch:
    """The claim events of the jobs whose attempt is still waiting on the branch, each
    decided again against the documents of the commit the claim lands on (`snap.rev`):
    one that may no longer run gets its re-decision instead (into `redecided`)."""
    redecided.clear()
    at = rt.at(snap.rev)
    chain = Chain(snap)
    executions = list(snap.executions(at.counted_since))
    for job in jobs:
        state = chain.state(job.request.name)
        if state.status != lc.QUEUED or state.attempt != job.attempt:
            continue
        if not job.execute:  # a re-decision already
            chain.add(job.claim)
            continue
        event, why = before_claim(at, job.request, state, tuple(executions), job.action)
        if event is not None:
            redecided[job.request.name] = event
            chain.add(event)
        elif why is not None:
            redecided[job.request.name] = why
        else:
            chain.add(job.claim)
            executions.append(started(job.request, rt.now))
    return chain.batch(f"remediate apply: claim {len(chain.events)} request(s)")
