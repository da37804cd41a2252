"""What `validate` catches in policies and settings beyond the schema.

Typos in the fields a condition reads (`request.sevrity`), `team:` names that
no team defines, and `approvals` on a rule whose effect cannot use them; each
is a `file:line: key.path: message` with what would be valid.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from remediate.core.conditions import ConditionError, compile_condition
from tests.conftest import Result
from tests.conftest import validate_problems as errors
from tests.conftest import write_policy as shared_write_policy

POLICY = "policies/checks.yaml"
REQUEST_FIELDS = (
    "action, assetId, environment, findingId, incidentId, labels, name, notes, owner,"
    " serviceName, severity, targetDate"
)


def write_policy(repo: Path, body: str) -> None:
    shared_write_policy(repo, "checks", body)


def one_rule(when: str) -> str:
    quoted = when.replace("'", "''")
    return f"  rules:\n    - name: r\n      effect: deny\n      when: '{quoted}'\n"  # when: line 9


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("request.sevrity == 'HIGH'", "unknown field 'request.sevrity' (did you mean 'request.severity'?)"),
        ("has(request.enviroment)", "unknown field 'request.enviroment' (did you mean 'request.environment'?)"),
        ('request["servicename"] == "x"', "unknown field 'request.servicename' (did you mean 'request.serviceName'?)"),
        ("request.action.typ == 'x'", "unknown field 'request.action.typ' (did you mean 'request.action.type'?)"),
        ("context.requestor == 'x'", "unknown field 'context.requestor' (did you mean 'context.requester'?)"),
        ("request.bogus == 1", f"unknown field 'request.bogus' (request has: {REQUEST_FIELDS})"),
        ("context.now == 1", "unknown field 'context.now' (context has: approvers, requester)"),
        ("request.severity.level == 1", "unknown field 'request.severity.level' (request.severity has no fields)"),
        ("request.sevrity.startsWith('H')", "unknown field 'request.sevrity' (did you mean 'request.severity'?)"),
        ("request . sevrity == 'HIGH'", "unknown field 'request.sevrity' (did you mean 'request.severity'?)"),
    ],
)  # fmt: skip
def test_unknown_fields_are_errors_with_a_suggestion(
    when: str, message: str, quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_policy(quickstart, one_rule(when))
    assert errors(quickstart, run_cli) == [f"{POLICY}:9: spec.rules[0].when: {message}"]


def test_every_known_field_and_free_form_map_passes(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_policy(
        quickstart,
        "  rules:\n"
        "    - name: r\n"
        "      effect: deny\n"
        "      when: >-\n"
        "        request.name.startsWith('rem-') && request.action.type == 'x' &&\n"
        "        request.action.parameters.anything.deeper == 1 && request.labels.team == 'x' &&\n"
        "        has(request.incidentId) && has(request.findingId) && has(request.assetId) &&\n"
        "        request.owner != '' && request.notes.contains('request.sevrity') &&\n"
        "        request.targetDate > '2026' && request.severity in ['HIGH'] &&\n"
        "        context.requester in context.approvers && now > timestamp('2026-01-01T00:00:00Z')\n"
        "        && request.labels.exists(k, k.size() > 0) && request.size() > 0\n",
    )
    assert errors(quickstart, run_cli) == []


def test_an_unknown_field_in_a_block_condition_names_its_line(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_policy(
        quickstart,
        "  rules:\n"
        "    - name: r\n"
        "      effect: deny\n"
        "      when: |\n"
        "        request.severity == 'HIGH' &&\n"
        "        context.approvrs.size() > 1\n",  # line 11
    )
    assert errors(quickstart, run_cli) == [
        f"{POLICY}:11: spec.rules[0].when: unknown field 'context.approvrs'"
        " (did you mean 'context.approvers'?)"
    ]


def test_compile_condition_refuses_unknown_fields() -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition("request.severity == 'HIGH' &&\n request.sevrity == 'x'")
    assert str(caught.value) == "unknown field 'request.sevrity' (did you mean 'request.severity'?)"
    assert caught.value.line == 2


def test_the_fields_are_what_the_evaluator_binds() -> None:
    """The field table is checked against the schema and against `evaluate`'s own binding."""
    from remediate.core.condition_checks import CONTEXT_FIELDS, REQUEST_FIELDS
    from remediate.core.decision import Approval
    from remediate.core.evaluate import cel_context, cel_request
    from remediate.documents.schemas import raw_schemas
    from tests.policy_helpers import context, request

    spec = raw_schemas()["remediation-request.schema.json"]["$defs"]["requestSpec"]
    assert set(REQUEST_FIELDS) == {*spec["properties"], "name"}
    assert set(REQUEST_FIELDS["action"] or {}) == set(spec["properties"]["action"]["properties"])
    full = request(
        incidentId="i", findingId="f", assetId="a", owner="o", notes="n",
        targetDate="2026-12-01", labels={"team": "sre"},
    )  # fmt: skip
    assert set(cel_request(full, "production", "api-gateway", {})) == set(REQUEST_FIELDS)
    ctx = context(approvals=(Approval("bob@example.com"),))
    assert set(cel_context(ctx)) == set(CONTEXT_FIELDS)


