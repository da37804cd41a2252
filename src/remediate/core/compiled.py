"""Guardrail policies, compiled once and indexed by their match keys.

`compile_policies` turns validated `GuardrailPolicy` documents into a
`PolicySet`; `remediate.core.evaluate.evaluate` decides a request against it
(both are re-exported by `remediate.core.policy`).
Compiling checks every CEL condition (bounds, syntax, names) and raises
`PolicyError` naming the document, line and key path of the first problem;
`policy_problems` lists them all for `validate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from remediate.core.conditions import Condition, ConditionError, compile_condition, union_paths
from remediate.core.document import Document
from remediate.core.duration import parse_duration
from remediate.core.matching import Match, MatchIndex, Pattern, bits, matches_any, normalize_name
from remediate.core.times import parse_time
from remediate.core.windows import ChangeWindow


class PolicyError(ValueError):
    """A policy that cannot be compiled: `file:line: key.path: message`."""

    def __init__(self, file: str, line: int, path: str, message: str) -> None:
        super().__init__(f"{file}:{line}: {path}: {message}")
        self.file, self.line, self.path, self.message = file, line, path, message


@dataclass(frozen=True)
class Rule:
    name: str
    effect: str  # deny | require_approval | allow
    condition: Condition | None
    overridable: bool = False
    message: str = ""
    min: int = 0
    principals: tuple[str, ...] = ()


@dataclass(frozen=True)
class RateLimit:
    max: int
    per: timedelta
    by: tuple[str, ...]


@dataclass(frozen=True)
class PolicyException:
    name: str
    owner: str
    reason: str
    expires: datetime
    requests: frozenset[str] | None
    services: tuple[Pattern, ...] | None
    environments: tuple[Pattern, ...] | None

    def covers(self, request_name: str, service: str, environment: str) -> bool:
        """Every key the exception names must hold (service and environment normalized)."""
        return (
            (self.requests is None or request_name in self.requests)
            and (self.services is None or matches_any(self.services, service))
            and (self.environments is None or matches_any(self.environments, environment))
        )


@dataclass(frozen=True)
class Policy:
    name: str
    file: str
    match: Match
    blocked: frozenset[str]
    rules: tuple[Rule, ...]
    windows: tuple[ChangeWindow, ...] = ()
    rate_limit: RateLimit | None = None
    exceptions: tuple[PolicyException, ...] = ()
    # What the policy's conditions read together: its rule outcomes are memoised on it.
    request_paths: tuple[tuple[str, ...], ...] | None = ()
    context_paths: tuple[tuple[str, ...], ...] | None = ()
    uses_context: bool = False
    uses_now: bool = False
    follow_ups: tuple[Any, ...] = ()  # `core.followups.Rule`s: requests made on its results


@dataclass(frozen=True)
class Group:
    """The policies one combination of match keys selects, and what they read together."""

    serial: int
    policies: tuple[Policy, ...]
    names: tuple[str, ...]
    with_rules: tuple[Policy, ...]
    rules: tuple[tuple[Policy, Rule], ...]  # every rule of every policy, in order
    conditions: tuple[Condition, ...]  # the distinct conditions of those rules
    slots: tuple[int, ...]  # per rule: its condition's index in `conditions`, -1 for none
    blocking: tuple[Policy, ...]
    rate_limited: tuple[Policy, ...]
    windowed: tuple[Policy, ...]
    has_exceptions: bool
    request_paths: tuple[tuple[str, ...], ...] | None
    context_paths: tuple[tuple[str, ...], ...] | None
    uses_context: bool
    uses_now: bool

    @classmethod
    def of(cls, serial: int, policies: tuple[Policy, ...]) -> Group:
        with_rules = tuple(p for p in policies if p.rules)
        rules = tuple((p, r) for p in with_rules for r in p.rules)
        distinct: dict[int, int] = {}
        conditions: list[Condition] = []
        slots = []
        for _, rule in rules:
            if rule.condition is None:
                slots.append(-1)
                continue
            slot = distinct.get(id(rule.condition))
            if slot is None:
                slot = distinct[id(rule.condition)] = len(conditions)
                conditions.append(rule.condition)
            slots.append(slot)
        return cls(
            serial=serial,
            policies=policies,
            names=tuple(p.name for p in policies),
            with_rules=with_rules,
            rules=rules,
            conditions=tuple(conditions),
            slots=tuple(slots),
            blocking=tuple(p for p in policies if p.blocked),
            rate_limited=tuple(p for p in policies if p.rate_limit is not None),
            windowed=tuple(p for p in policies if p.windows),
            has_exceptions=any(p.exceptions for p in policies),
            request_paths=union_paths([p.request_paths for p in with_rules]),
            context_paths=union_paths([p.context_paths for p in with_rules if p.uses_context]),
            uses_context=any(p.uses_context for p in with_rules),
            uses_now=any(p.uses_now for p in with_rules),
        )


@dataclass
class PolicySet:
    """Compiled policies with their match index and the caches evaluation fills."""

    policies: tuple[Policy, ...]
    index: MatchIndex
    _by_mask: dict[int, Group] = field(default_factory=dict, repr=False)
    # (policy, now) → (the executions tuple it was counted from, counts by key)
    rate_counts: dict[tuple[str, datetime], tuple[object, dict[tuple[str, ...], int]]] = field(
        default_factory=dict, repr=False
    )
    # (windowed policies, now) → (first common opening, None: never; days searched)
    windows_cache: dict[tuple[tuple[str, ...], datetime], tuple[datetime | None, int]] = field(
        default_factory=dict, repr=False
    )
    # memo of whole decisions without approvals, by group and rule results
    decisions: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)
    normalized: dict[str, str] = field(default_factory=dict, repr=False)

    def normalize(self, name: str) -> str:
        found = self.normalized.get(name)
        if found is None:
            found = self.normalized[name] = normalize_name(name)
        return found

    def matching(
        self,
        environment: str,
        action_type: str,
        service: str,
        severity: str,
        labels: Mapping[str, str],
    ) -> tuple[Policy, ...]:
        """The policies whose `match` holds, in order (environment and service normalized)."""
        return self.group(environment, action_type, service, severity, labels).policies

    def group(
        self,
        environment: str,
        action_type: str,
        service: str,
        severity: str,
        labels: Mapping[str, str],
    ) -> Group:
        mask = self.index.mask(environment, action_type, service, severity, labels)
        found = self._by_mask.get(mask)
        if found is None:
            found = Group.of(len(self._by_mask), tuple(self.policies[i] for i in bits(mask)))
            self._by_mask[mask] = found
        return found

    def get(self, name: str) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)


def compile_policies(documents: Iterable[Document]) -> PolicySet:
    """Compile the `GuardrailPolicy` documents among `documents` (PolicyError: first problem)."""
    policies = []
    shared: dict[str, Condition] = {}  # one Condition (and memo) per distinct source
    for doc in documents:
        if doc.kind == "GuardrailPolicy":
            policies.append(compile_policy(doc, shared))
    policies.sort(key=lambda p: p.name)
    return PolicySet(tuple(policies), MatchIndex([p.match for p in policies]))


def policy_problems(doc: Document) -> list[PolicyError]:
    """Every condition problem of one policy, each at its rule's `when` line."""
    problems = []
    for i, rule in enumerate(doc.spec.get("rules", [])):
        if "when" in rule:
            exc = _source_problem(rule["when"])
            if exc is not None:
                problems.append(_condition_error(doc, i, exc))
    problems += _follow_up_problems(doc)
    return problems


