"""`remediate plan`, `explain` and `policy test` through the real entry point."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import Result

MONDAY = "2026-11-23T10:00:00Z"
Run = Callable[..., Result]


def git(root: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "Erin",
            "GIT_AUTHOR_EMAIL": "erin@example.com",
            "GIT_COMMITTER_NAME": "Erin",
            "GIT_COMMITTER_EMAIL": "erin@example.com",
            "HOME": str(root),
            "PATH": "/usr/bin:/bin",
        },
    )
    return out.stdout.strip()


def write_request(root: Path, name: str, **spec: object) -> None:
    body = {
        "apiVersion": "remediate/v1",
        "kind": "RemediationRequest",
        "metadata": {"name": name},
        "spec": {
            "action": {"type": "restart-service", "parameters": {"service": "api-gateway"}},
            "serviceName": "api-gateway",
            "environment": "staging",
            "severity": "LOW",
            **spec,
        },
    }
    path = root / "remediations" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body, sort_keys=False))


def test_plan_json_shape(run_cli: Run, quickstart: Path) -> None:
    r = run_cli("plan", "--repo", str(quickstart), "--now", MONDAY, "--format", "json")
    assert r.code == 0, r.err
    body = json.loads(r.out)
    assert list(body) == ["decisions"]
    by_id = {d["requestId"]: d for d in body["decisions"]}
    assert set(by_id) == {"rem-2026-0042", "rem-2026-0043", "rem-2026-0044"}
    for d in body["decisions"]:
        assert list(d) == [
            "requestId",
            "status",
            "detail",
            "violations",
            "policies",
            "rules",
            "approvalsRequired",
            "approvers",
            "notBefore",
        ]
    pending = by_id["rem-2026-0042"]
    assert pending["status"] == "PENDING_APPROVAL"
    assert pending["approvalsRequired"] == 2
    assert pending["approvers"] == ["team:sre"]
    assert pending["rules"] == ["production-safety/high-severity-needs-two-sre"]
    assert by_id["rem-2026-0044"]["detail"].startswith(
        "Environment prod-eu-legacy is blocked from automated remediation. "
        "Policy match: production-safety blockedEnvironments includes prod-eu-legacy."
    )


def test_plan_as_of_another_time(run_cli: Run, quickstart: Path) -> None:
    r = run_cli(
        "plan", "--repo", str(quickstart), "--now", "2026-12-24T10:00:00Z", "--format", "json"
    )
    statuses = {d["requestId"]: d["status"] for d in json.loads(r.out)["decisions"]}
    assert statuses["rem-2026-0042"] == "POLICY_VIOLATION"  # the holiday freeze


def test_plan_text(run_cli: Run, quickstart: Path) -> None:
    r = run_cli("plan", "--repo", str(quickstart), "--now", MONDAY)
    assert r.code == 0
    assert (
        "rem-2026-0043: QUEUED\n  Allowed. Policy match: non-production rule allow-non-production."
        in r.out
    )
    assert r.out.rstrip().endswith(
        "3 requests: 1 PENDING_APPROVAL, 1 POLICY_VIOLATION, 1 QUEUED "
        "(as of 2026-11-23T10:00:00.000Z)"
    )


def test_plan_bad_now_is_misuse(run_cli: Run, quickstart: Path) -> None:
    r = run_cli("plan", "--repo", str(quickstart), "--now", "monday")
    assert r.code == 2
    assert "--now monday: not an RFC 3339 time" in r.err
    assert "Traceback" not in r.err


def test_plan_fails_closed_on_invalid_documents(run_cli: Run, quickstart: Path) -> None:
    bad = quickstart / "policies" / "production-safety.yaml"
    bad.write_text(
        bad.read_text().replace('request.severity in ["HIGH", "CRITICAL"]', "request.severity ==")
    )
    r = run_cli("plan", "--repo", str(quickstart), "--now", MONDAY, "--format", "json")
    assert r.code == 1
    assert "decisions" not in json.loads(r.out)  # the errors instead (tests/test_cli_errors.py)
    assert "policies/production-safety.yaml:" in r.err
    assert "spec.rules[0].when: not a valid CEL expression" in r.err


def test_markdown_comment_neutralises_user_text(run_cli: Run, quickstart: Path) -> None:
    hostile = "Ping @alice <img src=x> see [here](https://evil.example) or www.evil.example | x"
    policy = quickstart / "policies" / "production-safety.yaml"
    doc = yaml.safe_load(policy.read_text())
    doc["spec"]["rules"][0]["message"] = hostile
    policy.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = run_cli("plan", "--repo", str(quickstart), "--now", MONDAY, "--format", "markdown")
    assert r.code == 0, r.err
    assert r.out.startswith("<!-- remediate:plan -->\n")
    assert "| Request | Decision | Reason | Who can approve |" in r.out
    row = next(line for line in r.out.splitlines() if "rem-2026-0042" in line)
    assert "@alice" not in row and "@\u2060alice" in row
    assert "<img" not in row and "&lt;img src=x&gt;" in row
    assert "https://" not in row and "https:\u2060//" in row
    assert "www.evil" not in row
    assert "](" not in row and "\\[here\\]\\(" in row
    assert row.count(" | ") == 3  # the user's pipe cannot add a column


def test_plan_base_decides_only_changed_requests(run_cli: Run, quickstart: Path) -> None:
    git(quickstart, "init", "-q", "-b", "main")
    git(quickstart, "add", "-A")
    git(quickstart, "commit", "-q", "-m", "start")
    write_request(quickstart, "rem-new", environment="Production", severity="LOW")
    r = run_cli(
        "plan", "--repo", str(quickstart), "--base", "HEAD", "--now", MONDAY, "--format", "json"
    )
    assert r.code == 0, r.err
    (only,) = json.loads(r.out)["decisions"]
    assert only["requestId"] == "rem-new"
    assert only["status"] == "PENDING_APPROVAL"
    r = run_cli("plan", "--repo", str(quickstart), "--base", "nope", "--now", MONDAY)
    assert r.code == 2


def test_explain_says_what_would_change_it(run_cli: Run, quickstart: Path) -> None:
    r = run_cli("explain", "rem-2026-0042", "--repo", str(quickstart), "--now", MONDAY)
    assert r.code == 0, r.err
    assert r.out.startswith(
        "rem-2026-0042: PENDING_APPROVAL (remediations/2026/rem-2026-0042.yaml)"
    )
    assert (
        "needs 2 more approvals from team:sre (production-safety high-severity-needs-two-sre)."
        in r.out
    )
    r = run_cli(
        "explain", "rem-2026-0044", "--repo", str(quickstart), "--now", MONDAY, "--format", "json"
    )
    body = json.loads(r.out)
    assert body["status"] == "POLICY_VIOLATION"
    assert body["whatWouldChangeIt"][0].startswith(
        "production-safety blockedEnvironments is overridable: "
        "an operator can approve with a reason"
    )
    r = run_cli("explain", "rem-missing", "--repo", str(quickstart), "--now", MONDAY)
    assert r.code == 1
    assert "no request named 'rem-missing'" in r.err


def test_explain_deferred_by_a_window(run_cli: Run, quickstart: Path) -> None:
    (quickstart / "policies" / "office.yaml").write_text(
        "apiVersion: remediate/v1\nkind: GuardrailPolicy\nmetadata: {name: office}\nspec:\n"
        "  match: {environments: [staging]}\n"
        '  changeWindows: [{cron: "0 9 * * 1-5", duration: 8h, timezone: Europe/Berlin}]\n'
    )
    r = run_cli(
        "explain", "rem-2026-0043", "--repo", str(quickstart), "--now", "2026-11-22T12:00:00Z"
    )
    assert r.code == 0, r.err
    assert (
        "blocked until the change window opens at 2026-11-23 09:00 Europe/Berlin "
        "(2026-11-23T08:00:00Z)." in r.out
    )


def test_policy_test_passes_for_the_shipped_baseline(run_cli: Run, tmp_path: Path) -> None:
    target = tmp_path / "fresh"
    assert run_cli("init", str(target)).code == 0
    r = run_cli("policy", "test", "--repo", str(target), "--format", "json")
    assert r.code == 0, r.out + r.err
    body = json.loads(r.out)
    assert body["failed"] == 0 and body["passed"] >= 6
    case = body["cases"][0]
    assert list(case) == ["policy", "file", "name", "ok", "expected", "actual"]
    assert case["expected"] == {"status": "PENDING_APPROVAL"}
    assert case["actual"]["status"] == "PENDING_APPROVAL"


def test_policy_test_mismatch_exits_1_and_shows_expected_vs_actual(
    run_cli: Run, quickstart: Path
) -> None:
    tests = quickstart / "policies" / "tests" / "wrong.yaml"
    tests.write_text(
        "apiVersion: remediate/v1\nkind: PolicyTest\nmetadata: {name: wrong}\nspec:\n  cases:\n"
        "    - name: staging is wrongly expected to need approval\n"
        "      request:\n"
        "        action: {type: restart-service, parameters: {service: api-gateway}}\n"
        "        serviceName: api-gateway\n        environment: staging\n        severity: LOW\n"
        '      context: {now: "2026-11-23T10:00:00Z"}\n'
        "      expect: {status: PENDING_APPROVAL, violations: [nothing]}\n"
    )
    r = run_cli("policy", "test", str(tests), "--repo", str(quickstart))
    assert r.code == 1
    assert "FAIL wrong: staging is wrongly expected to need approval" in r.out
    assert "status QUEUED, expected PENDING_APPROVAL" in r.out
    assert "no violation 'nothing'" in r.out
    assert r.out.rstrip().endswith("0 passed, 1 failed")


def test_explain_finds_a_request_whose_file_has_another_name(
    run_cli: Run, quickstart: Path
) -> None:
    write_request(quickstart, "renamed-file")
    (quickstart / "remediations" / "renamed-file.yaml").rename(
        quickstart / "remediations" / "other.yaml"
    )
    r = run_cli("explain", "renamed-file", "--repo", str(quickstart), "--now", MONDAY)
    assert r.code == 0, r.err
    assert r.out.startswith("renamed-file: QUEUED (remediations/other.yaml)")


def test_policy_test_runs_on_the_projects_own_policy_library(run_cli: Run) -> None:
    """CI runs the baseline PolicyTests where they live: policies/ without action types."""
    from tests.conftest import ROOT

    r = run_cli("policy", "test", "--repo", str(ROOT), "--format", "json")
    assert r.code == 0, r.out + r.err
    assert json.loads(r.out)["failed"] == 0


def test_validate_reports_cel_errors_at_the_rules_line(run_cli: Run, quickstart: Path) -> None:
    (quickstart / "policies" / "bad.yaml").write_text(
        "apiVersion: remediate/v1\n"  # 1
        "kind: GuardrailPolicy\n"  # 2
        "metadata: {name: bad}\n"  # 3
        "spec:\n"  # 4
        "  rules:\n"  # 5
        "    - name: syntax\n"  # 6
        "      when: 'request.severity =='\n"  # 7
        "      effect: deny\n"  # 8
        "    - name: nested\n"  # 9
        "      effect: deny\n"  # 10
        "      when: |\n"  # 11
        "        request.severity == 'LOW' &&\n"  # 12
        "          request.labels.all(k, [1].exists(x, x == 1))\n"  # 13
        "    - name: second-line\n"  # 14
        "      effect: deny\n"  # 15
        "      when: |\n"  # 16
        "        request.severity == 'LOW' &&\n"  # 17
        "          request..labels\n"  # 18
    )
    r = run_cli("validate", "--repo", str(quickstart))
    assert r.code == 1
    lines = [line for line in r.err.splitlines() if line.startswith("policies/bad.yaml")]
    assert lines[0].startswith(
        "policies/bad.yaml:7: spec.rules[0].when: not a valid CEL expression: "
        "line 1 column 20: Syntax error: mismatched input '<EOF>'"
    )
    assert lines[1] == (
        "policies/bad.yaml:12: spec.rules[1].when: "
        "a comprehension inside another comprehension is not allowed"
    )
    assert lines[2].startswith(
        "policies/bad.yaml:18: spec.rules[2].when: not a valid CEL expression: line 2 column"
    )


def test_plan_base_is_never_read_as_a_git_option(
    run_cli: Run, quickstart: Path, tmp_path: Path
) -> None:
    git(quickstart, "init", "-q", "-b", "main")
    git(quickstart, "add", "-A")
    git(quickstart, "commit", "-q", "-m", "start")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    for base in (f"--output={victim}", "-p", "--no-index"):
        r = run_cli("plan", "--repo", str(quickstart), f"--base={base}", "--now", MONDAY)
        assert r.code == 2, (base, r.out, r.err)
        assert f"--base {base}: a revision cannot start with '-'" in r.err
    r = run_cli("plan", "--repo", str(quickstart), "--base", f"--output={victim}", "--now", MONDAY)
    assert r.code == 2, r.out
    assert victim.read_text() == "keep me\n"
    r = run_cli("plan", "--repo", str(quickstart), "--base", "HEAD^{tree}", "--now", MONDAY)
    assert r.code == 2
    assert "--base HEAD^{tree}: not a commit in this repository" in r.err
    r = run_cli("plan", "--repo", str(quickstart), "--base", "main", "--now", MONDAY)
    assert r.code == 0, r.err


def test_plan_explain_and_policy_test_read_the_clock_adapter(
    run_cli: Run, quickstart: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --now, the time is REMEDIATE_NOW (as for apply), else the wall clock."""
    monkeypatch.setenv("REMEDIATE_NOW", "2026-12-24T10:00:00Z")  # inside the holiday freeze
    r = run_cli("plan", "--repo", str(quickstart))
    assert r.code == 0, r.err
    assert r.out.rstrip().endswith("(as of 2026-12-24T10:00:00.000Z)")
    r = run_cli("explain", "rem-2026-0042", "--repo", str(quickstart), "--format", "json")
    assert json.loads(r.out)["status"] == "POLICY_VIOLATION"
    tests = quickstart / "policies" / "tests" / "clock.yaml"
    tests.write_text(
        "apiVersion: remediate/v1\nkind: PolicyTest\nmetadata: {name: clock}\nspec:\n  cases:\n"
        "    - name: production is frozen at the time the clock gives\n"
        "      request:\n"
        "        action: {type: restart-service, parameters: {service: api-gateway}}\n"
        "        serviceName: api-gateway\n        environment: production\n        severity: LOW\n"
        "      expect: {status: POLICY_VIOLATION, violations: [end-of-year-freeze]}\n"
    )
    r = run_cli("policy", "test", str(tests), "--repo", str(quickstart))
    assert r.code == 0, r.out


