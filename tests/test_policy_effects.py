"""Effects, their precedence, defaults, blocked environments, overrides, exceptions."""

from __future__ import annotations

from datetime import timedelta

from remediate.core.decision import Approval
from tests.policy_helpers import NOW, context, decide, policies, policy, request

PROD = {"environments": ["production"]}


def test_deny_rule_is_a_policy_violation_with_an_exact_sentence() -> None:
    ps = policies(
        policy(
            "freeze",
            match=PROD,
            rules=[{"name": "no-friday", "effect": "deny", "message": "No changes on Fridays."}],
        )
    )
    d = decide(request(), ps)
    assert d.status == "POLICY_VIOLATION"
    assert d.detail == "No changes on Fridays. Policy match: freeze rule no-friday."
    assert d.policies == ("freeze",)
    assert d.rules == ("freeze/no-friday",)
    assert [v.rule for v in d.violations] == ["no-friday"]


def test_blocked_environment_sentence_in_the_products_style() -> None:
    ps = policies(policy("global", blockedEnvironments=["production"]))
    d = decide(request(), ps)
    assert d.status == "POLICY_VIOLATION"
    assert d.detail == (
        "Environment production is blocked from automated remediation. "
        "Policy match: global blockedEnvironments includes production."
    )
    assert d.rules == ("global/blockedEnvironments",)
    assert d.violations[0].overridable


def test_require_approval_is_pending_and_names_who_can_approve() -> None:
    ps = policies(
        policy(
            "prod",
            match=PROD,
            rules=[
                {
                    "name": "two-sre",
                    "effect": "require_approval",
                    "approvals": {"min": 2, "from": ["team:sre"]},
                    "message": "Two SREs",
                }
            ],
        )
    )
    d = decide(request(), ps)
    assert d.status == "PENDING_APPROVAL"
    assert d.approvals_required == 2
    assert d.approvers == ("team:sre",)
    assert d.detail == (
        "Needs 2 more approvals from team:sre: Two SREs. Policy match: prod rule two-sre."
    )
    assert d.as_json()["approvalsRequired"] == 2


def test_allow_is_queued() -> None:
    ps = policies(policy("dev", rules=[{"name": "ok", "effect": "allow"}]))
    d = decide(request(environment="dev"), ps, context(default="deny"))
    assert d.status == "QUEUED"
    assert d.detail == "Allowed. Policy match: dev rule ok."
    assert d.not_before is None


def test_deny_beats_require_approval_beats_allow() -> None:
    rules = [
        {"name": "a", "effect": "allow"},
        {"name": "r", "effect": "require_approval", "approvals": {"min": 1, "from": ["*"]}},
        {"name": "d", "effect": "deny"},
    ]
    assert decide(request(), policies(policy("p", rules=rules))).status == "POLICY_VIOLATION"
    assert decide(request(), policies(policy("p", rules=rules[:2]))).status == "PENDING_APPROVAL"
    assert decide(request(), policies(policy("p", rules=rules[:1]))).status == "QUEUED"
    # across policies too: an allow in one policy does not lift a deny in another
    ps = policies(policy("a", rules=rules[:1]), policy("b", rules=rules[2:]))
    d = decide(request(), ps)
    assert d.status == "POLICY_VIOLATION"
    assert d.rules == ("a/a", "b/d")


def test_default_decision_applies_when_no_rule_yields_an_effect() -> None:
    ps = policies(
        policy("p", rules=[{"name": "never", "when": "false", "effect": "allow"}]),
    )
    assert decide(request(), ps, context(default="allow")).status == "QUEUED"
    assert decide(request(), ps, context(default="deny")).status == "POLICY_VIOLATION"
    pending = decide(request(), ps, context(default="require_approval"))
    assert pending.status == "PENDING_APPROVAL"
    assert pending.rules == ("settings/defaultDecision",)
    assert pending.approvers == ("team:sre",)
    assert pending.detail == (
        "Needs 1 more approval from team:sre: "
        "No policy rule decided this request; Settings defaultDecision requires approval."
    )
    denied = decide(request(), policies(), context(default="deny"))
    assert denied.detail == "No policy matches this request and Settings defaultDecision is deny."
    assert denied.rules == ("settings/defaultDecision",)


def test_no_policy_matches_uses_the_default() -> None:
    ps = policies(policy("p", match={"environments": ["staging"]}))
    d = decide(request(), ps, context(default="allow"))
    assert d.status == "QUEUED"
    assert d.policies == ()
    assert d.detail == "No policy matches this request; Settings defaultDecision is allow."


def test_rate_limit_or_window_only_policy_keeps_a_require_approval_default() -> None:
    ps = policies(
        policy("limit", rateLimit={"max": 5, "per": "1h"}),
        policy(
            "windows", changeWindows=[{"cron": "0 9 * * *", "duration": "8h", "timezone": "UTC"}]
        ),
    )
    d = decide(request(), ps, context(default="require_approval"))
    assert d.status == "PENDING_APPROVAL"
    assert d.policies == ("limit", "windows")


def test_override_by_operator_with_reason_lifts_blocked_and_counts_as_approval() -> None:
    ps = policies(
        policy(
            "prod",
            match=PROD,
            blockedEnvironments=["production"],
            rules=[
                {
                    "name": "one-sre",
                    "effect": "require_approval",
                    "approvals": {"min": 1, "from": ["team:sre"]},
                }
            ],
        )
    )
    override = Approval(
        "carol@example.com",
        reason="outage, rollback failed",
        override=True,
        lifts=("prod/blockedEnvironments",),
    )
    d = decide(request(), ps, context(approvals=(override,)))
    assert d.status == "QUEUED"
    assert [v.rule for v in d.overridden] == ["blockedEnvironments"]
    assert d.violations == ()
    assert "Operator override by carol@example.com (reason: outage, rollback failed)" in d.detail


