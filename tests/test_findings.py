"""Findings (pure): fingerprints, severities, what an import changes, the stream's fold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from remediate.core import findings as fd
from remediate.core import streams
from remediate.documents import sarif

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def result(rule: str, file: str, line: int, snippet: str = "", **extra: Any) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": line}
    if snippet:
        region["snippet"] = {"text": snippet}
    return {
        "ruleId": rule,
        "message": {"text": extra.pop("message", f"{rule} here")},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": file}, "region": region}}],
        **extra,
    }


def run(*results: dict[str, Any], tool: str = "semgrep", rules: Any = ()) -> dict[str, Any]:
    return {"tool": {"driver": {"name": tool, "rules": list(rules)}}, "results": list(results)}


def test_a_finding_that_moves_down_keeps_its_id_and_identical_lines_stay_two() -> None:
    before = fd.results_of(
        run(result("r1", "a.py", 3, "eval(x)"), result("r1", "a.py", 9, "  eval(x)  ")), "repo"
    )
    after = fd.results_of(
        run(result("r1", "a.py", 13, "eval(x)"), result("r1", "a.py", 19, "eval(x)")), "repo"
    )
    assert len({r.id for r in before}) == 2
    assert [r.id for r in before] == [r.id for r in after]
    assert [r.line for r in after] == [13, 19]
    # the line alone never makes the fingerprint; another file or repository does
    other = fd.results_of(run(result("r1", "b.py", 3, "eval(x)")), "repo")
    assert other[0].id != before[0].id
    assert fd.results_of(run(result("r1", "a.py", 3, "eval(x)")), "other")[0].id != before[0].id


def test_the_tools_fingerprints_win_over_location_and_message() -> None:
    given = {"primaryLocationLineHash": "abc:1"}
    one = fd.results_of(run(result("r", "a.py", 3, "x", partialFingerprints=given)), "repo")
    two = fd.results_of(
        run(result("r", "moved.py", 90, "y", message="new words", partialFingerprints=given)),
        "repo",
    )
    assert one[0].id == two[0].id
    stable = {"stable/v1": "k"}
    three = fd.results_of(run(result("r", "a.py", 3, "x", fingerprints=stable)), "repo")
    assert three[0].id != one[0].id


def test_severity_from_security_severity_else_the_level() -> None:
    rules = [
        {"id": "crit", "properties": {"security-severity": "9.8"}},
        {"id": "warn", "defaultConfiguration": {"level": "error"}},
    ]
    got = fd.results_of(
        run(
            result("crit", "a", 1, "1"),
            result("warn", "a", 2, "2"),
            result("x", "a", 3, "3", level="note"),
            result("x", "a", 4, "4", properties={"security-severity": "5.0"}),
            result("x", "a", 5, "5"),
            rules=rules,
        ),
        "repo",
    )
    assert [r.severity for r in sorted(got, key=lambda r: r.line or 0)] == [
        "CRITICAL",
        "HIGH",
        "LOW",
        "MEDIUM",
        "MEDIUM",
    ]


def test_suppressed_and_passing_results_are_not_findings() -> None:
    got = fd.results_of(
        run(
            result("r", "a", 1, "1", suppressions=[{"kind": "inSource"}]),
            result("r", "a", 2, "2", kind="pass"),
            result("r", "a", 3, "3", suppressions=[{"kind": "external", "status": "rejected"}]),
        ),
        "repo",
    )
    assert [r.line for r in got] == [3]


def _apply(values: dict[str, Any], changes: list[fd.Change], at: datetime) -> None:
    for c in changes:
        state = streams.StreamState(fd.STREAM, c.subject, values.get(c.subject))
        event = streams.StreamEvent(
            "e", fd.iso(at) or "", fd.STREAM, c.subject, c.verb, "x", c.details
        )
        assert streams.refused(state, event) is None, c
        values[c.subject] = streams.step(state, event).value


def test_an_import_resolves_only_its_own_tool_and_repository() -> None:
    values: dict[str, Any] = {}
    a = fd.Scan("s1", "semgrep", "repo", fd.results_of(run(result("r", "a", 1, "1")), "repo"))
    b = fd.Scan(
        "s2", "bandit", "repo", fd.results_of(run(result("r", "a", 1, "1"), tool="bandit"), "repo")
    )
    _apply(values, fd.changes_of(a, values, T0), T0)
    _apply(values, fd.changes_of(b, values, T0), T0)
    assert len(values) == 2
    empty = fd.Scan("s3", "semgrep", "repo", [])
    t1 = T0 + timedelta(hours=1)
    changes = fd.changes_of(empty, values, t1)
    assert [(c.verb, c.subject) for c in changes] == [("resolved", a.results[0].id)]
    assert empty.counts["resolved"] == 1
    _apply(values, changes, t1)
    assert values[b.results[0].id]["status"] == "open"
    # a request that completed is named when its finding goes
    values[b.results[0].id]["remediationId"] = "fix-it"
    gone = fd.Scan("s4", "bandit", "repo", [])
    (change,) = fd.changes_of(gone, values, t1, completed=lambda rid: rid == "fix-it")
    assert change.details["remediationId"] == "fix-it"
    assert change.details["changes"] == {"resolvedBy": "request fix-it"}


def test_the_fold_refuses_what_the_lifecycle_forbids() -> None:
    record = fd.record(fd.results_of(run(result("r", "a", 1, "1")), "repo")[0], fd.OPEN, T0, "s1")
    fid = record["id"]
    start = streams.start(fd.STREAM, fid)
    created = streams.StreamEvent(
        "e1", "2026-11-23T10:00:00.000Z", fd.STREAM, fid, "created", "x", {"finding": record}
    )
    assert streams.refused(start, created) is None
    after = streams.step(start, created)
    assert streams.refused(after, created) == "the finding exists already"
    bogus = streams.StreamEvent(
        "e2", created.at, fd.STREAM, fid, "status_changed", "x", {"status": "closed"}
    )
    assert "a finding's status is one of" in (streams.refused(after, bogus) or "")
    orphan = streams.StreamEvent("e3", created.at, fd.STREAM, "f0", "resolved", "x", {})
    assert streams.refused(streams.start(fd.STREAM, "f0"), orphan) == (
        "a finding changes only after it was created"
    )


def test_sarif_problems_name_the_file_and_the_key_path() -> None:
    assert sarif.parse("s.sarif", b"\xff\xfe") == (None, ["s.sarif: -: not UTF-8 (byte 0)"])
    _, problems = sarif.parse("s.sarif", b'{"version": "2.1.0", "runs": [{"tool": {}}]}')
    assert problems and problems[0].startswith("s.sarif: runs[0].tool: ")
    _, problems = sarif.parse("s.sarif", b"[]")
    assert problems == ["s.sarif: -: a SARIF log is a JSON object"]
    ok, problems = sarif.parse("s.sarif", b'{"version": "2.1.0", "runs": []}')
    assert (ok, problems) == ({"version": "2.1.0", "runs": []}, [])


def test_names_from_a_log_cannot_break_a_commit_message() -> None:
    log = run(result("r", "a", 1, "1"), tool="evil\nRemediation-Id: forged")
    log["versionControlProvenance"] = [{"repositoryUri": "x\r\ny"}]
    (found,) = fd.results_of(log, fd.repository_of(log) or "")
    assert (found.tool, found.repository) == ("evil?Remediation-Id: forged", "x??y")
