"""Follow-up requests on real git (a bare remote, clones, the CLI as processes): a
GuardrailPolicy `followUps` rule turns the result of a request it matches into one
request named `<rule>-<request id>`, recorded in the audit (no file) with the outcome,
on the normal policy path. The contract's pattern end to end: a Schedule fires a
`cert_check` of an expiring certificate (generated with `cryptography`, no network),
it FAILS naming minDaysRemaining, apply makes the renewal request, which needs an
approval that its requester (who added the schedule) cannot give, and then runs once.
Then the attacks: a rule that would follow up its own follow-ups, a cancelled
request, argv injection through a rendered value, a rendered request that would not
validate, two applies racing, and validate's messages."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.runner_support import (
    OPERATOR,
    OPERATOR2,
    action_yaml,
    clone,
    commit_schedules,
    lines,
    make_remote,
    remediate,
    remediation_job,
    remote_events,
    schedule_yaml,
    start,
    stream_events,
    validate_repo,
)

TICK_AT = "2026-11-23T10:10:00Z"  # the hourly schedule below fires at 10:00Z


def certificate(path: Path, days: float) -> None:
    """A self-signed EC certificate for api.example.test, valid for `days` more days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=80))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.example.test")]), False)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def check_action(pem: Path) -> str:
    return (
        "apiVersion: remediate/v1\nkind: ActionType\nmetadata: {name: check-edge-cert}\n"
        "spec:\n  parameters: {type: object}\n  executor:\n    cert_check:\n"
        f"      source: {{file: {pem}}}\n      policy: {{minDaysRemaining: 30}}\n"
        "  timeout: 30s\n"
    )


def renew_action(log: Path, argv_tail: list[str] | None = None) -> str:
    """The renewal stand-in: appends `<request> <host>` to `log` (or runs `argv_tail`)."""
    argv = argv_tail or [
        "/bin/sh",
        "-c",
        f'printf "%s %s\\n" "$1" "$2" >> {log}',
        "sh",
        "{{ request.name }}",
        "{{ parameters.host }}",
    ]
    extra = (
        "  parameters:\n    type: object\n    required: [host]\n"
        "    properties: {host: {type: string}}\n"
    )
    return action_yaml("renew-edge-cert", argv).replace("  parameters: {type: object}\n", extra)


CHECKS = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: certificate-checks}
spec:
  match: {actionTypes: [check-edge-cert]}
  rules:
    - {name: checks-run, effect: allow}
  followUps:
    - name: renew
      when: '"minDaysRemaining" in result.failed'
      request:
        action:
          type: renew-edge-cert
          parameters: {host: "{{ request.action.parameters.host }}"}
        serviceName: "{{ request.serviceName }}"
        environment: "{{ request.environment }}"
        severity: MEDIUM
"""
RENEWALS = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: certificate-renewals}
spec:
  match: {actionTypes: [renew-edge-cert]}
  rules:
    - name: renewals-need-an-sre
      effect: require_approval
      approvals: {min: 1, from: ["team:sre"]}
"""
SCHEDULE = schedule_yaml(
    "edge-cert",
    remediation_job("check-edge-cert", "edge", "production", parameters="{host: @HOST@}"),
)
FIRE = "edge-cert-20261123T1000Z"


def add_schedule(tmp: Path, bare: Path, host: str = "api.example.test") -> None:
    """The schedule, added by OPERATOR (an operator: the requester of its fires)."""
    schedule = {"edge-cert": SCHEDULE.replace("@HOST@", host)}
    commit_schedules(tmp, bare, schedule, "2026-11-23T08:30:00Z", who=OPERATOR)


def renewal_remote(
    tmp: Path,
    checks: str = CHECKS,
    days: float = 10,
    requests: dict[str, str] | None = None,
    **kw: Any,
) -> tuple[Path, Path]:
    """The remote of the checks and renewals: a certificate valid for `days` more days,
    the two action types (the renewal appends to the log), the two policies, and
    `requests`; (the bare remote, the renewals' log)."""
    pem, log = tmp / "edge.pem", tmp / "renewals.log"
    certificate(pem, days)
    actions = {"check-edge-cert": check_action(pem), "renew-edge-cert": renew_action(log, **kw)}
    policies = {"certificate-checks": checks, "certificate-renewals": RENEWALS}
    bare = make_remote(
        tmp, "require_approval", actions=actions, policies=policies, requests=requests
    )
    return bare, log


