"""Every string literal a condition can compare with a name field is checked, in any shape.

Conditions see `request.environment` and `request.serviceName` in lower case
(PRODUCT.md, "Files"), so a literal compared with one of them that holds an
upper-case letter or a look-alike can never match: the rule silently never
fires. `validate` finds those literals on a syntax tree of the expression
(`core.cel_syntax`) by following where values flow (`core.name_flow`), not by
the shape of the tokens around a field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from remediate.core.conditions import ConditionError, compile_condition

ROOT = Path(__file__).resolve().parent.parent
ENV_UPPER = (
    '"STAGING" is compared with request.environment, which conditions see in lower case:'
    ' write "staging"'
)
ENV_DZE = (
    '"\u0455taging" is compared with request.environment but character 1 is U+0455 CYRILLIC'
    " SMALL LETTER DZE: environment names hold only ASCII letters, digits, '-', '_' and '.'"
)


def problem(source: str) -> str | None:
    """The message `validate` gives for `source`, None when it is accepted."""
    try:
        compile_condition(source)
    except ConditionError as exc:
        return str(exc)
    return None


# --- the shapes of the review (tests/test_review_findings.py), one test each -------------


@pytest.mark.parametrize(
    "when",
    [
        '(request.environment) == "STAGING"',
        'request.environment == ("STAGING")',
        'request.environment in ["qa"] + ["STAGING"]',
        '["STAGING"].exists(e, e == request.environment)',
        '"STAGING" in [request.environment]',
    ],
)
def test_the_review_shapes_with_an_upper_case_literal(when: str) -> None:
    assert problem(when) == ENV_UPPER


def test_a_look_alike_next_to_a_parenthesised_field() -> None:
    assert problem('(request.environment) == "\u0455taging"') == ENV_DZE


def test_an_upper_case_regex_on_a_name_field_cannot_match() -> None:
    assert problem('request.environment.matches("^STAGING$")') == (
        '"^STAGING$" is matched against request.environment, which conditions see in lower'
        ' case: "S" (character 2) can never match; write "^staging$" or begin it with (?i)'
    )


# --- attack variants -------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        '((((request.environment)))) == ((("STAGING")))',
        '"STAGING" == request["environment"]',
        '!(request.environment != "STAGING")',
        'request.severity == "HIGH" ? request.environment == "STAGING" : false',
        'request.environment == (request.severity == "HIGH" ? "qa" : "STAGING")',
        '(true ? request.environment : request.notes) == "STAGING"',
        'request.environment in (true ? ["qa"] : ["STAGING"])',
        'request.environment in ["qa"] + (["dev"] + ["STAGING"])',
        '{"STAGING": 1}[request.environment] == 1',
        'request.environment in {"qa": true, "STAGING": true}',
        '[request.environment] == ["STAGING"]',
        '[request.environment].exists(e, e == "STAGING")',
        '["qa", "STAGING"].filter(e, e == request.environment).size() > 0',
        '["STAGING"].map(e, e).exists(x, x == request.environment)',
        '["STAGING"].all(e, e != request.environment)',
        '["STAGING"].exists_one(e, request.environment == e)',
        'request.environment in ["STAGING"].map(e, e)',
        'string(request.environment) == "STAGING"',
        'dyn(request.environment) == dyn("STAGING")',
        'request.environment == "STA" + "GING"',
        "request.environment == 'STAGING'",
        'request.environment == """STAGING"""',
        'request.environment == r"STAGING"',
        'request.environment == "\\x53TAGING"',
        'request.environment == "\\123TAGING"',
        'request.environment == "\\u0053TAGING"',
        'request.environment == "STAGING" // a comment with "quotes"',
        '["STAGING"][0] == request.environment',
        '{"k": "STAGING"}["k"] == request.environment',
        'request.environment in {"k": ["qa", "STAGING"]}["k"]',
        '{"STAGING": 1}.exists(k, k == request.environment)',
        '[1].map(x, "STAGING").exists(e, e == request.environment)',
        '!(request.environment in ["STAGING"])',
        'request.environment == "staging" || request.environment == "STAGING"',
        'request.environment == (true ? (false ? "qa" : "STAGING") : "dev")',
    ],
)
def test_attack_variants_are_found(when: str) -> None:
    found = problem(when)
    assert found is not None, when
    assert "is compared with request.environment, which conditions see in lower case" in found


def test_a_concatenation_of_literals_is_named_as_written() -> None:
    assert problem('request.environment == "STA" + "GING"') == (
        '"STA" + "GING" is compared with request.environment, which conditions see in lower'
        ' case: write "staging"'
    )


def test_service_names_and_string_functions() -> None:
    assert problem('(request.serviceName).startsWith("API")') == (
        '"API" is compared with request.serviceName, which conditions see in lower case:'
        ' write "api"'
    )
    assert problem('request.serviceName.endsWith(true ? "-GW" : "-gw")') is not None
    assert problem('(request.serviceName).contains("b\u0430d")') is not None  # Cyrillic a


@pytest.mark.parametrize(
    "regex",
    ["^STAGING$", "staging|PROD", "^prod-(EU|us)$", "(?s)^PROD"],
)
def test_regexes_that_cannot_match_a_lower_case_name(regex: str) -> None:
    assert "can never match" in (problem(f'request.environment.matches("{regex}")') or "")


@pytest.mark.parametrize(
    "regex",
    [
        "^prod-.*$",
        "(?i)^PROD",
        "^prod\\\\S+$",  # \S, \W, \D are classes, not letters
        "^\\\\Wx\\\\D",
        "^[A-Za-z]+$",  # inside a class: some member can match
        "^\\\\p{Lu}?prod",
        "(?P<Env>prod)",  # a group's name is not matched
        "^prod\\\\x41?",
    ],
)
def test_regexes_that_can_match_are_accepted(regex: str) -> None:
    assert problem(f'request.environment.matches("{regex}")') is None


# --- what must not be flagged ------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    [
        'request.notes.contains("URGENT")',
        'request.severity == "HIGH" && request.environment == "staging"',
        'request.severity in ["HIGH", "CRITICAL"] && request.environment in ["qa", "staging"]',
        '["HIGH"].exists(s, s == request.severity) && request.environment == "prod"',
        'request.notes == "request.environment == \\"STAGING\\""',
        '{"STAGING": request.environment}["STAGING"] == "prod"',
        'request.environment + "-X" == "prod-X"',  # the field is not compared whole
        'request.environment < "STAGING"',  # ordering, not a match
        'request.owner == "Alice@Example.com" && request.serviceName == "api"',
        'request.action.parameters.env == "STAGING"',
        'context.requester == "ALICE" && request.environment != "qa"',
        '(request.environment == "qa") == (request.severity == "HIGH")',
        'request.environment.size() > 3 && "X" == "X"',
        'request.environment.matches("^prod") == false',
        'request.labels["STAGING"] == request.environment',
        'request.environment == request.labels.env && request.labels.env == "STAGING"',
        '[request.severity].exists(s, s == "HIGH") && request.environment == "qa"',
    ],
)
def test_literals_not_compared_with_a_name_are_free(when: str) -> None:
    assert problem(when) is None


def test_the_line_of_a_literal_in_a_block_condition() -> None:
    source = 'request.severity == "HIGH" &&\n  (request.environment)\n  == "STAGING"\n'
    with pytest.raises(ConditionError) as caught:
        compile_condition(source)
    assert caught.value.line == 3


# --- the parser never blocks: it reads every condition shipped, and falls back -----------


def _shipped_conditions() -> list[str]:
    found: list[str] = []
    folders = ("policies", "examples", "tests/corpus")
    for path in sorted(p for d in folders for p in (ROOT / d).rglob("*.yaml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, ValueError, RecursionError):
            continue  # the corpus holds deliberately broken files
        found.extend(_whens(docs))
    return found


def _whens(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["when"]] if isinstance(node.get("when"), str) else []
        return own + [w for v in node.values() for w in _whens(v)]
    if isinstance(node, list):
        return [w for v in node for w in _whens(v)]
    return []


def test_the_parser_reads_every_shipped_condition() -> None:
    from remediate.core.cel_syntax import parse

    conditions = _shipped_conditions()
    assert len(conditions) >= 5
    for source in conditions:
        parse(source)


def test_a_shape_the_parser_cannot_read_falls_back_to_the_token_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from remediate.core import cel_syntax, name_flow

    def refuse(source: str) -> cel_syntax.Node:
        raise cel_syntax.CelSyntaxError("not read", 0)

    monkeypatch.setattr(name_flow, "parse", refuse)
    assert problem('request.environment == "STAGING"') == ENV_UPPER  # the token shape
    assert problem('(request.environment) == "STAGING"') is None  # what tokens miss


def test_a_very_deep_tree_is_checked_without_a_crash() -> None:
    # ~600 selections in a row: the library compiles it; if the tree walk runs out of
    # recursion the token checks take over, and either way nothing crashes
    deep = "request.action.parameters" + ".a" * 600
    assert problem(f'{deep} == 1 || request.environment == "STAGING"') == ENV_UPPER
    assert problem(f'{deep} == 1 || "qa" == request.environment') is None
