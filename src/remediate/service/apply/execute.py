"""Running claimed actions: one target at a time, targets in parallel.

Actions run in worker threads; the calling thread hands each target's
outcomes to the sink as soon as that target's actions are done and lets it
write them at least every few seconds (`Sink.flush`), so they reach the audit
before the claims' deadlines (`deadlines`) pass, however long other targets
take, in a number of commits bounded by the run's duration, not its size.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from remediate.core.audit import Event
from remediate.core.model import ActionType, Request
from remediate.executors.base import (
    ExecutionContext,
    ExecutionResult,
    Redactor,
    ambient_secrets,
    redacted,
)
from remediate.service.apply.locks import Target, target
from remediate.service.apply.starts import Marker
from remediate.service.claims import claim_ref
from remediate.service.runtime import Runtime

if TYPE_CHECKING:
    from remediate.service.ports import Forge

Outcomes = list[tuple["Job", ExecutionResult]]
POLL_SECONDS = 1.0  # how often the calling thread may flush while actions run
# Results of actions that never started (compared by identity): the runner was stopping,
# so the request goes back to QUEUED; or another run released it, which recorded that.
NOT_STARTED = ExecutionResult(False, {}, "not started: the runner was stopping")
RELEASED = ExecutionResult(False, {}, "not started: another run released it")


class Sink(Protocol):
    def add(self, outcomes: Outcomes) -> None: ...

    def flush(self, force: bool = False) -> None:
        """Write what was added, if it has waited long enough (or `force`)."""


@dataclass(frozen=True)
class Job:
    request: Request
    action: ActionType | None
    attempt: int
    claim: Event  # the event that leaves QUEUED: a claim, or a re-decision after an edit
    execute: bool = True


def target_of(request: Request) -> Target:
    """The service and environment an action acts on, as locks and groups compare them."""
    return target(request.environment, request.service_name)


def _groups(jobs: list[Job]) -> dict[Target, list[Job]]:
    groups: dict[Target, list[Job]] = {}
    for job in jobs:
        if job.execute:
            groups.setdefault(target_of(job.request), []).append(job)
    return groups


def _workers(concurrency: int, groups: int) -> int:
    return max(1, min(concurrency, groups))


def deadlines(jobs: list[Job], concurrency: int) -> dict[str, timedelta]:
    """How long after the run starts each job's outcome is recorded at the latest, if
    every action takes its whole timeout: its target's actions run one after another
    once a worker is free, and their outcomes are recorded when the last one is done.

    A target waits for a worker only while every worker runs an earlier target, so
    it starts at the latest after the earlier targets' timeouts divided by the workers.
    """
    groups = _groups(jobs)
    workers = _workers(concurrency, len(groups))
    earlier = timedelta()
    found: dict[str, timedelta] = {}
    for group in groups.values():
        total = sum((j.action.timeout for j in group if j.action), timedelta())
        for job in group:
            found[job.request.name] = earlier / workers + total
        earlier += total
    return found


def execute(
    rt: Runtime, jobs: list[Job], concurrency: int, sink: Sink, claim_sha: str = ""
) -> None:
    """Run the jobs; hand each target's outcomes to `sink` once its actions are done.
    Each action starts only once its start mark is on the remote (`starts.Marker`), and
    none starts once the runner is stopping (SIGINT, SIGTERM)."""
    groups = _groups(jobs)
    variables = dict(rt.session.env.variables())
    redact = Redactor(ambient_secrets(variables))  # the runner's secrets, found once
    order = [claim_ref(j.request.name, j.attempt) for g in groups.values() for j in g]
    marker = Marker(rt.store, rt.runner, claim_sha, order, rt.session.processes.stopping)

    def run_group(group: list[Job]) -> Outcomes:
        # a per-target lock: one action per service and environment at a time
        done: Outcomes = []
        for job in group:
            why = marker.start(job.request.name, job.attempt)
            if why is None:
                done.append((job, run_one(rt, job, variables, redact)))
            else:
                done.append((job, NOT_STARTED if why == "stopping" else RELEASED))
        return done

    with ThreadPoolExecutor(_workers(concurrency, len(groups))) as pool:
        pending: set[Future[Outcomes]] = {pool.submit(run_group, g) for g in groups.values()}
        while pending:
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                sink.add(future.result())
            sink.flush(force=not pending)


def run_one(rt: Runtime, job: Job, variables: dict[str, str], redact: Redactor) -> ExecutionResult:
    """Run one claimed action through the session's execution backend; every outcome,
    a crash of the executor too, becomes a result (redacted once more, by `redact`: the
    secrets of `variables`)."""
    action = job.action
    assert action is not None
    try:
        context = ExecutionContext(
            request=job.request,
            action=action,
            environment=variables,
            allowed_environment=rt.repository.settings.executor_environment,
            root=rt.root,
            # Distinct per request content and attempt: a reused name or another
            # repository's request never shares a key with this one.
            idempotency_key=f"{job.request.name}/{job.attempt}/{job.request.content_hash[7:23]}",
            attempt=job.attempt,
            processes=rt.session.processes,
            runner=rt.runner.email,
            forge=rt.repository.settings.forge,
            open_forge=_forge_of(rt),
        )
        result = rt.session.backend.run(context)
    except LookupError as exc:
        result = ExecutionResult(False, {}, str(exc))
    except Exception as exc:  # an executor's bug must not lose the outcome
        result = ExecutionResult(
            False, {}, f"executor {action.executor} crashed: {type(exc).__name__}"
        )
    return redacted(result, redact)


def _forge_of(rt: Runtime) -> Callable[[], Forge] | None:
    """What opens the repository's forge for an executor (none when the session has none)."""
    open_forge, settings = rt.session.open_forge, rt.repository.settings
    if open_forge is None:
        return None
    return lambda: open_forge(settings)