def setup(
    tmp: Path, checks: str = CHECKS, days: float = 10, host: str = "api.example.test", **kw: Any
) -> tuple[Path, Path, Path]:
    bare, log = renewal_remote(tmp, checks, days, **kw)
    add_schedule(tmp, bare, host)
    return bare, clone(tmp, bare, "runner", OPERATOR2), log


def apply(repo: Path, code: int = 0) -> dict[str, Any]:
    done = remediate(repo, "apply", "--format", "json", now=TICK_AT)
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def tick(repo: Path) -> None:
    done = remediate(repo, "tick", now=TICK_AT)
    assert done.returncode == 0, done.stdout + done.stderr


def follow_up_events(tmp: Path, bare: Path) -> list[dict[str, Any]]:
    return stream_events(tmp, bare, "followups")


def test_a_failing_scheduled_check_becomes_a_renewal_that_needs_an_approval(
    tmp_path: Path,
) -> None:
    bare, repo, log = setup(tmp_path)
    tick(repo)
    ran = apply(repo, code=1)  # the check failed: the user must act
    assert ran["executed"] == [{"requestId": FIRE, "status": "FAILED"}]
    renewal = f"renew-{FIRE}"
    assert ran["created"] == [{"requestId": renewal, "rule": "renew"}]
    assert {"requestId": renewal, "status": "PENDING_APPROVAL"} in ran["decided"]
    (made,) = follow_up_events(tmp_path, bare)
    assert (made["subject"], made["verb"], made["details"]["status"]) == (
        FIRE,
        "requested",
        "FAILED",
    )
    assert made["details"]["request"] == {
        "name": renewal,
        "rule": "renew",
        "policy": "certificate-checks",
        "trigger": FIRE,
        "requester": OPERATOR,  # who added the schedule
        "spec": {
            "action": {"type": "renew-edge-cert", "parameters": {"host": "api.example.test"}},
            "serviceName": "edge",
            "environment": "production",
            "severity": "MEDIUM",
        },
    }
    outcome = next(
        e
        for e in remote_events(tmp_path, bare)
        if e.get("requestId") == FIRE and e["to"] == "FAILED"
    )
    assert outcome["details"]["failed"] == ["minDaysRemaining"]
    # made in the same commit as the outcome it follows
    assert not (repo / "remediations").exists()
    explained = remediate(repo, "explain", renewal, now=TICK_AT)
    assert explained.returncode == 0 and "PENDING_APPROVAL" in explained.stdout, explained.stderr

    # its requester (who added the schedule) cannot approve the follow-up of their request
    mine = clone(tmp_path, bare, "ops", OPERATOR)
    refused = remediate(mine, "approve", renewal)
    assert refused.returncode == 1
    assert f"requested {renewal} and cannot approve it" in refused.stderr
    assert apply(repo)["executed"] == []
    approved = remediate(repo, "approve", renewal)  # another SRE
    assert approved.returncode == 0, approved.stdout + approved.stderr
    done = apply(repo)
    assert done["executed"] == [{"requestId": renewal, "status": "COMPLETED"}]
    assert lines(log) == [f"{renewal} api.example.test"]
    assert apply(repo)["created"] == [] and len(lines(log)) == 1
    assert len(follow_up_events(tmp_path, bare)) == 1
    verify = remediate(clone(tmp_path, bare, "check"), "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_passing_check_makes_no_renewal(tmp_path: Path) -> None:
    bare, repo, _log = setup(tmp_path, days=80)
    tick(repo)
    ran = apply(repo)
    assert ran["executed"] == [{"requestId": FIRE, "status": "COMPLETED"}]
    assert ran["created"] == [] and follow_up_events(tmp_path, bare) == []


EVERYTHING = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: certificate-checks}
spec:
  rules:
    - {name: everything-runs, effect: allow}
  followUps:
    - name: again
      request:
        action: {type: renew-edge-cert, parameters: {host: "x{{ request.name }}"}}
        serviceName: edge
        environment: production
