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
from datetime import UTC, datetime, timedelta
from typing import Any

from remediate.core.conditions import Condition, ConditionError, compile_condition
from remediate.core.document import Document
from remediate.core.duration import parse_duration
from remediate.core.matching import Match, MatchIndex, Pattern, bits, matches_any, normalize_name
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


@dataclass
class PolicySet:
    """Compiled policies with their match index and the caches evaluation fills."""

    policies: tuple[Policy, ...]
    index: MatchIndex
    _by_mask: dict[int, tuple[Policy, ...]] = field(default_factory=dict, repr=False)
    # (policy, now) → (the executions tuple it was counted from, counts by key)
    rate_counts: dict[tuple[str, datetime], tuple[object, dict[tuple[str, ...], int]]] = field(
        default_factory=dict, repr=False
    )
    windows_cache: dict[tuple[tuple[str, ...], datetime], datetime | None] = field(
        default_factory=dict, repr=False
    )

    def matching(
        self,
        environment: str,
        action_type: str,
        service: str,
        severity: str,
        labels: Mapping[str, str],
    ) -> tuple[Policy, ...]:
        """The policies whose `match` holds, in order (environment and service normalized)."""
        mask = self.index.mask(environment, action_type, service, severity, labels)
        found = self._by_mask.get(mask)
        if found is None:
            found = tuple(self.policies[i] for i in bits(mask))
            self._by_mask[mask] = found
        return found

    def get(self, name: str) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)


def compile_policies(documents: Iterable[Document]) -> PolicySet:
    """Compile the `GuardrailPolicy` documents among `documents` (PolicyError: first problem)."""
    policies = []
    for doc in documents:
        if doc.kind == "GuardrailPolicy":
            policies.append(compile_policy(doc))
    policies.sort(key=lambda p: p.name)
    return PolicySet(tuple(policies), MatchIndex([p.match for p in policies]))


def policy_problems(doc: Document) -> list[PolicyError]:
    """Every condition problem of one policy, each at its rule's `when` line."""
    problems = []
    for i, rule in enumerate(doc.spec.get("rules", [])):
        if "when" in rule:
            try:
                compile_condition(rule["when"])
            except ConditionError as exc:
                problems.append(_condition_error(doc, i, exc))
    return problems


def _condition_error(doc: Document, i: int, exc: ConditionError) -> PolicyError:
    path = f"spec.rules[{i}].when"
    line = doc.line(path)
    text = doc.spec["rules"][i]["when"]
    # A block scalar starts on the line after its key; a one-line string on the key's line.
    if "\n" in text.rstrip("\n") and exc.line > 1:
        line += exc.line
    return PolicyError(doc.file, line, path, str(exc))


def compile_policy(doc: Document) -> Policy:
    spec = doc.spec
    rules = []
    for i, rule in enumerate(spec.get("rules", [])):
        condition = None
        if "when" in rule:
            try:
                condition = compile_condition(rule["when"])
            except ConditionError as exc:
                raise _condition_error(doc, i, exc) from None
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


def parse_time(value: object) -> datetime:
    """An RFC 3339 time from a document (strings; YAML timestamps too), always aware UTC."""

    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone offset (write e.g. 2026-11-23T10:00:00Z)")
    return moment.astimezone(UTC)


def names(policies: Sequence[Policy]) -> tuple[str, ...]:
    return tuple(p.name for p in policies)
