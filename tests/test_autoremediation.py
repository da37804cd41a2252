"""Auto-remediation on real git (a bare remote, clones, the CLI as processes):
`Settings.spec.autoRemediation` rules turn matching open findings into requests at
apply, once per finding and rule, at most `maxOpen` unfinished (racing applies too),
decided and run on the normal policy path; a finding whose request completed and that is gone
from the next import is resolved naming it; finding values stay data; validate's
messages for a bad rule."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from remediate.core import autoremediation as ar
from remediate.core import findings as fd
from remediate.core.model import ActionType, Repository, Request, Settings
from remediate.executors.base import ExecutionContext
from remediate.executors.github_pr import GitHubPullRequestExecutor
from remediate.service.autoremediation import request_spec
from tests.runner_support import (
    LOCAL_SETTINGS,
    OPERATOR,
    OPERATOR2,
    RUNNER,
    action_yaml,
    cli_env,
    clone,
    lines,
    make_remote,
    remediate,
    remote_events,
    start,
    validate_repo,
)

EVIL = "eval of $(touch PWNED) `id` {{ 7*7 }} {% raw %}; rm -rf / && echo done"

RULES = """\
  autoRemediation:
    - name: fix-eval
      match: {tools: [semgrep], rules: [py.eval], severities: [HIGH, CRITICAL]}
      request:
        action:
          type: fix
          parameters: {file: "{{ finding.location.file }}", why: "{{ finding.message }}"}
        serviceName: "{{ finding.repository }}"
        environment: staging
      maxOpen: @MAX@
"""
BAD_ENV = """\
    - name: bad-env
      match: {rules: [py.eval], severities: [HIGH]}
      request:
        action: {type: fix, parameters: {file: x, why: y}}
        serviceName: api
        environment: "{{ finding.message }}"
