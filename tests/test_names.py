"""Environment and service names: ASCII only, compared case-insensitively, never a silent miss.

A look-alike letter (Cyrillic `р` in `рroduction`), a fullwidth letter or an
invisible joiner in a name is a `file:line: key.path` error at validate, in
requests, in policies (`match`, `blockedEnvironments`, exceptions) and in the
string literals a condition compares with `request.environment` or
`request.serviceName`; the message names the offending character.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, validate_problems
from tests.conftest import write_policy as shared_write_policy

REQUEST = "remediations/2026/rem-2026-0042.yaml"
POLICY = "policies/names.yaml"
ENV = (
    "An environment name such as production or staging: ASCII letters, digits, dot, underscore"
    " and hyphen; compared case-insensitively."
)
GLOB = (
    "An environment or service name, or a shell-style glob of one (*, ?, [abc], [!abc]):"
    " ASCII letters, digits, '.', '_' and '-'; compared case-insensitively."
)
CYRILLIC_ER = "character 1 is U+0440 CYRILLIC SMALL LETTER ER"


def errors(repo: Path, run_cli: Callable[..., Result]) -> list[str]:
    """The error lines of `validate`, [] when it passes (warnings are not asserted here)."""
    return validate_problems(repo, run_cli, warnings=False)


def set_request(repo: Path, old: str, new: str) -> None:
    path = repo / REQUEST
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def write_policy(repo: Path, body: str) -> None:
    shared_write_policy(repo, "names", body)


@pytest.mark.parametrize(
    ("value", "character"),
    [
        ("рroduction", CYRILLIC_ER),  # Cyrillic er
        ("ｐroduction", "character 1 is U+FF50 FULLWIDTH LATIN SMALL LETTER P"),
        ("prod\u200duction", "character 5 is U+200D ZERO WIDTH JOINER"),
        ("prod\u00a0eu", "character 5 is U+00A0 NO-BREAK SPACE"),
        ("producti\u03bfn", "character 9 is U+03BF GREEK SMALL LETTER OMICRON"),
    ],
)
def test_look_alike_environment_in_a_request_names_the_character(
    value: str, character: str, quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    set_request(quickstart, "environment: production", f'environment: "{value}"')
    assert errors(quickstart, run_cli) == [
        f'{REQUEST}:8: spec.environment: "{value}" is not valid: {character}. {ENV}'
    ]


def test_look_alike_service_name_in_a_request(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    set_request(quickstart, "serviceName: api-gateway", "serviceName: аpi-gateway")  # Cyrillic a
    assert errors(quickstart, run_cli) == [
        f'{REQUEST}:7: spec.serviceName: "аpi-gateway" is not valid: character 1 is'
        " U+0430 CYRILLIC SMALL LETTER A. A service name such as api-gateway: ASCII letters,"
        " digits, dot, underscore and hyphen; compared case-insensitively."
    ]


def test_a_slash_is_not_part_of_a_service_name(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    set_request(quickstart, "serviceName: api-gateway", "serviceName: team/api-gateway")
    assert errors(quickstart, run_cli) == [
        f'{REQUEST}:7: spec.serviceName: "team/api-gateway" is not valid: A service name such as'
        " api-gateway: ASCII letters, digits, dot, underscore and hyphen; compared"
        " case-insensitively."
    ]


def test_uppercase_environment_in_a_request_is_fine(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    set_request(quickstart, "environment: production", "environment: PRODUCTION")
    assert errors(quickstart, run_cli) == []


def test_look_alike_in_match_blocked_and_exceptions(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_policy(
        quickstart,
        "  match:\n"
        "    environments: [рroduction, prod-*]\n"  # line 7
        "    services: ['api-*', 'ａpi']\n"  # line 8, fullwidth a
        "  blockedEnvironments: [stаging]\n"  # line 9, Cyrillic a
        "  exceptions:\n"
        "    - owner: alice@example.com\n"
        "      reason: migration\n"
        '      expires: "2026-12-01T00:00:00Z"\n'
        "      environments: ['prod\u200d*']\n",  # line 14
    )
    assert errors(quickstart, run_cli) == [
        f'{POLICY}:7: spec.match.environments[0]: "рroduction" is not valid: {CYRILLIC_ER}. {GLOB}',
        f'{POLICY}:8: spec.match.services[1]: "ａpi" is not valid: character 1 is'
        f" U+FF41 FULLWIDTH LATIN SMALL LETTER A. {GLOB}",
        f'{POLICY}:9: spec.blockedEnvironments[0]: "stаging" is not valid: character 3 is'
        f" U+0430 CYRILLIC SMALL LETTER A. {ENV}",
        f'{POLICY}:14: spec.exceptions[0].environments[0]: "prod\u200d*" is not valid: character 5'
        f" is U+200D ZERO WIDTH JOINER. {GLOB}",
    ]


def test_globs_and_mixed_case_in_match_are_fine(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_policy(
        quickstart,
        "  match:\n"
        "    environments: [PRODUCTION, 'prod-[!x]?', '[a-c]*', eu.west_1]\n"
        "    services: ['*']\n"
        "  blockedEnvironments: [Prod-EU-Legacy]\n",
    )
    assert errors(quickstart, run_cli) == []


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            'request.environment == "рroduction"',
            f'"рroduction" is compared with request.environment but {CYRILLIC_ER}:'
            " environment names hold only ASCII letters, digits, '-', '_' and '.'",
        ),
        (
            '"рroduction" != request.environment',
            f'"рroduction" is compared with request.environment but {CYRILLIC_ER}:'
            " environment names hold only ASCII letters, digits, '-', '_' and '.'",
        ),
        (  # the escape spells the same Cyrillic letter
            r'request.environment == "\u0440roduction"',
            f'"рroduction" is compared with request.environment but {CYRILLIC_ER}:'
            " environment names hold only ASCII letters, digits, '-', '_' and '.'",
        ),
        (
            r'request["environment"] in ["staging", "prod\u200duction"]',
            '"prod\u200duction" is compared with request.environment but character 5 is'
            " U+200D ZERO WIDTH JOINER: environment names hold only ASCII letters, digits,"
            " '-', '_' and '.'",
        ),
        (
            'request.serviceName.startsWith("аpi")',
            '"аpi" is compared with request.serviceName but character 1 is'
            " U+0430 CYRILLIC SMALL LETTER A: service names hold only ASCII letters, digits,"
            " '-', '_' and '.'",
        ),
        (
            'request.environment.matches("^рrod-.*$")',
            '"^рrod-.*$" is matched against request.environment but character 2 is'
            " U+0440 CYRILLIC SMALL LETTER ER: environment names hold only ASCII letters, digits,"
            " '-', '_' and '.'",
        ),
        (
            'request.environment == "PRODUCTION"',
            '"PRODUCTION" is compared with request.environment, which conditions see in lower'
            ' case: write "production"',
        ),
        (
            "request.environment == 'prod eu'",
            '"prod eu" is compared with request.environment but character 5 is U+0020 SPACE:'
            " environment names hold only ASCII letters, digits, '-', '_' and '.'",
        ),
    ],
)
def test_literals_compared_with_names_in_conditions(
    when: str, message: str, quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    quoted = when.replace("'", "''")
    write_policy(
        quickstart,
        f"  rules:\n    - name: r\n      effect: deny\n      when: '{quoted}'\n",
    )
    assert errors(quickstart, run_cli) == [f"{POLICY}:9: spec.rules[0].when: {message}"]


def test_literals_that_are_not_compared_with_names_are_free(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_policy(
        quickstart,
        "  rules:\n"
        "    - name: r\n"
        "      effect: deny\n"
        "      when: >-\n"
        '        request.notes.contains("Производство") &&\n'
        '        request.environment == "production" &&\n'
        '        request.environment.matches("(?i)^PROD") == false &&\n'
        '        request.serviceName in ["api-gateway", "billing.v2"] &&\n'
        '        request.notes == "request.environment == \\"Х\\""\n',
    )
    assert errors(quickstart, run_cli) == []


def test_the_line_of_a_bad_literal_in_a_block_condition(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_policy(
        quickstart,
        "  rules:\n"
        "    - name: r\n"
        "      effect: deny\n"
        "      when: |\n"
        '        request.severity == "HIGH" &&\n'
        '        request.environment == "рroduction"\n',  # line 11
    )
    assert errors(quickstart, run_cli) == [
        f'{POLICY}:11: spec.rules[0].when: "рroduction" is compared with request.environment'
        f" but {CYRILLIC_ER}: environment names hold only ASCII letters, digits, '-', '_' and '.'"
    ]


def test_schedules_and_policy_tests_hold_names_too(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    rel = "schedules/nightly-cache-flush.yaml"
    path = quickstart / rel
    path.write_text(path.read_text().replace("environment: staging", "environment: ѕtaging"))
    assert errors(quickstart, run_cli) == [
        f'{rel}:13: spec.job.remediation.environment: "ѕtaging" is not valid: character 1 is'
        f" U+0455 CYRILLIC SMALL LETTER DZE. {ENV}"
    ]
