"""Overrides lift only the violations they were given for: engine, audit, runner, policy tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from remediate.core.audit import Event, fold
from remediate.core.decision import Approval, Execution
from tests.conftest import Result
from tests.policy_helpers import NOW, context, decide, policies, policy, request
from tests.runner_support import OPERATOR, action_yaml, clone, git, make_remote, remote_events
from tests.runner_support import request_yaml as runner_request

Run = Callable[..., Result]

FREEZE = {
    "name": "freeze",
    "effect": "deny",
    "overridable": True,
    "when": 'now >= timestamp("2026-12-20T00:00:00Z")',
    "message": "Holiday change freeze",
}


def guarded():  # type: ignore[no-untyped-def]
    return policies(
        policy(
            "prod",
            blockedEnvironments=["production"],
            rules=[FREEZE],
            rateLimit={"max": 1, "per": "1h"},
        )
    )


def blocked_override() -> Approval:
    return Approval(
        "carol@example.com",
        reason="outage, rollback failed",
        override=True,
        lifts=("prod/blockedEnvironments",),
    )


def test_an_override_lifts_only_the_violations_it_was_given_for() -> None:
    ps = guarded()
    now = decide(request(), ps, context(approvals=(blocked_override(),)))
    assert now.status == "QUEUED"
    assert [v.rule for v in now.overridden] == ["blockedEnvironments"]
    # later the freeze starts: the override was not given for it
    frozen = context(now=NOW + timedelta(days=30), approvals=(blocked_override(),))
    later = decide(request(), ps, frozen)
    assert later.status == "POLICY_VIOLATION"
    assert [v.rule for v in later.violations] == ["freeze"]
    assert [v.rule for v in later.overridden] == ["blockedEnvironments"]
    # or the rate limit is reached: not lifted either
    ran = (Execution(at=NOW - timedelta(minutes=5), service_name="api-gateway"),)
    limited = decide(request(), ps, context(approvals=(blocked_override(),), executions=ran))
    assert limited.status == "POLICY_VIOLATION"
    assert [v.rule for v in limited.violations] == ["rateLimit"]


def test_an_override_naming_no_violation_lifts_nothing_but_still_approves() -> None:
    ps = policies(
        policy(
            "prod",
            blockedEnvironments=["production"],
            rules=[{"name": "one", "effect": "require_approval", "approvals": {"min": 1}}],
        )
    )
    bare = Approval("carol@example.com", reason="please", override=True)
    d = decide(request(), ps, context(approvals=(bare,)))
    assert d.status == "POLICY_VIOLATION"
    assert d.overridden == ()
    d = decide(request(environment="staging"), ps, context(approvals=(bare,)))
    assert d.status == "QUEUED"  # it still counts as that operator's approval


def test_an_override_never_lifts_a_violation_that_is_not_overridable() -> None:
    ps = policies(policy("p", rules=[{"name": "hard", "effect": "deny"}]))
    forced = Approval("carol@example.com", reason="x", override=True, lifts=("p/hard",))
    assert decide(request(), ps, context(approvals=(forced,))).status == "POLICY_VIOLATION"


def event(n: int, frm: str, to: str, details: dict[str, object]) -> Event:
    return Event(
        id=f"e{n}",
        at=f"2026-11-23T10:0{n}:00.000Z",
        request_id="rem-1",
        from_=frm,
        to=to,
        actor=OPERATOR if details.get("verb") == "approve" else "bot@example.com",
        details=details,
    )


def chain(approve: dict[str, object]) -> tuple[Approval, ...]:
    events = [
        event(1, "NEW", "POLICY_VIOLATION", {"verb": "decide", "contentHash": "sha256:c"}),
        event(2, "POLICY_VIOLATION", "QUEUED", {"verb": "approve", **approve}),
    ]
    prev = None
    linked = []
    for e in events:
        e = Event(**{**e.__dict__, "prev": prev})
        linked.append(e)
        prev = e.hash
    return fold(linked)["rem-1"].approvals


def test_the_audit_rebuilds_what_an_override_lifts() -> None:
    approval = {
        "by": OPERATOR,
        "contentHash": "sha256:c",
        "reason": "r",
        "override": True,
        "lifts": ["prod/blockedEnvironments"],
    }
    (rebuilt,) = chain({"approval": approval, "violations": ["whatever"]})
    assert rebuilt.override and rebuilt.lifts == ("prod/blockedEnvironments",)


def test_old_override_events_lift_only_the_violations_they_list() -> None:
    approval = {"by": OPERATOR, "contentHash": "sha256:c", "reason": "r", "override": True}
    old_messages = [
        "Environment production is blocked from automated remediation. "
        "Policy match: prod blockedEnvironments includes production.",
        "Holiday change freeze. Policy match: prod rule freeze "
        "(overridable by an operator with a reason).",
        "No changes. Policy match: other rule no-changes.",
        "Rate limit reached: 1 of 1 executions for all matching requests in the last 1h. "
        "Policy match: prod rateLimit allows 1 per 1h.",
    ]
    (rebuilt,) = chain({"approval": approval, "violations": old_messages})
    assert rebuilt.lifts == (
        "prod/blockedEnvironments",
        "prod/freeze",
        "other/no-changes",
        "prod/rateLimit",
    )
    (bare,) = chain({"approval": approval})  # no violations recorded: lifts nothing
    assert bare.override and bare.lifts == ()
    (odd,) = chain({"approval": approval, "violations": ["something else", 7]})
    assert odd.lifts == ()


BLOCKED_AND_FROZEN = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: global}
spec:
  blockedEnvironments: [production]
  rules:
    - name: freeze
      effect: deny
      overridable: true
      when: 'now >= timestamp("2026-12-20T00:00:00Z")'
      message: Holiday change freeze
"""