"""


def fix_action(log: Path) -> str:
    """Appends `<request> <file> <why>` (one line, the values as given) to `log`."""
    argv = [
        "/bin/sh",
        "-c",
        f'printf "%s|%s|%s\\n" "$1" "$2" "$3" >> {log}',
        "sh",
        "{{ request.name }}",
        "{{ parameters.file }}",
        "{{ parameters.why }}",
    ]
    extra = "  parameters:\n    type: object\n    required: [file, why]\n"
    return action_yaml("fix", argv).replace("  parameters: {type: object}\n", extra)


def result(rule: str, file: str, level: str, message: str, snippet: str) -> dict[str, Any]:
    region = {"startLine": 3, "snippet": {"text": snippet}}
    return {
        "ruleId": rule,
        "level": level,
        "message": {"text": message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": file}, "region": region}}],
    }


def sarif(tmp: Path, n: int, *results: dict[str, Any], tool: str = "semgrep") -> Path:
    log = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": tool, "rules": []}}, "results": list(results)}],
    }
    path = tmp / f"scan-{n}.sarif"
    path.write_text(json.dumps(log))
    return path


def run(repo: Path, *args: str) -> Any:
    done = remediate(repo, *args, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def import_(repo: Path, path: Path) -> dict[str, Any]:
    body: dict[str, Any] = run(repo, "import", "sarif", str(path), "--repository", "payments")
    return body


def setup(tmp: Path, decision: str, max_open: int, extra: str = "") -> tuple[Path, Path, Path]:
    log = tmp / "fixes.log"
    rules = RULES.replace("@MAX@", str(max_open)) + extra
    bare = make_remote(tmp, decision, actions={"fix": fix_action(log)}, settings_extra=rules)
    return bare, clone(tmp, bare, "ops", OPERATOR), log


def apply_json(repo: Path) -> dict[str, Any]:
    done = remediate(repo, "apply", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def made(body: dict[str, Any]) -> list[str]:
    return [c["requestId"] for c in body["created"]]


def test_a_matching_finding_becomes_one_request_at_apply_run_once_and_resolved_naming_it(
    tmp_path: Path,
) -> None:
    bare, repo, log = setup(tmp_path, "allow", 5, BAD_ENV)
    evil = result("py.eval", "app/a b;$(id).py", "error", EVIL, "eval(x)")
    ignored = [
        result("py.eval", "app/low.py", "warning", "eval, but MEDIUM", "eval(y)"),  # severity
        result("py.exec", "app/other.py", "error", "another rule", "exec(z)"),  # rule
    ]
    first = import_(repo, sarif(tmp_path, 1, evil, *ignored))
    assert set(first) == {"scans"}  # an import makes no request: the next apply does
    assert run(repo, "findings", "events", "--event-type", "remediation_requested") == {
        "events": []
    }
    found = {f["location"]["file"]: f for f in run(repo, "findings", "list")["findings"]}
    fid = found["app/a b;$(id).py"]["id"]
    name = f"fix-eval-{fid}"
    assert made(run(repo, "apply", "--dry-run", "--format", "json")) == [name]
    assert run(repo, "findings", "show", fid)["remediationId"] is None  # a dry run makes none

    # apply makes it, decides it on the normal policy path and runs it, once
    body = apply_json(repo)
    assert body["created"] == [{"requestId": name, "rule": "fix-eval"}]
    assert {"requestId": name, "status": "QUEUED"} in body["decided"]
    assert body["executed"] == [{"requestId": name, "status": "COMPLETED"}]
    # the rule whose template renders an invalid environment makes nothing, and says why
    assert body["notes"] == [
        f"auto-remediation bad-env: finding {fid}: no request: request spec.environment: "
        + json.dumps(EVIL)
        + " is not valid: character 5 is U+0020 SPACE. An environment name such as "
        "production or staging: ASCII "
        "letters, digits, dot, underscore and hyphen; compared case-insensitively."
    ]
    shown = run(repo, "findings", "show", fid)
    assert shown["remediationId"] == name and "requests" not in shown
    assert "importedBy" not in shown
    assert all(found[f]["remediationId"] is None for f in ("app/low.py", "app/other.py"))
    (event,) = run(repo, "findings", "events", "--event-type", "remediation_requested")["events"]
    assert (event["findingId"], event["details"]["remediationId"]) == (fid, name)
    assert event["details"]["request"]["requester"] == OPERATOR  # who imported
    # the request, recorded in the audit (no file), carries the finding's values as data
    spec = event["details"]["request"]["spec"]
    assert spec == {
        "action": {"type": "fix", "parameters": {"file": "app/a b;$(id).py", "why": EVIL}},
        "serviceName": "payments",
        "environment": "staging",
        "severity": "HIGH",
        "findingId": fid,
    }
    assert not (repo / "remediations").exists() or not list((repo / "remediations").iterdir())
    assert lines(log) == [f"{name}|app/a b;$(id).py|{EVIL}"]
    assert not (repo / "PWNED").exists() and not (tmp_path / "PWNED").exists()

    # a re-import and applies make no second request (one per finding and rule, ever)
    import_(repo, sarif(tmp_path, 2, evil, *ignored))
    assert made(apply_json(repo)) == []
    assert len(lines(log)) == 1
    status = run(repo, "status")
    assert {r["requestId"]: r["status"] for r in status["requests"]} == {name: "COMPLETED"}
    # gone from the next import: resolved, naming the completed request
    gone = import_(repo, sarif(tmp_path, 4, *ignored))
    assert gone["scans"][0]["resolved"] == 1
    after = run(repo, "findings", "show", fid)
    assert (after["status"], after["resolvedBy"]) == ("resolved", f"request {name}")
    (resolved,) = run(repo, "findings", "events", "--event-type", "resolved")["events"]
    assert resolved["details"]["remediationId"] == name
    # back again: reopened, and still no second request from this rule
    import_(repo, sarif(tmp_path, 5, evil, *ignored))
    assert made(apply_json(repo)) == []
    assert len(lines(log)) == 1
    verify = remediate(clone(tmp_path, bare, "check"), "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_max_open_bounds_unfinished_requests_and_the_importer_cannot_approve(
    tmp_path: Path,
) -> None:
    bare, repo, log = setup(tmp_path, "require_approval", 2)
    three = [
        result("py.eval", f"app/m{i}.py", "error", f"eval {i}", f"eval({i})") for i in (1, 2, 3)
    ]
    import_(repo, sarif(tmp_path, 1, *three))
    first = apply_json(repo)
    assert len(made(first)) == 2
    ids = sorted(f["id"] for f in run(repo, "findings", "list")["findings"])
    assert sorted(made(first)) == [f"fix-eval-{i}" for i in ids[:2]]  # by id (a tie)
    assert lines(log) == []
    status = {r["requestId"]: r["status"] for r in run(repo, "status")["requests"]}
    assert status == dict.fromkeys(made(first), "PENDING_APPROVAL")
    # unfinished: another import and apply make none
    import_(repo, sarif(tmp_path, 2, *three))
    assert made(apply_json(repo)) == []

    # who imported the findings requested their requests: any other operator approves
    chosen = made(first)[0]
    refused = remediate(repo, "approve", chosen)
    assert refused.returncode == 1
    assert f"requested {chosen} and cannot approve it" in refused.stderr
    other = clone(tmp_path, bare, "ops2", OPERATOR2)
    approved = remediate(other, "approve", chosen)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    # the apply that runs it frees its slot: the third is made in that same run
    ran = apply_json(repo)
    assert [line.split("|")[0] for line in lines(log)] == [chosen]
    assert made(ran) == [f"fix-eval-{ids[2]}"]
    assert made(apply_json(repo)) == []
    events = remote_events(tmp_path, bare)
    counted = Counter(
        e["details"]["remediationId"] for e in events if e.get("verb") == "remediation_requested"
    )
    assert counted == Counter({f"fix-eval-{i}": 1 for i in ids})
    # still requested by who imported the finding, not by the operator who ran apply
    third = f"fix-eval-{ids[2]}"
    assert "cannot approve it" in remediate(repo, "approve", third).stderr


def test_a_reimport_by_another_operator_makes_them_the_requester(tmp_path: Path) -> None:
    """An operator who re-imports a crafted log that changes a finding's values (its
    fingerprint is the scanner's to give) requests what is rendered from them: they
    cannot approve it, though another operator imported the finding first."""
    bare, repo, _log = setup(tmp_path, "require_approval", 5)
    fp = {"partialFingerprints": {"primaryLocationLineHash": "abc"}}
    harmless = {**result("py.eval", "app/x.py", "warning", "x", "x"), **fp}  # MEDIUM: no match
    import_(repo, sarif(tmp_path, 1, harmless))
    assert made(apply_json(repo)) == []
    other = clone(tmp_path, bare, "ops2", OPERATOR2)
    crafted = {**result("py.eval", "app/x.py", "error", "crafted", "x"), **fp}
    body: dict[str, Any] = run(
        other, "import", "sarif", str(sarif(tmp_path, 2, crafted)), "--repository", "payments"
    )
    assert body["scans"][0]["updated"] == 1  # same fingerprint, now HIGH
    (name,) = made(apply_json(repo))
    refused = remediate(other, "approve", name)
    assert refused.returncode == 1
    assert f"requested {name} and cannot approve it" in refused.stderr
    approved = remediate(repo, "approve", name)  # the first importer may
    assert approved.returncode == 0, approved.stderr


def test_two_applies_racing_with_max_open_1_make_one_request(tmp_path: Path) -> None:
    bare, repo, _log = setup(tmp_path, "require_approval", 1)
    three = [result("py.eval", f"app/r{i}.py", "error", f"e{i}", f"eval({i})") for i in range(3)]
    import_(repo, sarif(tmp_path, 1, *three))
    clones = [clone(tmp_path, bare, f"racer{i}", OPERATOR2) for i in range(3)]
    procs = [start(r, "apply", "--format", "json") for r in clones]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert sorted(len(json.loads(out)["created"]) for out, _ in outs) == [0, 0, 1]
    events = remote_events(tmp_path, bare)
    assert [e.get("verb") for e in events].count("remediation_requested") == 1
    decided = [e for e in events if e.get("details", {}).get("verb") == "decide"]
    assert len(decided) == 1  # and decided once
    verify = remediate(clone(tmp_path, bare, "check"), "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_crafted_finding_renders_data_never_an_option_or_a_path_outside(
    tmp_path: Path,
) -> None:
    """A finding whose file is `-oProxyCommand=…` reaches the argv item it fills and is
    refused there (the template did not put the `-`), nothing runs; a `..` path in a
    github_pr change's file path is refused by that executor (a path in the repository)."""
    _bare, repo, log = setup(tmp_path, "allow", 5)
    crafted = result("py.eval", "-oProxyCommand=touch PWNED", "error", "$(touch PWNED2)", "e")
    import_(repo, sarif(tmp_path, 1, crafted))
    done = remediate(repo, "apply", "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr  # the action failed, refused
    body = json.loads(done.stdout)
    (name,) = made(body)
    assert body["executed"] == [{"requestId": name, "status": "FAILED"}]
    (failure,) = body["failures"]
    assert "renders to '-oProxyCommand=touch PWNED'" in failure["error"], failure
    assert lines(log) == [] and not list(tmp_path.rglob("PWNED*"))

    rule = {
        "name": "fix-pr",
        "request": {
            "action": {"type": "pr", "parameters": {"file": "{{ finding.location.file }}"}},
            "serviceName": "payments",
            "environment": "staging",
        },
    }
    config = {
        "title": "fix",
        "change": {"files": [{"path": "fixes/{{ parameters.file }}", "content": "x\n"}]},
    }
    action = ActionType("pr", "github_pr", config, {}, timeout=timedelta(seconds=30))
    settings = Settings.from_spec("t", {"forge": {"type": "local"}, "autoRemediation": [rule]})
    repository = Repository(settings, {"pr": action}, (), {}, (), ())
    evil = fd.Result("semgrep", "r", "HIGH", "../../../etc/cron.d/x", 1, "m", "fp", "payments")
    finding = fd.record(evil, fd.OPEN, datetime(2026, 11, 23, tzinfo=UTC), "s1")
    (compiled,) = ar.rules_of(settings.auto_remediation)
    name = ar.request_name(compiled.name, finding["id"])
    spec = request_spec(repository, compiled, finding, name)
    assert isinstance(spec, dict) and spec["action"]["parameters"]["file"] == evil.file

    request = Request.from_spec(name, spec, None, {})
    ran = GitHubPullRequestExecutor().run(
        ExecutionContext(
            request=request,
            action=action,
            environment={"PATH": "/usr/bin:/bin"},
            allowed_environment=("PATH",),
            root=repo,
            idempotency_key=f"{name}/1",
            runner=RUNNER,
            forge={"type": "local"},
        )
    )
    assert not ran.ok and "is not a path in the repository" in (ran.error or ""), ran
    assert not (tmp_path / "etc").exists()


BAD = (
    LOCAL_SETTINGS
    + """\
  autoRemediation:
    - name: fix-eval
      request:
        action: {type: nope, parameters: {file: "{{ finding.location.file }}"}}
        serviceName: "{{ request.serviceName }}"
        environment: "prod eu"
        severity: "{{ finding.severity"
    - name: fix-eval
      request:
        action: {type: fix, parameters: {}}
        serviceName: api
        environment: staging
        severity: SEVERE
"""
)


def test_validate_names_each_problem_of_a_bad_rule(tmp_path: Path) -> None:
    repo = validate_repo(tmp_path, {"actions/fix.yaml": fix_action(tmp_path / "log")}, BAD)
    done = remediate(repo, "validate", env=cli_env())
    assert done.returncode == 1
    got = (done.stdout + done.stderr).splitlines()
    assert got[3].startswith(
        "remediate.yaml:12: spec.autoRemediation[0].request.severity: template syntax error: "
    )
    got[3] = got[3][: got[3].index("error: ") + 7] + "(jinja2's words)"
    assert got == [
        "remediate.yaml:9: spec.autoRemediation[0].request.action.type: unknown action type "
        "'nope' (known: fix)",
        "remediate.yaml:10: spec.autoRemediation[0].request.serviceName: template reads "
        "request; it may read only finding",
        'remediate.yaml:11: spec.autoRemediation[0].request.environment: "prod eu" is not '
        "valid: character 5 is U+0020 SPACE. An environment name such as production or "
        "staging: ASCII letters, digits, dot, underscore and hyphen; compared "
        "case-insensitively.",
        "remediate.yaml:12: spec.autoRemediation[0].request.severity: template syntax error: "
        "(jinja2's words)",
        "remediate.yaml:13: spec.autoRemediation[1].name: duplicate rule name 'fix-eval' "
        "(first at spec.autoRemediation[0])",
        "remediate.yaml:15: spec.autoRemediation[1].request.action.parameters: missing "
        "required key 'file' (parameters of action type 'fix')",
        "remediate.yaml:15: spec.autoRemediation[1].request.action.parameters: missing "
        "required key 'why' (parameters of action type 'fix')",
        'remediate.yaml:18: spec.autoRemediation[1].request.severity: "SEVERE" is not one '
        "of: LOW, MEDIUM, HIGH, CRITICAL",
        "8 error(s) in 2 files",
    ]