# --- team: names -------------------------------------------------------------------------


def test_undefined_team_in_a_rule_is_an_error_under_the_local_forge(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_policy(
        quickstart,
        "  rules:\n"
        "    - name: r\n"
        "      effect: require_approval\n"
        '      approvals: {min: 1, from: ["team:sre", "team:sree", "team:dba"]}\n'  # line 9
        "  exceptions:\n"
        "    - owner: team:platform\n"  # line 11
        "      reason: migration\n"
        '      expires: "2026-12-01T00:00:00Z"\n'
        "      services: [billing]\n",
    )
    assert errors(quickstart, run_cli) == [
        f"{POLICY}:9: spec.rules[0].approvals.from[1]: unknown team 'team:sree'"
        " (did you mean 'team:sre'?)",
        f"{POLICY}:9: spec.rules[0].approvals.from[2]: unknown team 'team:dba'"
        " (Settings.spec.teams defines: sre)",
        f"{POLICY}:11: spec.exceptions[0].owner: unknown team 'team:platform'"
        " (Settings.spec.teams defines: sre)",
    ]


def test_undefined_team_in_settings_rbac(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    path = quickstart / "remediate.yaml"
    text = path.read_text()
    text = text.replace('operators: [bob@example.com, "team:sre"]', 'operators: ["team:ops"]')
    text = text.replace('from: ["team:sre"]', 'from: ["team:sre-x"]')
    path.write_text(text)
    assert errors(quickstart, run_cli) == [
        "remediate.yaml:9: spec.defaultApprovals.from[0]: unknown team 'team:sre-x'"
        " (did you mean 'team:sre'?)",
        "remediate.yaml:12: spec.rbac.operators[0]: unknown team 'team:ops'"
        " (Settings.spec.teams defines: sre)",
    ]


def test_no_teams_at_all_under_the_local_forge(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    path = quickstart / "remediate.yaml"
    text = path.read_text().replace("  teams:\n    sre: [bob@example.com, carol@example.com]\n", "")
    path.write_text(text)
    none = "(Settings.spec.teams defines none)"
    assert errors(quickstart, run_cli) == [
        f"policies/production-safety.yaml:16: spec.rules[0].approvals.from[0]: unknown team"
        f" 'team:sre' {none}",
        f"policies/production-safety.yaml:21: spec.rules[1].approvals.from[0]: unknown team"
        f" 'team:sre' {none}",
        f"remediate.yaml:9: spec.defaultApprovals.from[0]: unknown team 'team:sre' {none}",
        f"remediate.yaml:12: spec.rbac.operators[1]: unknown team 'team:sre' {none}",
    ]


def test_under_the_github_forge_teams_come_from_github(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    path = quickstart / "remediate.yaml"
    text = path.read_text().replace(
        "forge: {type: local}", "forge: {type: github, repository: acme/remediations}"
    )
    path.write_text(text)
    write_policy(
        quickstart,
        "  rules:\n"
        "    - name: r\n"
        "      effect: require_approval\n"
        '      approvals: {min: 1, from: ["team:platform"]}\n',  # line 9
    )
    result = run_cli("validate", "--repo", str(quickstart))
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines()[0] == (
        f"{POLICY}:9: warning: spec.rules[0].approvals.from[0]: team 'team:platform' is not in"
        " Settings.spec.teams (sre); under the github forge it must be a team of the GitHub"
        " organization"
    )
    # without a teams list at all, GitHub is the only source: nothing to say offline
    path.write_text(
        path.read_text().replace("  teams:\n    sre: [bob@example.com, carol@example.com]\n", "")
    )
    result = run_cli("validate", "--repo", str(quickstart))
    assert (result.code, result.err, result.out) == (0, "", "13 documents in 13 files: valid\n")


# --- approvals on a rule that cannot use them -------------------------------------------


@pytest.mark.parametrize("effect", ["allow", "deny"])
def test_approvals_on_a_rule_that_is_not_require_approval(
    effect: str, quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_policy(
        quickstart,
        "  rules:\n"
        "    - name: r\n"
        f"      effect: {effect}\n"
        '      approvals: {min: 1, from: ["team:sre"]}\n',  # line 9
    )
    assert errors(quickstart, run_cli) == [
        f"{POLICY}:9: spec.rules[0].approvals: approvals only applies to effect require_approval"
    ]


def test_require_approval_without_approvals(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_policy(quickstart, "  rules:\n    - name: r\n      effect: require_approval\n")
    assert errors(quickstart, run_cli) == [
        f"{POLICY}:7: spec.rules[0]: missing required key 'approvals'"
    ]


def test_repository_on_a_local_forge(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    path = quickstart / "remediate.yaml"
    path.write_text(
        path.read_text().replace("forge: {type: local}", "forge: {type: local, repository: a/b}")
    )
    assert errors(quickstart, run_cli) == [
        "remediate.yaml:7: spec.forge.repository: repository and apiUrl only apply to forge"
        " type github"
    ]
