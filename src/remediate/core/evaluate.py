"""Decide one request against a `PolicySet`: pure, no I/O, no clock.

Order of business (docs/policy.md): the matching policies (minus those an
unexpired exception exempts the request from); for each, blockedEnvironments,
its rules, its rate limit and its change windows; `Settings.defaultDecision`
when no rule yielded an effect (`core.verdicts`, `core.ratelimit`); change
windows that never overlap are a violation; then overrides lift the
overridable violations they were given for, approvals are counted per
require_approval rule, and the status follows: any violation left →
POLICY_VIOLATION, else any rule short of approvals → PENDING_APPROVAL, else
QUEUED (deferred to `not_before` outside a window).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from remediate.core import approvals as approvals_mod
from remediate.core.compiled import Group, PolicySet
from remediate.core.conditions import MISSING
from remediate.core.decision import Context, Decision, Violation
from remediate.core.model import Request
from remediate.core.ratelimit import rate_limit
from remediate.core.sentences import describe, plural
from remediate.core.verdicts import Findings, blocked, collect, without_exempt
from remediate.core.windows import common_opening


def cel_request(
    request: Request, environment: str, service: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The `request` a condition sees: the spec with environment and service normalized.

    A shallow view; conditions convert only the values they read (`core.conditions`).
    """
    view: dict[str, Any] = dict(request.spec)
    view["name"] = request.name
    view["environment"] = environment
    view["serviceName"] = service
    view["labels"] = labels
    return view


def cel_context(context: Context) -> dict[str, Any]:
    """The `context` a condition sees (`core.condition_checks.CONTEXT_FIELDS`)."""
    return {"requester": context.requester or "", "approvers": [a.by for a in context.approvals]}


def evaluate(request: Request, policies: PolicySet, context: Context) -> Decision:
    """The decision for `request` under `policies` as of `context.now`."""
    now = context.now.astimezone(UTC)
    shown = request.environment
    environment = policies.normalize(shown)
    service = policies.normalize(request.service_name)
    extra_labels = request.spec.get("labels")
    labels = {**request.labels, **extra_labels} if extra_labels else request.labels
    group = policies.group(environment, request.action_type, service, request.severity, labels)
    notes: list[str] = []
    if group.has_exceptions:
        group, notes = without_exempt(group, request.name, service, environment, now)
    results: list[bool | str] = []
    if group.rules:
        view = cel_request(request, environment, service, labels)
        results = _condition_results(group, view, context, now)
    special: list[Violation] = []
    for policy in group.blocking:
        blocked(policy, shown, environment, special)
    for policy in group.rate_limited:
        rate_limit(policy, request, policies, context, now, special)
    if context.approvals or notes or group.serial < 0:
        found = collect(group, results, special, notes, context)
        return _decide(request, policies, context, now, found)
    return _memoised(request, policies, context, now, group, results, special)


def _memoised(
    request: Request,
    policies: PolicySet,
    context: Context,
    now: datetime,
    group: Group,
    results: list[bool | str],
    special: list[Violation],
) -> Decision:
    """Without approvals a decision depends only on the rule results: reuse it."""
    key = (
        group.serial,
        tuple(results),
        tuple(v.detail for v in special),
        now,
        context.default_decision,
        context.default_approvals.get("min"),
        tuple(context.default_approvals.get("from", ())),
    )
    template: Decision | None = policies.decisions.get(key)
    if template is None:
        found = collect(group, results, special, [], context)
        template = _decide(request, policies, context, now, found)
        if len(policies.decisions) >= MEMO_LIMIT:
            policies.decisions.clear()
        policies.decisions[key] = template
        return template
    decision: Decision = object.__new__(Decision)
    decision.__dict__.update(template.__dict__)
    decision.__dict__["request_id"] = request.name
    return decision


def _condition_results(
    group: Group, view: dict[str, Any], context: Context, now: datetime
) -> list[bool | str]:
    """Each distinct condition of the group, from its memo when the inputs were seen."""
    bound = cel_context(context) if group.uses_context else {}
    results: list[bool | str] = []
    for condition in group.conditions:
        field = condition.single
        if field is not None:
            key = view.get(field, MISSING)
            kind = type(key)
            if kind is not str and kind is not int:
                key = condition.key(view, bound, now)
        else:
            key = condition.key(view, bound, now)
        result = condition.cache.get(key)
        if result is None:
            result = condition.run(key, view, bound, now)
        results.append(result)
    return results


MEMO_LIMIT = 100_000


def _decide(
    request: Request, policies: PolicySet, context: Context, now: datetime, found: Findings
) -> Decision:
    screened = approvals_mod.screen(context.approvals, request.content_hash, context)
    opening = _window_check(policies, found, now)
    # An override lifts only the overridable violations it was given for (`lifts`).
    lifted = {ref for override in screened.overrides for ref in override.lifts}
    overridden = tuple(v for v in found.violations if v.overridable and v.ref in lifted)
    violations = tuple(v for v in found.violations if not (v.overridable and v.ref in lifted))
    needs = tuple(
        approvals_mod.need(policy, rule, minimum, principals, screened, context)
        for policy, rule, minimum, principals, _ in found.needs
    )
    if violations:
        status = "POLICY_VIOLATION"
    elif any(n.missing for n in needs):
        status = "PENDING_APPROVAL"
    else:
        status = "QUEUED"
    not_before = opening if status == "QUEUED" and opening != now else None
    messages = {(p, r): m for p, r, _, _, m in found.needs}
    detail = describe(
        status, violations, overridden, needs, messages, found, screened.overrides, not_before, now
    )
    return Decision(
        request_id=request.name,
        status=status,
        detail=detail,
        violations=violations,
        policies=tuple(found.policies),
        rules=tuple(found.rules),
        needs=needs,
        not_before=not_before,
        overridden=overridden,
        errors=tuple(found.errors),
    )


def _window_check(policies: PolicySet, found: Findings, now: datetime) -> datetime | None:
    """When every matching policy's windows are first open together (`now`: open now).

    None when there are no windows, or when they never overlap: that is a
    violation (rule `changeWindows`, overridable like a deny), never a date.
    """
    if not found.windowed:
        return None
    names = tuple(p.name for p in found.windowed)
    key = (names, now)
    if key not in policies.windows_cache:
        first, reached = common_opening([p.windows for p in found.windowed], now)
        policies.windows_cache[key] = (first, math.ceil((reached - now) / timedelta(days=1)))
    first, days = policies.windows_cache[key]
    if first is None:
        violation = _never_open(names, days)
        found.rules.append(violation.ref)
        found.violations.append(violation)
        found.windowed = []  # the violation speaks for them
    return first


def _never_open(names: tuple[str, ...], days: int) -> Violation:
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    what = (
        f"The change windows of policy {listed} never open"
        if len(names) == 1
        else f"The change windows of policies {listed} never overlap"
    )
    return Violation(
        "+".join(names),
        "changeWindows",
        f"{what} (searched {plural(days, 'day')}): the request can never run.",
        overridable=True,
        match=f"Policy match: {listed} changeWindows.",
    )
