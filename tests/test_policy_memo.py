"""Memoisation never changes a decision: shared conditions, decision templates, per-request text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.core.decision import Approval
from remediate.core.model import Request
from tests.policy_helpers import context, decide, policies, policy, request

SEVERE = 'request.severity in ["HIGH", "CRITICAL"]'
BIG = "has(request.action.parameters.replicas) && request.action.parameters.replicas > 50"


def corpus():  # type: ignore[no-untyped-def]
    return (
        policy(
            "prod",
            match={"environments": ["prod*"]},
            blockedEnvironments=["prod-legacy"],
            rules=[
                {
                    "name": "severe",
                    "when": SEVERE,
                    "effect": "require_approval",
                    "approvals": {"min": 2, "from": ["team:sre"]},
                },
                {"name": "big", "when": BIG, "effect": "deny", "overridable": True},
            ],
        ),
        policy(
            "shared-condition",
            match={"actionTypes": ["restart-*"]},
            rules=[
                {
                    "name": "severe-too",
                    "when": SEVERE,
                    "effect": "require_approval",
                    "approvals": {"min": 1, "from": ["alice@example.com"]},
                },
                {"name": "low", "when": 'request.severity == "LOW"', "effect": "allow"},
                {"name": "odd", "when": "request.action.parameters.nope == 1", "effect": "deny"},
            ],
        ),
        policy(
            "limits",
            rateLimit={"max": 1, "per": "1h", "by": ["serviceName"]},
            changeWindows=[{"cron": "0 9 * * 1-5", "duration": "8h", "timezone": "UTC"}],
        ),
    )


def make(env: str, severity: str, replicas: int | None, action: str, n: int) -> Request:
    params: dict[str, object] = {"service": "api"}
    if replicas is not None:
        params["replicas"] = replicas
    req = request(f"rem-{n}", environment=env, severity=severity, action=action)
    spec = {**req.spec, "action": {"type": action, "parameters": params}}
    return Request.from_spec(req.name, spec, req.file)


requests_strategy = st.lists(
    st.tuples(
        st.sampled_from(["production", "Production", "prod-legacy", "PROD-LEGACY", "dev"]),
        st.sampled_from(["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
        st.one_of(st.none(), st.integers(0, 100)),
        st.sampled_from(["restart-service", "flush-cache"]),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(requests_strategy)
def test_memoised_decisions_equal_fresh_ones(rows: list[tuple[str, str, int | None, str]]) -> None:
    shared = policies(*corpus())
    for n, (env, severity, replicas, action) in enumerate(rows):
        req = make(env, severity, replicas, action, n)
        memoised = decide(req, shared, context(default="require_approval"))
        fresh = decide(req, policies(*corpus()), context(default="require_approval"))
        assert memoised == fresh
        assert memoised.request_id == req.name


def test_templates_keep_each_requests_own_spelling_and_id() -> None:
    ps = policies(*corpus())
    a = decide(make("prod-legacy", "LOW", None, "flush-cache", 1), ps)
    b = decide(make("PROD-LEGACY", "LOW", None, "flush-cache", 2), ps)
    assert a.request_id == "rem-1" and b.request_id == "rem-2"
    assert a.detail.startswith("Environment prod-legacy is blocked")
    assert b.detail.startswith("Environment PROD-LEGACY is blocked")


def test_a_condition_shared_by_two_policies_fires_for_both() -> None:
    ps = policies(*corpus())
    d = decide(make("production", "HIGH", None, "restart-service", 1), ps)
    assert {"prod/severe", "shared-condition/severe-too"} <= set(d.rules)
    assert [(n.rule, n.missing) for n in d.needs] == [("severe", 2), ("severe-too", 1)]


def test_approvals_are_never_served_from_the_template_memo() -> None:
    ps = policies(*corpus())
    req = make("production", "HIGH", None, "flush-cache", 1)
    assert decide(req, ps).status == "PENDING_APPROVAL"
    approvals = (Approval("bob@example.com"), Approval("carol@example.com"))
    assert decide(req, ps, context(approvals=approvals)).status == "QUEUED"
    assert decide(req, ps).status == "PENDING_APPROVAL"
