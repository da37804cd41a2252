"""CEL conditions: compile errors, bounds, failing closed, memoisation, name dodges."""

from __future__ import annotations

import subprocess
import sys
import time
import unicodedata

import pytest

from remediate.core.conditions import MAX_LENGTH, ConditionError, compile_condition
from remediate.core.policy import PolicyError
from tests.policy_helpers import NOW, context, decide, policies, policy, request


def rule(when: str, effect: str = "deny", **extra: object) -> dict[str, object]:
    return {"name": "r", "when": when, "effect": effect, **extra}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("request.severity ==", "not a valid CEL expression: line 1 column 20: Syntax error"),
        ("foo == 1", "unknown variable 'foo' (a condition can read request, now and context)"),
        ("1 + " * 600 + "1 == 2", f"expression is 2406 characters long; the limit is {MAX_LENGTH}"),
        ("(" * 40 + "1" + ")" * 40 + " == 1", "expression nests brackets 40 deep; the limit is 32"),
        (
            "request.labels.all(k, [1, 2].exists(x, x == 1))",
            "a comprehension inside another comprehension is not allowed",
        ),
        (
            "[1].all(a, a > 0) && [1].all(b, b > 0) && [1].all(c, c > 0) && [1].all(d, d > 0)",
            "expression uses 4 comprehensions",
        ),
        ("[1].exists(request, request == 1)", "comprehension variable 'request' would hide"),
        ('request[context.requester] == "x"', "fields of request must be named literally"),
    ],
)
def test_compile_errors_and_bounds(source: str, message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(source)
    assert message in str(caught.value)


def test_bounded_worst_case_compiles_and_runs_quickly() -> None:
    # the longest flat chain the bounds allow: far from the library's stack limits
    source = " + ".join(["1"] * ((MAX_LENGTH - 10) // 4)) + " > 0"
    assert len(source) <= MAX_LENGTH
    started = time.perf_counter()
    condition = compile_condition(source)
    assert condition.evaluate({}, {}, NOW) is True
    assert time.perf_counter() - started < 1.0


def test_strings_do_not_count_as_field_reads() -> None:
    c = compile_condition('request.notes.contains("request.fake") && request["severity"] == "x"')
    assert c.request_paths == (("notes",), ("severity",))
    assert not c.uses_now
    whole = compile_condition('"severity" in request')
    assert whole.request_paths is None
    nested = compile_condition(
        "has(request.action.parameters.replicas) && request.action.parameters.replicas > 50"
        " && request.labels.exists(k, k == 'team') && request.action.size() > 0"
    )
    assert nested.request_paths == (("action",), ("labels",))
    deep = compile_condition(
        "request.action.parameters.replicas > 50 && request.labels.team == 'x'"
    )
    assert deep.request_paths == (("action", "parameters", "replicas"), ("labels", "team"))
    assert deep.evaluate(
        {"action": {"parameters": {"replicas": 51}}, "labels": {"team": "x"}}, {}, NOW
    )
    assert deep.evaluate({"action": {"parameters": {}}, "labels": {"team": "x"}}, {}, NOW) == (
        "KeyError: 'replicas'"
    )
    guarded = compile_condition("has(request.action.parameters.replicas)")
    assert guarded.evaluate({"action": {"parameters": {}}}, {}, NOW) is False
    assert guarded.evaluate({"action": {"parameters": {"replicas": 1}}}, {}, NOW) is True
    assert isinstance(guarded.evaluate({}, {}, NOW), str)  # no action at all: an error
    assert len(guarded.cache) == 3


def test_evaluation_error_fails_closed_for_each_effect() -> None:
    broken = "request.action.parameters.nope == 1"  # a free-form map: only evaluation knows
    deny = decide(request(), policies(policy("p", rules=[rule(broken)])))
    assert deny.status == "POLICY_VIOLATION"
    assert deny.errors == (
        "The condition of p rule r could not be evaluated (KeyError: 'nope'); "
        "failing closed, the rule is treated as matching.",
    )
    assert deny.errors[0] in deny.detail
    approval = rule(broken, "require_approval", approvals={"min": 1, "from": ["team:sre"]})
    assert decide(request(), policies(policy("p", rules=[approval]))).status == "PENDING_APPROVAL"
    allow = decide(
        request(), policies(policy("p", rules=[rule(broken, "allow")])), context(default="deny")
    )
    assert allow.status == "POLICY_VIOLATION"
    assert "treated as not matching" in allow.detail


def test_non_boolean_result_fails_closed() -> None:
    d = decide(request(), policies(policy("p", rules=[rule("request.severity")])))
    assert d.status == "POLICY_VIOLATION"
    assert "the condition gave str 'HIGH', not true or false" in d.errors[0]


def test_now_is_a_utc_timestamp() -> None:
    freeze = rule('now >= timestamp("2026-12-20T00:00:00Z") && now.getHours() == 10')
    ps = policies(policy("p", rules=[freeze]))
    assert decide(request(), ps).status == "QUEUED"
    later = NOW.replace(month=12, day=24)
    assert decide(request(), ps, context(now=later)).status == "POLICY_VIOLATION"


def test_results_are_memoised_on_the_fields_a_condition_reads() -> None:
    ps = policies(policy("p", rules=[rule('request.severity == "CRITICAL"')]))
    for i in range(50):
        decide(request(f"rem-{i}", service=f"svc-{i}", severity="HIGH"), ps)
    decide(request("rem-x", severity="CRITICAL"), ps)
    condition = ps.policies[0].rules[0].condition
    assert condition is not None
    assert len(condition.cache) == 2


@pytest.mark.parametrize("spelling", ["Production", "PRODUCTION", "production", "pRoDuCtIoN"])
def test_environment_case_cannot_dodge_match_blocked_or_conditions(spelling: str) -> None:
    ps = policies(
        policy(
            "by-match",
            match={"environments": ["production"]},
            rules=[{"name": "m", "effect": "deny"}],
        ),
        policy("by-block", blockedEnvironments=["production"]),
        policy("by-cel", rules=[rule('request.environment == "production"')]),
    )
    d = decide(request(environment=spelling), ps)
    assert d.status == "POLICY_VIOLATION"
    assert set(d.rules) == {"by-match/m", "by-block/blockedEnvironments", "by-cel/r"}


def test_unicode_normal_forms_cannot_dodge() -> None:
    composed = "caf\u00e9"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    ps = policies(policy("p", blockedEnvironments=[composed.upper()]))
    assert decide(request(environment=decomposed), ps).status == "POLICY_VIOLATION"


def test_compile_error_names_the_rule_line() -> None:
    from remediate.core.document import Document, LineMap
    from remediate.core.policy import compile_policy

    doc = Document(
        "GuardrailPolicy",
        "bad",
        {
            "rules": [
                {"name": "ok", "effect": "allow"},
                {"name": "x", "when": "1 +", "effect": "deny"},
            ]
        },
        "policies/bad.yaml",
        LineMap({"spec.rules[1].when": 12}),
    )
    with pytest.raises(PolicyError) as caught:
        compile_policy(doc)
    assert str(caught.value).startswith(
        "policies/bad.yaml:12: spec.rules[1].when: not a valid CEL expression: line 1 column"
    )


def test_importing_the_cli_does_not_import_cel() -> None:
    code = "import sys, remediate.cli, remediate.core.policy; print('cel' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