"""


def test_a_rule_matching_its_own_follow_ups_makes_one_generation(tmp_path: Path) -> None:
    """The rule matches every request and fires on every failure, its follow-up fails
    too: one follow-up, never a follow-up of the follow-up."""
    bare, repo, _log = setup(tmp_path, checks=EVERYTHING, argv_tail=["/bin/false"])
    renewal = f"again-{FIRE}"
    tick(repo)
    first = apply(repo, code=1)
    assert [c["requestId"] for c in first["created"]] == [renewal]
    approved = remediate(repo, "approve", renewal)
    assert approved.returncode == 0, approved.stderr
    second = apply(repo, code=1)
    assert second["executed"] == [{"requestId": renewal, "status": "FAILED"}]
    assert second["created"] == []
    for _ in range(2):
        assert apply(repo)["created"] == []
    assert Counter(e["subject"] for e in follow_up_events(tmp_path, bare)) == Counter({FIRE: 1})


def test_a_cancelled_request_makes_no_follow_up(tmp_path: Path) -> None:
    always = CHECKS.replace(
        "      when: '\"minDaysRemaining\" in result.failed'\n", "      on: [FAILED, COMPLETED]\n"
    )
    always = always.replace(
        "    - {name: checks-run, effect: allow}\n",
        "    - {name: checks-wait, effect: require_approval, approvals: {min: 1, from: [team:sre]}}\n",
    )
    bare, repo, _log = setup(tmp_path, checks=always)
    tick(repo)
    assert apply(repo)["created"] == []
    cancelled = remediate(clone(tmp_path, bare, "ops", OPERATOR), "cancel", FIRE)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert apply(repo)["created"] == []
    assert follow_up_events(tmp_path, bare) == []


def test_a_rendered_value_is_data_never_an_option_or_a_shell(tmp_path: Path) -> None:
    host = "-oProxyCommand=touch PWNED;$(touch PWNED2)"
    argv = ["/usr/bin/env", "{{ parameters.host }}"]
    bare, repo, _log = setup(tmp_path, host=json.dumps(host), argv_tail=argv)
    tick(repo)
    renewal = f"renew-{FIRE}"
    assert [c["requestId"] for c in apply(repo, code=1)["created"]] == [renewal]
    (made,) = follow_up_events(tmp_path, bare)
    assert made["details"]["request"]["spec"]["action"]["parameters"] == {"host": host}
    assert remediate(repo, "approve", renewal).returncode == 0
    ran = apply(repo, code=1)
    assert ran["executed"] == [{"requestId": renewal, "status": "FAILED"}]
    (failure,) = ran["failures"]
    assert f"renders to {host[:20]!r}"[:-1] in failure["error"], failure
    assert not list(tmp_path.rglob("PWNED*"))


def test_a_follow_up_that_would_not_validate_is_not_made_and_apply_says_why(
    tmp_path: Path,
) -> None:
    bad = CHECKS.replace(
        'environment: "{{ request.environment }}"', 'environment: "{{ result.error }}"'
    )
    bare, repo, _log = setup(tmp_path, checks=bad)
    tick(repo)
    ran = apply(repo, code=1)
    assert ran["created"] == []
    (note,) = ran["notes"]
    assert note.startswith(
        f"follow-up renew of {FIRE}: no request: request spec.environment: "
        '"1 check(s) failed: minDaysRemaining: '
    )
    assert follow_up_events(tmp_path, bare) == []
    text = remediate(repo, "apply", now=TICK_AT)
    assert "Traceback" not in text.stderr


def test_two_applies_racing_make_one_follow_up(tmp_path: Path) -> None:
    bare, repo, _log = setup(tmp_path)
    tick(repo)
    clones = [clone(tmp_path, bare, f"racer{i}", OPERATOR2) for i in range(3)]
    procs = [start(c, "apply", "--format", "json", now=TICK_AT) for c in clones]
    outs = [p.communicate(timeout=180) for p in procs]
    made = sorted(len(json.loads(out)["created"]) for out, _ in outs)
    assert made == [0, 0, 1], outs
    assert len(follow_up_events(tmp_path, bare)) == 1


BAD = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: a-checks}
spec:
  followUps:
    - name: renew
      when: 'result.failed.exists(c, c == '
      request:
        action: {type: nope, parameters: {}}
        serviceName: "{{ finding.repository }}"
        environment: production
    - name: renew
      request:
        action: {type: renew-edge-cert, parameters: {host: a}}
        serviceName: edge
        environment: production
---
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: b-checks}
spec:
  followUps:
    - name: renew
      when: 'finding.x == 1'
      request:
        action: {type: renew-edge-cert, parameters: {}}
        serviceName: edge
        environment: prod eu
---
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: c-checks}
spec:
  followUps:
    - name: on-cancel
      on: [CANCELLED]
      request:
        action: {type: renew-edge-cert, parameters: {host: a}}
        serviceName: edge
        environment: production
"""


