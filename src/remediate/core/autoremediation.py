"""Auto-remediation: `Settings.spec.autoRemediation` rules turn matching open findings
into requests, at most one per finding and rule (ever) and at most `maxOpen` of a rule's
unfinished at once. Pure: rendering and checking a request are the caller's (`render`).

A rule's request is named `<rule>-<finding id>` and recorded in the audit, no file: the
`remediation_requested` event of its finding carries it (`details.request`: name, spec,
requester, rule), and the findings fold keeps it (`value["requests"]`), so
`core.schedules.with_fired` adds it to the repository until it ends. `apply` makes it, in
its decision commit, and decides it there on the normal policy path. Its requester is
who imported the log the finding's values came from (`core.findings.IMPORTED_BY`): the
one person who cannot approve it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from remediate.core.findings import IMPORTED_BY
from remediate.core.lifecycle import FINAL

DEFAULT_MAX_OPEN = 10
RULE_LABEL = "remediate.dev/auto-remediation"  # the rule that made a request
FINDING_LABEL = "remediate.dev/finding"  # … and the finding it is for
_RANK = {"LOW": 0, "MEDIUM": 1, "HIGH": 2, "CRITICAL": 3}


@dataclass(frozen=True)
class Rule:
    name: str
    tools: tuple[str, ...] | None
    rules: tuple[str, ...] | None
    severities: tuple[str, ...] | None
    repositories: tuple[str, ...] | None
    request: Mapping[str, Any]
    max_open: int = DEFAULT_MAX_OPEN

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Rule:
        match = spec.get("match") or {}

        def listed(key: str) -> tuple[str, ...] | None:
            return tuple(match[key]) if key in match else None

        return cls(
            name=str(spec["name"]),
            tools=listed("tools"),
            rules=listed("rules"),
            severities=listed("severities"),
            repositories=listed("repositories"),
            request=dict(spec["request"]),
            max_open=int(spec.get("maxOpen", DEFAULT_MAX_OPEN)),
        )

    def matches(self, finding: Mapping[str, Any]) -> bool:
        """An open finding of the listed tools, rules, severities and repositories (an
        omitted key matches every finding)."""
        return (
            finding.get("status") == "open"
            and (self.tools is None or finding.get("tool") in self.tools)
            and (self.rules is None or finding.get("ruleId") in self.rules)
            and (self.severities is None or finding.get("severity") in self.severities)
            and (self.repositories is None or finding.get("repository") in self.repositories)
        )


def rules_of(settings_rules: Iterable[Mapping[str, Any]]) -> list[Rule]:
    return [Rule.from_spec(r) for r in settings_rules]


def request_name(rule: str, finding_id: str) -> str:
    return f"{rule}-{finding_id}"


TEMPLATE_FIELDS = (
    "id",
    "fingerprint",
    "tool",
    "ruleId",
    "severity",
    "status",
    "repository",
    "location",
    "message",
    "firstSeen",
    "lastSeen",
    "scanId",
    "owner",
    "notes",
    "targetDate",
    "assetId",
)


def template_data(finding: Mapping[str, Any]) -> dict[str, Any]:
    """What a rule's templates read: `finding.*`, the contract's fields (as data)."""
    data = {k: finding.get(k) for k in TEMPLATE_FIELDS}
    data["location"] = dict(finding.get("location") or {})
    return {"finding": data}


def recorded(finding: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The requests made for a finding: name → {name, spec, requester, rule}."""
    found = finding.get("requests")
    return dict(found) if isinstance(found, dict) else {}


@dataclass(frozen=True)
class Planned:
    finding: str
    rule: str
    name: str
    spec: dict[str, Any]
    requester: str


def plan(
    rules: Iterable[Rule],
    findings: Mapping[str, Mapping[str, Any]],
    status_of: Callable[[str], str],
    exists: Callable[[str], bool],
    render: Callable[[Rule, Mapping[str, Any], str], dict[str, Any] | str],
) -> tuple[list[Planned], list[str]]:
    """The requests to make now, and notes on findings a rule could not make one for.

    For each rule, in order: its open matching findings, most severe first, then the
    oldest (`firstSeen`), then by id, skipping those it made a request for already (or
    whose request name is taken: `exists`), while fewer than `maxOpen` of its requests are
    unfinished (`status_of(name)` not final). `render(rule, finding, name)`: the request's
    spec, or why it cannot be made (a note; tried again at the next apply). Each request's
    requester is who imported the finding's values."""
    made: dict[str, list[str]] = {}  # rule → names of its requests
    for finding in findings.values():
        for name, request in recorded(finding).items():
            made.setdefault(str(request.get("rule")), []).append(name)
    out: list[Planned] = []
    notes: list[str] = []
    for rule in rules:
        mine = made.get(rule.name, [])
        open_now = sum(1 for name in mine if status_of(name) not in FINAL)
        candidates = [
            (fid, f)
            for fid, f in findings.items()
            if rule.matches(f) and request_name(rule.name, fid) not in recorded(f)
        ]
        candidates.sort(key=lambda c: c[0])
        candidates.sort(key=lambda c: str(c[1].get("firstSeen") or ""))
        candidates.sort(key=lambda c: _RANK.get(str(c[1].get("severity")), -1), reverse=True)
        for fid, finding in candidates:
            if open_now >= rule.max_open:
                break
            name = request_name(rule.name, fid)
            if exists(name):
                continue
            requester = str(finding.get(IMPORTED_BY) or "")
            spec = render(rule, finding, name) if requester else "who imported it is unknown"
            if isinstance(spec, str):
                notes.append(f"auto-remediation {rule.name}: finding {fid}: no request: {spec}")
                continue
            out.append(Planned(fid, rule.name, name, spec, requester))
            open_now += 1
    return out, notes