def test_runner_records_what_an_override_lifts_and_a_later_freeze_still_blocks(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEDIATE_NOW", "2026-11-23T10:00:00Z")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    log = tmp_path / "executions.log"
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        "allow",
        actions={"noop": action_yaml("noop", argv)},
        requests={"rem-1": runner_request("rem-1", env="production")},
        policies={"global": BLOCKED_AND_FROZEN},
    )
    repo = clone(tmp_path, bare, "work")
    git(repo, "config", "user.email", OPERATOR)
    from remediate.service import verbs
    from remediate.service.apply import apply
    from tests.sessions import session

    # the runner's clock, injected through the Clock port (REMEDIATE_NOW never sets it)
    before, frozen = "2026-11-23T10:00:00Z", "2026-12-21T10:00:00Z"
    assert not apply(session(repo, now=before), OPERATOR).failed
    refused = verbs.approve(session(repo, now=before), "rem-1", None)
    assert refused.violations == ["Environment production is blocked from automated remediation."]
    done = verbs.approve(session(repo, now=before), "rem-1", "outage")
    assert done.status == "QUEUED"
    (approve,) = [e for e in remote_events(tmp_path, bare) if e["details"].get("verb") == "approve"]
    assert approve["details"]["approval"]["lifts"] == ["global/blockedEnvironments"]
    assert approve["details"]["violations"] == [
        "Environment production is blocked from automated remediation."
    ]
    assert not apply(session(repo, now=frozen), OPERATOR).failed  # the freeze has started
    assert not log.exists()
    status = run_cli(
        "explain", "rem-1", "--repo", str(repo), "--now", "2026-12-21T10:00:00Z", "--format", "json"
    )
    body = json.loads(status.out)
    assert body["status"] == "POLICY_VIOLATION", body
    assert body["violations"] == ["Holiday change freeze."]


POLICY_TEST = """\
apiVersion: remediate/v1
kind: PolicyTest
metadata: {name: overrides}
spec:
  cases:
    - name: an override lifts what is violated when it is given
      request:
        action: {type: restart-service, parameters: {service: api-gateway}}
        serviceName: api-gateway
        environment: prod-eu-legacy
        severity: LOW
      context:
        now: "2026-11-23T10:00:00Z"
        approvals: [{by: bob@example.com, reason: outage, override: true}]
      expect: {status: QUEUED}
"""


def test_policy_test_overrides_lift_the_violations_present_then(
    run_cli: Run, quickstart: Path
) -> None:
    path = quickstart / "policies" / "tests" / "overrides.yaml"
    path.write_text(POLICY_TEST)
    r = run_cli("policy", "test", str(path), "--repo", str(quickstart), "--format", "json")
    assert r.code == 0, r.out + r.err
    (case,) = json.loads(r.out)["cases"]
    assert "Operator override by bob@example.com (reason: outage) lifts" in case["actual"]["detail"]
