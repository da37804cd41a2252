"""Decide one request against a `PolicySet`: pure, no I/O, no clock.

Order of business (docs/policy.md): the matching policies (minus those an
unexpired exception exempts the request from); for each, blockedEnvironments,
its rules, its rate limit and its change windows; `Settings.defaultDecision`
when no rule yielded an effect; then overrides lift overridable violations,
approvals are counted per require_approval rule, and the status follows:
any violation left → POLICY_VIOLATION, else any rule short of approvals →
PENDING_APPROVAL, else QUEUED (deferred to `not_before` outside a window).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from remediate.core import approvals as approvals_mod
from remediate.core.compiled import Group, Policy, PolicySet, Rule
from remediate.core.conditions import MISSING
from remediate.core.decision import Context, Decision, Execution, Violation
from remediate.core.duration import format_duration
from remediate.core.matching import normalize_name
from remediate.core.model import Request
from remediate.core.sentences import describe, plural
from remediate.core.windows import common_opening

SETTINGS = "settings"
DEFAULT_RULE = "defaultDecision"


@dataclass
class Findings:
    """What the matching policies said about one request, before approvals count."""

    policies: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    needs: list[tuple[str, str, int, tuple[str, ...], str]] = field(default_factory=list)
    allowed_by: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    windowed: list[Policy] = field(default_factory=list)
    effect: bool = False


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
        group, notes = _without_exempt(group, request.name, service, environment, now)
    results: list[bool | str] = []
    if group.rules:
        view = cel_request(request, environment, service, labels)
        results = _condition_results(group, view, context, now)
    special: list[Violation] = []
    for policy in group.blocking:
        _blocked(policy, shown, environment, special)
    for policy in group.rate_limited:
        _rate_limit(policy, request, policies, context, now, special)
    if context.approvals or notes or group.serial < 0:
        found = _findings(group, results, special, notes, context)
        return _decide(request, policies, context, now, found)
    # Without approvals the decision depends only on the rule results: reuse it.
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
        found = _findings(group, results, special, notes, context)
        template = _decide(request, policies, context, now, found)
        if len(policies.decisions) >= MEMO_LIMIT:
            policies.decisions.clear()
        policies.decisions[key] = template
        return template
    decision: Decision = object.__new__(Decision)
    decision.__dict__.update(template.__dict__)
    decision.__dict__["request_id"] = request.name
    return decision


def _without_exempt(
    group: Group, name: str, service: str, environment: str, now: datetime
) -> tuple[Group, list[str]]:
    """The group minus policies an unexpired exception exempts the request from."""
    kept, notes = [], []
    for policy in group.policies:
        exempt = _exemption(policy, name, service, environment, now)
        if exempt:
            notes.append(exempt)
        else:
            kept.append(policy)
    if not notes:
        return group, notes
    return Group.of(-1, tuple(kept)), notes  # this request's own set: not memoised


def _condition_results(
    group: Group, view: dict[str, Any], context: Context, now: datetime
) -> list[bool | str]:
    """Each distinct condition of the group, from its memo when the inputs were seen."""
    cel_context: dict[str, Any] = {}
    if group.uses_context:
        cel_context = {
            "requester": context.requester or "",
            "approvers": [a.by for a in context.approvals],
        }
    results: list[bool | str] = []
    for condition in group.conditions:
        field = condition.single
        if field is not None:
            key = view.get(field, MISSING)
            kind = type(key)
            if kind is not str and kind is not int:
                key = condition.key(view, cel_context, now)
        else:
            key = condition.key(view, cel_context, now)
        result = condition.cache.get(key)
        if result is None:
            result = condition.run(key, view, cel_context, now)
        results.append(result)
    return results


MEMO_LIMIT = 100_000


def _findings(
    group: Group,
    results: list[bool | str],
    special: list[Violation],
    notes: list[str],
    context: Context,
) -> Findings:
    """Everything the group's policies said, from the rule results already computed."""
    found = Findings()
    found.policies.extend(group.names)
    found.notes.extend(notes)
    found.windowed.extend(group.windowed)
    for v in special:
        if v.rule == "blockedEnvironments":
            found.rules.append(f"{v.policy}/{v.rule}")
            found.violations.append(v)
    for (policy, rule), slot in zip(group.rules, group.slots, strict=True):
        _rule(policy, rule, True if slot < 0 else results[slot], found)
    for v in special:
        if v.rule == "rateLimit":
            found.rules.append(f"{v.policy}/{v.rule}")
            found.violations.append(v)
    if not found.effect:
        _default(context, found)
    return found


