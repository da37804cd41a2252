"""Rate limits: executions started in a policy's trailing window, counted per key."""

from __future__ import annotations

from datetime import UTC, datetime

from remediate.core.compiled import Policy, PolicySet
from remediate.core.decision import Context, Execution, Violation
from remediate.core.duration import format_duration
from remediate.core.matching import normalize_name
from remediate.core.model import Request


def rate_limit(
    policy: Policy,
    request: Request,
    policies: PolicySet,
    context: Context,
    now: datetime,
    found: list[Violation],
) -> None:
    limit = policy.rate_limit
    assert limit is not None
    if not context.executions:
        return
    cached = policies.rate_counts.get((policy.name, now))
    if cached is None or cached[0] is not context.executions:
        counts: dict[tuple[str, ...], int] = {}
        for e in context.executions:
            if counts_toward(policy, e, now):
                key = execution_key(e, limit.by)
                counts[key] = counts.get(key, 0) + 1
        cached = (context.executions, counts)
        policies.rate_counts[(policy.name, now)] = cached
    values = dict(zip(limit.by, request_key(request, limit.by), strict=True))
    key = tuple(key_value(v) for v in values.values())
    count = cached[1].get(key, 0)
    if count < limit.max:
        return
    scope = ", ".join(f"{k}={values[k]}" for k in limit.by) or "all matching requests"
    found.append(
        Violation(
            policy.name,
            "rateLimit",
            f"Rate limit reached: {count} of {limit.max} executions for {scope} "
            f"in the last {format_duration(limit.per)}.",
            overridable=True,
            match=f"Policy match: {policy.name} rateLimit allows {limit.max} "
            f"per {format_duration(limit.per)}.",
        )
    )


_ATTR = {
    "serviceName": "service_name",
    "environment": "environment",
    "actionType": "action_type",
    "incidentId": "incident_id",
    "severity": "severity",
}


def counted_since(policies: PolicySet, now: datetime) -> datetime:
    """The earliest start any rate limit of `policies` counts at `now` (it counts the ones
    later than it: `counts_toward`); the end of time when none has a rate limit."""
    windows = [p.rate_limit.per for p in policies.policies if p.rate_limit is not None]
    return now - max(windows) if windows else datetime.max.replace(tzinfo=UTC)


def counts_toward(policy: Policy, e: Execution, now: datetime) -> bool:
    """Did execution `e` start inside `policy`'s rate-limit window and match the policy?

    A start recorded after `now` counts too: it is another runner's claim, made later
    than this runner read its clock (or by a clock ahead of it), and a limit that
    ignored it could be exceeded by runners racing."""
    assert policy.rate_limit is not None
    at = e.at.astimezone(UTC)
    return now - policy.rate_limit.per < at and policy.match.matches_fields(
        None if e.environment is None else normalize_name(e.environment),
        e.action_type,
        None if e.service_name is None else normalize_name(e.service_name),
        e.severity,
    )


def started(request: Request, at: datetime) -> Execution:
    """The execution a claim of `request` at `at` starts: what later requests count."""
    return Execution(
        at=at,
        request_id=request.name,
        service_name=request.service_name,
        environment=request.environment,
        action_type=request.action_type,
        severity=request.severity,
    )


def request_key(request: Request, by: tuple[str, ...]) -> tuple[str | None, ...]:
    """The request's values of the rate-limit key fields `by`, as written."""
    values = {
        "serviceName": request.service_name,
        "environment": request.environment,
        "actionType": request.action_type,
        "incidentId": request.incident_id,
        "severity": request.severity,
    }
    return tuple(values[k] for k in by)


def execution_key(e: Execution, by: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(key_value(getattr(e, _ATTR[k])) for k in by)


def key_value(value: str | None) -> str:
    return "" if value is None else normalize_name(value)