def test_markdown_is_capped_at_a_comment_body_with_a_count_of_the_rest(
    run_cli: Run, quickstart: Path
) -> None:
    """65,536 characters (a pull-request comment body; under the job summary's 1 MiB too),
    never cut inside a row or a character; the rest is named on stderr (the step's log)."""
    policy = quickstart / "policies" / "production-safety.yaml"
    doc = yaml.safe_load(policy.read_text())
    doc["spec"]["rules"][0]["message"] = "Zwei SRE-Freigaben nötig € " * 18  # 3-byte characters
    policy.write_text(yaml.safe_dump(doc, sort_keys=False))
    for i in range(150):
        write_request(quickstart, f"rem-cap-{i:03d}", environment="production", severity="HIGH")
    r = run_cli("plan", "--repo", str(quickstart), "--now", MONDAY, "--format", "markdown")
    assert r.code == 0, r.err
    assert len(r.out) <= 65536 and len(r.out.encode()) <= 1024 * 1024
    lines = r.out.splitlines()
    rows = [line for line in lines if line.startswith("| rem-")]
    assert all(row.endswith(" |") and row.count(" | ") == 3 for row in rows)
    left_out = 153 - len(rows)
    assert 0 < left_out < 153
    assert lines[-1] == f"… and {left_out} more requests: see the log of this step."
    assert r.out.endswith(".\n")
    shown = {row.split(" | ")[0][2:] for row in rows}
    named = [line.split(":")[0] for line in r.err.splitlines() if line.startswith("rem-")]
    assert len(named) == left_out and not shown & set(named)
    assert r.err.splitlines()[0] == (
        f"remediate: the markdown plan shows {len(rows)} of 153 requests"
        " (65536 characters at most); the rest:"
    )


def test_markdown_under_the_cap_is_whole(run_cli: Run, quickstart: Path) -> None:
    r = run_cli("plan", "--repo", str(quickstart), "--now", MONDAY, "--format", "markdown")
    assert r.code == 0 and r.err == ""
    assert "more request" not in r.out
    assert sum(line.startswith("| rem-") for line in r.out.splitlines()) == 3
