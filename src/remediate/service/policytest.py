"""`policy test`: run `PolicyTest` cases against the repository's policies.

Each case is a request spec, an optional context (now, requester, approvals,
prior executions) and the expected decision. Cases without `now` are decided
as of the `now` passed in. Approvals in a case are given for the request as it
is written (they are never stale); an approval with `override: true` is given
when the case happens, so it lifts the overridable violations present then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from remediate.core.decision import Approval, Context, Decision, Execution, decision_context
from remediate.core.document import Document
from remediate.core.identity import Directory
from remediate.core.model import Request, Settings, build_repository
from remediate.core.policy import PolicySet, compile_policies, evaluate
from remediate.core.times import iso, parse_time
from remediate.errors import UsageError
from remediate.service.plan import compile_repository
from remediate.service.session import Session


@dataclass(frozen=True)
class CaseResult:
    test: str
    file: str
    name: str
    ok: bool
    expected: dict[str, Any]
    actual: dict[str, Any]
    mismatches: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.test,
            "file": self.file,
            "name": self.name,
            "ok": self.ok,
            "expected": self.expected,
            "actual": self.actual,
        }


@dataclass(frozen=True)
class TestReport:
    cases: tuple[CaseResult, ...]

    @property
    def passed(self) -> int:
        return sum(c.ok for c in self.cases)

    @property
    def failed(self) -> int:
        return len(self.cases) - self.passed

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "cases": [c.as_json() for c in self.cases],
        }


def run_tests(session: Session, paths: Sequence[str], now: datetime) -> TestReport:
    """Validate (fail closed), then run every PolicyTest under `paths` (default: all)."""
    root = session.root
    documents = session.documents.load_paths(paths, library=True)
    repo = build_repository(documents)
    tests = [d for d in documents if d.kind == "PolicyTest"]
    if paths:
        named = {_rel(root, p) for p in paths}
        tests = [d for d in tests if any(_under(d.file, n) for n in named)]
    if not tests:
        raise UsageError(
            "no PolicyTest documents found" + (f" in {', '.join(paths)}" if paths else "")
        )
    everything = compile_repository(repo)
    directory = Directory.from_settings(repo.settings)
    results: list[CaseResult] = []
    for doc in tests:
        chosen = _policies_under_test(doc, repo.policies, everything)
        for i, case in enumerate(doc.spec["cases"]):
            context = _context(case.get("context", {}), directory, now, repo.settings)
            request = Request.from_spec(
                case.get("requestName", f"{doc.name}-{i + 1}"), case["request"]
            )
            results.append(_check(doc, case, _decide(request, chosen, context)))
    return TestReport(tuple(results))


def _rel(root: Path, given: str) -> str:
    absolute = Path(given).resolve()
    try:
        return absolute.relative_to(root.resolve()).as_posix()
    except ValueError:
        return given


def _under(file: str, named: str) -> bool:
    return named in ("", ".") or file == named or file.startswith(named.rstrip("/") + "/")


def _policies_under_test(
    doc: Document, policies: Sequence[Document], everything: PolicySet
) -> PolicySet:
    names = doc.spec.get("policies")
    if not names:
        return everything
    return compile_policies(p for p in policies if p.name in set(names))


def _context(
    spec: Mapping[str, Any], directory: Directory, now: datetime, settings: Settings
) -> Context:
    """A case's context: its own requester, approvals and executions, built as every
    decision's is (`core.decision.decision_context`)."""
    approvals = tuple(
        Approval(by=a) if isinstance(a, str) else _approval(a) for a in spec.get("approvals", ())
    )
    executions = tuple(
        Execution(
            at=parse_time(e["at"]),
            service_name=e.get("serviceName"),
            environment=e.get("environment"),
            action_type=e.get("actionType"),
            incident_id=e.get("incidentId"),
            severity=e.get("severity"),
        )
        for e in spec.get("executions", ())
    )
    requester = spec.get("requester")
    return decision_context(
        parse_time(spec["now"]) if "now" in spec else now,
        directory,
        settings,
        (requester,) if requester else (),
        approvals,
        executions,
    )


def _decide(request: Request, policies: PolicySet, context: Context) -> Decision:
    """The decision; an `override: true` in the case lifts the violations present then."""
    decision = evaluate(request, policies, context)
    if not any(a.override for a in context.approvals) or not decision.violations:
        return decision
    lifts = tuple(v.ref for v in decision.violations if v.overridable)
    approvals = tuple(replace(a, lifts=lifts) if a.override else a for a in context.approvals)
    return evaluate(request, policies, replace(context, approvals=approvals))


def _approval(spec: Mapping[str, Any]) -> Approval:
    return Approval(
        by=spec["by"], reason=spec.get("reason"), override=bool(spec.get("override", False))
    )


def _check(doc: Document, case: Mapping[str, Any], decision: Decision) -> CaseResult:
    expect = dict(case["expect"])
    actual: dict[str, Any] = {"status": decision.status}
    mismatches = []
    if decision.status != expect["status"]:
        mismatches.append(f"status {decision.status}, expected {expect['status']}")
    if "violations" in expect:
        actual["violations"] = [f"{v.policy}/{v.rule}" for v in decision.violations]
        for wanted in expect["violations"]:
            if not any(
                _violation_matches(wanted, v.policy, v.rule, v.detail) for v in decision.violations
            ):
                mismatches.append(f"no violation {wanted!r}")
    if "rules" in expect:
        actual["rules"] = list(decision.rules)
        mismatches += [
            f"rule {r!r} did not apply" for r in expect["rules"] if r not in decision.rules
        ]
    if "notBefore" in expect:
        actual["notBefore"] = iso(decision.not_before)
        wanted = expect["notBefore"]
        if (None if wanted is None else parse_time(wanted)) != decision.not_before:
            mismatches.append(f"notBefore {actual['notBefore']}, expected {wanted}")
    if "deferred" in expect:
        actual["deferred"] = decision.deferred
        if decision.deferred != expect["deferred"]:
            mismatches.append(f"deferred {decision.deferred}, expected {expect['deferred']}")
    actual["detail"] = decision.detail
    return CaseResult(
        doc.name, doc.file, case["name"], not mismatches, expect, actual, tuple(mismatches)
    )


def _violation_matches(wanted: str, policy: str, rule: str, message: str) -> bool:
    """An expected violation names `policy/rule`, the rule, or a part of the message."""
    w = wanted.casefold()
    return w in (f"{policy}/{rule}".casefold(), rule.casefold()) or w in message.casefold()