def test_validate_names_each_problem_of_a_follow_up_rule(tmp_path: Path) -> None:
    policies = {f"policies/{n}.yaml": t for n, t in zip("abc", BAD.split("---\n"), strict=True)}
    repo = validate_repo(
        tmp_path, {"actions/renew.yaml": renew_action(tmp_path / "log"), **policies}
    )
    done = remediate(repo, "validate")
    assert done.returncode == 1
    got = [line for line in (done.stdout + done.stderr).splitlines() if line]
    cel = next(g for g in got if g.startswith("policies/a.yaml:7: spec.followUps[0].when: "))
    got.remove(cel)
    assert cel.startswith("policies/a.yaml:7: spec.followUps[0].when: not a valid CEL expression")
    assert got == [
        "policies/a.yaml:9: spec.followUps[0].request.action.type: unknown action type 'nope' "
        "(known: renew-edge-cert)",
        "policies/a.yaml:10: spec.followUps[0].request.serviceName: template reads finding; "
        "it may read only request, result",
        "policies/a.yaml:12: spec.followUps[1].name: duplicate follow-up name 'renew' (first at "
        "spec.followUps[0])",
        "policies/b.yaml:6: spec.followUps[0].name: duplicate follow-up name 'renew' (a "
        "follow-up of policy 'a-checks' too): it names requests",
        "policies/b.yaml:7: spec.followUps[0].when: unknown variable 'finding' (a condition can "
        "read request, result and now)",
        "policies/b.yaml:9: spec.followUps[0].request.action.parameters: missing required key "
        "'host' (parameters of action type 'renew-edge-cert')",
        'policies/b.yaml:11: spec.followUps[0].request.environment: "prod eu" is not valid: '
        "character 5 is U+0020 SPACE. An environment name such as production or staging: ASCII "
        "letters, digits, dot, underscore and hyphen; compared case-insensitively.",
        'policies/c.yaml:7: spec.followUps[0].on[0]: "CANCELLED" is not one of: FAILED, COMPLETED',
        "9 error(s) in 5 files",  # (the CEL error too; files: with settings and action)
    ]


_REQUEST = (
    "{action: {type: renew-edge-cert, parameters: {host: a}}, serviceName: e, environment: p}"
)
OVERLAP = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: a-checks}
spec:
  followUps:
    - name: renew
      request: @REQUEST@
    - name: renewal
      request: @REQUEST@
    - name: page.renew
      request: @REQUEST@
    - name: renew-edge
      request: @REQUEST@
---
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: b-checks}
spec:
  followUps:
    - name: renew-edge-cert
      request: @REQUEST@
""".replace("@REQUEST@", _REQUEST)


def test_validate_rejects_follow_up_names_whose_requests_can_collide(tmp_path: Path) -> None:
    """`renew` of request `edge-x` and `renew-edge` of request `x` would both make
    `renew-edge-x`: every follow-up name that is another's followed by `-` is an error
    at the longer one, naming the shorter (in its policy or another). `renewal` and
    `page.renew` cannot collide with `renew` (no `-` after it): valid."""
    policies = {f"policies/{n}.yaml": t for n, t in zip("ab", OVERLAP.split("---\n"), strict=True)}
    repo = validate_repo(
        tmp_path, {"actions/renew.yaml": renew_action(tmp_path / "log"), **policies}
    )
    done = remediate(repo, "validate")
    assert done.returncode == 1, done.stdout + done.stderr
    got = [line for line in (done.stdout + done.stderr).splitlines() if line]
    assert got == [
        "policies/a.yaml:12: spec.followUps[3].name: follow-up names 'renew-edge' and 'renew' "
        "(policies/a.yaml:6) can name the same request: 'renew-edge' of request 'X' and "
        "'renew' of request 'edge-X' both make 'renew-edge-X'; rename one so that neither "
        "is the other followed by '-'",
        "policies/b.yaml:6: spec.followUps[0].name: follow-up names 'renew-edge-cert' and "
        "'renew' (policies/a.yaml:6 of policy 'a-checks') can name the same request: "
        "'renew-edge-cert' of request 'X' and 'renew' of request 'edge-cert-X' both make "
        "'renew-edge-cert-X'; rename one so that neither is the other followed by '-'",
        "policies/b.yaml:6: spec.followUps[0].name: follow-up names 'renew-edge-cert' and "
        "'renew-edge' (policies/a.yaml:12 of policy 'a-checks') can name the same request: "
        "'renew-edge-cert' of request 'X' and 'renew-edge' of request 'cert-X' both make "
        "'renew-edge-cert-X'; rename one so that neither is the other followed by '-'",
        "3 error(s) in 4 files",
    ]
    json_done = remediate(repo, "validate", "--format", "json")
    assert json_done.returncode == 1
    assert [(e["file"], e["line"]) for e in json.loads(json_done.stdout)["errors"]] == [
        ("policies/a.yaml", 12),
        ("policies/b.yaml", 6),
        ("policies/b.yaml", 6),
    ]
