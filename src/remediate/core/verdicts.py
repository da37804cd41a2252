"""What the matching policies say about one request, before approvals count.

For each matching policy (minus those an unexpired exception exempts the
request from): blockedEnvironments, its rules (from their condition results),
its rate limit and its change windows; `Settings.defaultDecision` when no rule
yielded an effect. `core.evaluate` then lets overrides and approvals count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from remediate.core.compiled import Group, Policy, Rule
from remediate.core.decision import Context, Violation

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


def collect(
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


def without_exempt(
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


def blocked(policy: Policy, shown: str, environment: str, found: list[Violation]) -> None:
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


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