def test_override_without_reason_or_by_non_operator_or_requester_does_not_lift() -> None:
    ps = policies(policy("prod", blockedEnvironments=["production"]))
    lifts = ("prod/blockedEnvironments",)
    cases = [
        Approval("carol@example.com", reason="  ", override=True, lifts=lifts),
        Approval("mallory@example.com", reason="trust me", override=True, lifts=lifts),
        Approval("bob@example.com", reason="mine", override=True, lifts=lifts),
    ]
    for approval in cases:
        d = decide(request(), ps, context(requester="bob@example.com", approvals=(approval,)))
        assert d.status == "POLICY_VIOLATION", approval


def test_non_overridable_deny_survives_an_override() -> None:
    ps = policies(
        policy(
            "p",
            blockedEnvironments=["production"],
            rules=[
                {"name": "hard", "effect": "deny"},
                {"name": "soft", "effect": "deny", "overridable": True},
            ],
        )
    )
    everything = ("p/blockedEnvironments", "p/hard", "p/soft")
    override = Approval("carol@example.com", reason="needed", override=True, lifts=everything)
    d = decide(request(), ps, context(approvals=(override,)))
    assert d.status == "POLICY_VIOLATION"
    assert [v.rule for v in d.violations] == ["hard"]
    assert {v.rule for v in d.overridden} == {"blockedEnvironments", "soft"}


def test_override_lifts_violation_but_other_approval_rules_still_apply() -> None:
    ps = policies(
        policy(
            "p",
            rules=[
                {"name": "soft", "effect": "deny", "overridable": True},
                {
                    "name": "two",
                    "effect": "require_approval",
                    "approvals": {"min": 2, "from": ["team:sre"]},
                },
            ],
        )
    )
    override = Approval("carol@example.com", reason="needed", override=True, lifts=("p/soft",))
    d = decide(request(), ps, context(approvals=(override,)))
    assert d.status == "PENDING_APPROVAL"
    assert d.approvals_required == 1


def test_exception_exempts_until_it_expires() -> None:
    expires = NOW + timedelta(hours=1)
    ps = policies(
        policy(
            "prod",
            blockedEnvironments=["production"],
            exceptions=[
                {
                    "name": "migration",
                    "owner": "alice@example.com",
                    "reason": "planned migration",
                    "expires": expires.isoformat(),
                    "services": ["api-*"],
                }
            ],
        )
    )
    before = decide(request(), ps, context(now=expires - timedelta(seconds=1)))
    assert before.status == "QUEUED"
    assert before.policies == ()
    assert (
        "Exempt from policy prod by exception migration (owner alice@example.com" in before.detail
    )
    assert decide(request(), ps, context(now=expires)).status == "POLICY_VIOLATION"
    assert decide(request(service="billing"), ps).status == "POLICY_VIOLATION"


def test_exception_by_request_name() -> None:
    ps = policies(
        policy(
            "prod",
            blockedEnvironments=["production"],
            exceptions=[
                {
                    "owner": "alice@example.com",
                    "reason": "r",
                    "expires": "2027-01-01T00:00:00Z",
                    "requests": ["rem-7"],
                }
            ],
        )
    )
    assert decide(request("rem-7"), ps).status == "QUEUED"
    assert decide(request("rem-8"), ps).status == "POLICY_VIOLATION"


def test_match_globs_on_every_key_and_labels() -> None:
    ps = policies(
        policy(
            "narrow",
            match={
                "environments": ["prod-*"],
                "actionTypes": ["restart-*"],
                "services": ["api-?ateway"],
                "severities": ["HIGH", "CRITICAL"],
                "labels": {"team": "pay*"},
            },
            rules=[{"name": "d", "effect": "deny"}],
        )
    )
    hit = request(environment="prod-eu", labels={"team": "payments"})
    assert decide(hit, ps).status == "POLICY_VIOLATION"
    for miss in (
        request(environment="staging", labels={"team": "payments"}),
        request(environment="prod-eu", action="flush-cache", labels={"team": "payments"}),
        request(environment="prod-eu", service="billing", labels={"team": "payments"}),
        request(environment="prod-eu", severity="LOW", labels={"team": "payments"}),
        request(environment="prod-eu", labels={"team": "search"}),
        request(environment="prod-eu"),
    ):
        assert decide(miss, ps).status == "QUEUED", miss.spec


def test_violations_hold_the_sentence_and_detail_adds_the_policy_match() -> None:
    """The seed's approve response: `violations` the sentences, `detail` the full text."""
    ps = policies(
        policy("global", blockedEnvironments=["production"]),
        policy("p", rules=[{"name": "soft", "effect": "deny", "overridable": True}]),
    )
    d = decide(request(), ps)
    body = d.as_json()
    assert body["violations"] == [
        "Environment production is blocked from automated remediation.",
        "Denied by rule soft.",
    ]
    assert body["detail"] == (
        "Environment production is blocked from automated remediation. "
        "Policy match: global blockedEnvironments includes production. "
        "Denied by rule soft. "
        "Policy match: p rule soft (overridable by an operator with a reason)."
    )
    assert d.violations[0].detail == (
        "Environment production is blocked from automated remediation. "
        "Policy match: global blockedEnvironments includes production."
    )