def _follow_up_problems(doc: Document) -> list[PolicyError]:
    from remediate.core.followups import condition_problem

    problems = []
    for i, rule in enumerate(doc.spec.get("followUps", ())):
        if isinstance(rule.get("when"), str):
            exc = condition_problem(rule["when"])
            if exc is not None:
                path = f"spec.followUps[{i}].when"
                problems.append(PolicyError(doc.file, doc.line(path), path, str(exc)))
    return problems


@lru_cache(maxsize=4096)
def _source_problem(source: str) -> ConditionError | None:
    """Why `source` does not compile (checked once per distinct source)."""
    try:
        compile_condition(source)
    except ConditionError as exc:
        return exc
    return None


def _condition_error(doc: Document, i: int, exc: ConditionError) -> PolicyError:
    path = f"spec.rules[{i}].when"
    line = doc.line(path)
    text = doc.spec["rules"][i]["when"]
    # A block scalar starts on the line after its key; a one-line string on the key's line.
    if "\n" in text.rstrip("\n"):
        line += exc.line
    return PolicyError(doc.file, line, path, str(exc))


def compile_policy(doc: Document, shared: dict[str, Condition] | None = None) -> Policy:
    spec = doc.spec
    rules = []
    known = {} if shared is None else shared
    for i, rule in enumerate(spec.get("rules", [])):
        condition = None
        if "when" in rule:
            condition = known.get(rule["when"])
            if condition is None:
                try:
                    condition = compile_condition(rule["when"])
                except ConditionError as exc:
                    raise _condition_error(doc, i, exc) from None
                known[rule["when"]] = condition
        approvals = rule.get("approvals", {})
        rules.append(
            Rule(
                name=rule["name"],
                effect=rule["effect"],
                condition=condition,
                overridable=bool(rule.get("overridable", False)),
                message=str(rule.get("message", "")),
                min=int(approvals.get("min", 0)),
                principals=tuple(approvals.get("from", ())),
            )
        )
    limit = spec.get("rateLimit")
    conditions = [r.condition for r in rules if r.condition is not None]
    follow_ups: tuple[Any, ...] = ()
    if spec.get("followUps"):
        found = _follow_up_problems(doc)
        if found:
            raise found[0]
        from remediate.core.followups import compile_rule

        follow_ups = tuple(compile_rule(r, doc.name) for r in spec["followUps"])
    return Policy(
        name=doc.name,
        file=doc.file,
        match=Match.from_spec(spec.get("match", {})),
        blocked=frozenset(normalize_name(e) for e in spec.get("blockedEnvironments", ())),
        rules=tuple(rules),
        windows=tuple(
            ChangeWindow(w["cron"], parse_duration(w["duration"]), w["timezone"])
            for w in spec.get("changeWindows", ())
        ),
        rate_limit=(
            RateLimit(int(limit["max"]), parse_duration(limit["per"]), tuple(limit.get("by", ())))
            if limit
            else None
        ),
        exceptions=tuple(_exception(e, i) for i, e in enumerate(spec.get("exceptions", ()))),
        request_paths=union_paths([c.request_paths for c in conditions if c.uses_request]),
        context_paths=union_paths([c.context_paths for c in conditions if c.uses_context]),
        uses_context=any(c.uses_context for c in conditions),
        uses_now=any(c.uses_now for c in conditions),
        follow_ups=follow_ups,
    )


def _exception(spec: Mapping[str, Any], i: int) -> PolicyException:
    def globs(key: str) -> tuple[Pattern, ...] | None:
        values = spec.get(key)
        return None if values is None else tuple(Pattern.of(str(v), True) for v in values)

    requests = spec.get("requests")
    return PolicyException(
        name=str(spec.get("name", f"exceptions[{i}]")),
        owner=str(spec["owner"]),
        reason=str(spec.get("reason", "")),
        expires=parse_time(spec["expires"]),
        requests=None if requests is None else frozenset(str(r) for r in requests),
        services=globs("services"),
        environments=globs("environments"),
    )


def names(policies: Sequence[Policy]) -> tuple[str, ...]:
    return tuple(p.name for p in policies)