def _exemption(
    policy: Policy, name: str, service: str, environment: str, now: datetime
) -> str | None:
    for exc in policy.exceptions:
        if now < exc.expires and exc.covers(name, service, environment):
            return (
                f"Exempt from policy {policy.name} by exception {exc.name} "
                f"(owner {exc.owner}, expires {_iso(exc.expires)}): {exc.reason.strip()}"
            )
    return None


def _blocked(policy: Policy, shown: str, environment: str, found: list[Violation]) -> None:
    if environment in policy.blocked:
        found.append(
            Violation(
                policy.name,
                "blockedEnvironments",
                f"Environment {shown} is blocked from automated remediation.",
                overridable=True,
                match=f"Policy match: {policy.name} blockedEnvironments includes {environment}.",
            )
        )


def _rule(policy: Policy, rule: Rule, result: bool | str, found: Findings) -> None:
    """Record what `rule` says, given its condition's result (True when it has none)."""
    if isinstance(result, str):
        # Fail closed: a broken condition denies or demands approval, never allows.
        fires = rule.effect != "allow"
        found.errors.append(
            f"The condition of {policy.name} rule {rule.name} "
            f"could not be evaluated ({result}); "
            f"failing closed, the rule is treated as {'matching' if fires else 'not matching'}."
        )
    else:
        fires = result
    if not fires:
        return
    found.effect = True
    ref = f"{policy.name}/{rule.name}"
    found.rules.append(ref)
    if rule.effect == "deny":
        said = rule.message.strip().rstrip(".") or f"Denied by rule {rule.name}"
        found.violations.append(
            Violation(
                policy.name,
                rule.name,
                f"{said}.",
                rule.overridable,
                f"Policy match: {policy.name} rule {rule.name}"
                + (" (overridable by an operator with a reason)." if rule.overridable else "."),
            )
        )
    elif rule.effect == "require_approval":
        found.needs.append((policy.name, rule.name, rule.min, rule.principals, rule.message))
    else:
        found.allowed_by.append(ref)


def _rate_limit(
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


def counts_toward(policy: Policy, e: Execution, now: datetime) -> bool:
    """Did execution `e` start inside `policy`'s rate-limit window and match the policy?"""
    assert policy.rate_limit is not None
    at = e.at.astimezone(UTC)
    return now - policy.rate_limit.per < at <= now and policy.match.matches_fields(
        None if e.environment is None else normalize_name(e.environment),
        e.action_type,
        None if e.service_name is None else normalize_name(e.service_name),
        e.severity,
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


def _default(context: Context, found: Findings) -> None:
    ref = f"{SETTINGS}/{DEFAULT_RULE}"
    why = (
        "No policy rule decided this request"
        if found.policies
        else "No policy matches this request"
    )
    if context.default_decision == "deny":
        found.rules.append(ref)
        found.violations.append(
            Violation(
                SETTINGS,
                DEFAULT_RULE,
                f"{why} and Settings defaultDecision is deny.",
                overridable=False,
            )
        )
    elif context.default_decision == "require_approval":
        found.rules.append(ref)
        spec = context.default_approvals
        found.needs.append(
            (
                SETTINGS,
                DEFAULT_RULE,
                int(spec.get("min", 1)),
                tuple(spec.get("from", ())),
                f"{why}; Settings defaultDecision requires approval",
            )
        )
    else:
        found.allowed_by.append(ref)


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


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
