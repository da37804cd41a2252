"""Running claimed actions: one target at a time, targets in parallel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from remediate.adapters import environment
from remediate.core.audit import Event
from remediate.core.model import ActionType, Request
from remediate.executors.base import ExecutionContext, ExecutionResult
from remediate.service.locks import Target, target
from remediate.service.runtime import Runtime


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


def execute(rt: Runtime, jobs: list[Job], concurrency: int) -> dict[str, ExecutionResult]:
    groups: dict[Target, list[Job]] = {}
    for job in jobs:
        groups.setdefault(target_of(job.request), []).append(job)
    variables = environment.variables()
    results: dict[str, ExecutionResult] = {}

    def run_group(group: list[Job]) -> None:
        for job in group:  # a per-target lock: one action per service and environment at a time
            results[job.request.name] = run_one(rt, job, variables)

    workers = max(1, min(concurrency, len(groups)))
    if workers == 1:
        for group in groups.values():
            run_group(group)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run_group, groups.values()))
    return results


def run_one(rt: Runtime, job: Job, variables: dict[str, str]) -> ExecutionResult:
    from remediate.executors import registry

    action = job.action
    assert action is not None
    try:
        plugin = action.config.get("name") if action.executor == "plugin" else None
        executor = registry.load(action.executor, plugin)()
        context = ExecutionContext(
            request=job.request,
            action=action,
            environment=variables,
            allowed_environment=rt.repository.settings.executor_environment,
            root=rt.root,
            idempotency_key=f"{job.request.name}/{job.attempt}",
            attempt=job.attempt,
        )
        result: ExecutionResult = executor.run(context)
        return result
    except LookupError as exc:
        return ExecutionResult(False, {}, str(exc))
    except Exception as exc:  # an executor's bug must not lose the outcome
        return ExecutionResult(
            False, {}, f"executor {action.executor} crashed: {type(exc).__name__}"
        )
