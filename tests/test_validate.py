"""`remediate validate`: formats, exit codes, references, wrong types in every field."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Result

REQUEST = "remediations/2026/rem-2026-0042.yaml"


def rewrite(repo: Path, rel: str, edit: Callable[[dict], None]) -> None:
    doc = yaml.safe_load((repo / rel).read_text())
    edit(doc)
    (repo / rel).write_text(yaml.safe_dump(doc, sort_keys=False))


def test_quickstart_is_valid(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    result = run_cli("validate", "--repo", str(quickstart))
    assert (result.code, result.out, result.err) == (0, "12 documents in 12 files: valid\n", "")


def test_json_format(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    rewrite(quickstart, REQUEST, lambda d: d["spec"].update(severity="URGENT"))
    result = run_cli("validate", "--repo", str(quickstart), "--format", "json")
    assert result.code == 1
    assert json.loads(result.out) == {
        "valid": False,
        "errors": [
            {
                "file": REQUEST,
                "line": 12,
                "path": "spec.severity",
                "message": 'spec.severity: "URGENT" is not one of: LOW, MEDIUM, HIGH, CRITICAL',
                "severity": "error",
            }
        ],
        "warnings": [],
    }


def test_github_format_is_automatic_in_actions(
    quickstart: Path,
    run_cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    rewrite(quickstart, REQUEST, lambda d: d["spec"].update(notes="100%, a: b\nline two"))
    rewrite(quickstart, REQUEST, lambda d: d["spec"].update(severity="URGENT"))
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.out.splitlines()[0] == (
        f'::error file={REQUEST},line=12::spec.severity: "URGENT" is not one of: LOW, MEDIUM, HIGH, CRITICAL'
    )
    assert "| error | remediations/2026/rem-2026-0042.yaml | 12 | spec.severity |" in (
        summary.read_text()
    )


def test_github_annotation_escaping() -> None:
    from remediate.cli.annotations import annotation
    from remediate.errors import Problem

    line = annotation(Problem("a,b:c.yaml", 3, "spec.x", "50% bad\nnext"))
    assert line == "::error file=a%2Cb%3Ac.yaml,line=3::spec.x: 50%25 bad%0Anext"


def test_usage_errors_exit_2(tmp_path: Path, run_cli: Callable[..., Result]) -> None:
    missing = run_cli("validate", "--repo", str(tmp_path / "nope"))
    assert (missing.code, missing.err) == (
        2,
        f"remediate: --repo {tmp_path / 'nope'}: not a directory\n",
    )
    bad_flag = run_cli("validate", "--format", "xml")
    assert bad_flag.code == 2 and "Invalid value for '--format'" in bad_flag.err
    repo = tmp_path / "repo"
    assert run_cli("init", str(repo)).code == 0
    no_file = run_cli("validate", "--repo", str(repo), str(repo / "missing.yaml"))
    assert (no_file.code, no_file.err) == (
        2,
        f"remediate: {repo / 'missing.yaml'}: no such file or directory\n",
    )
    unknown = run_cli("frobnicate")
    assert unknown.code == 2 and "No such command 'frobnicate'" in unknown.err


def test_named_paths_are_checked_against_the_repository_action_types(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    rewrite(quickstart, REQUEST, lambda d: d["spec"]["action"].update(type="nope"))
    result = run_cli("validate", "--repo", str(quickstart), str(quickstart / REQUEST))
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        f"{REQUEST}:7: spec.action.type: unknown action type 'nope' (known: flush-cache, restart-service)"
    )
    assert result.err.splitlines()[-1] == "1 error(s) in 9 files"


def test_duplicate_names_across_files(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    shutil.copyfile(quickstart / REQUEST, quickstart / "remediations" / "copy.yaml")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.err.splitlines()[0] == (
        f"remediations/copy.yaml:4: metadata.name: duplicate RemediationRequest name 'rem-2026-0042' "
        f"(first defined at {REQUEST}:4)"
    )


def test_schedule_cron_and_timezone_are_checked(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    rel = "schedules/nightly-cache-flush.yaml"
    rewrite(quickstart, rel, lambda d: d["spec"].update(cron="61 2 * * *", timezone="Mars/Olympus"))
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.err.splitlines()[:2] == [
        f"{rel}:6: spec.cron: '61 2 * * *' is not a valid cron expression: Bad minute",
        f"{rel}:7: spec.timezone: unknown time zone 'Mars/Olympus' (expected an IANA name such as Europe/Berlin)",
    ]


def test_action_type_with_two_executors(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    rel = "actions/flush-cache.yaml"
    rewrite(quickstart, rel, lambda d: d["spec"]["executor"].update(webhook={"url": "https://x"}))
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.err.splitlines()[0] == (
        f"{rel}:16: spec.executor: needs exactly one of: command, webhook, github_pr, acme, cert_check, plugin"
    )


def test_action_type_with_an_invalid_parameter_schema(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    rel = "actions/flush-cache.yaml"
    rewrite(quickstart, rel, lambda d: d["spec"]["parameters"].update(type="objekt"))
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.err.splitlines()[0].startswith(
        f"{rel}:7: spec.parameters: not a valid JSON Schema: "
    )


def test_second_settings_document(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    text = (quickstart / "remediate.yaml").read_text()
    (quickstart / "remediate.yaml").write_text(text + "---\n" + text.replace("acme-corp", "other"))
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.err.splitlines()[0] == (
        "remediate.yaml:23: kind: only one Settings document is allowed (first is remediate.yaml:1)"
    )


def test_empty_file_is_a_warning(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    (quickstart / "remediations" / "empty.yaml").write_text("# nothing yet\n")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 0
    assert (
        result.out.splitlines()[0] == "remediations/empty.yaml: warning: file contains no documents"
    )


# Wrong types in every field of a request: (key path, value, expected message)
WRONG_TYPES = [
    ("apiVersion", 1, "apiVersion: apiVersion 1 is not supported (expected remediate/v1)"),
    ("metadata.name", 42, 'metadata.name: 42 is not of type "string"'),
    ("metadata.labels", ["a"], 'metadata.labels: ["a"] is not of type "object"'),
    ("spec", "restart", 'spec: "restart" is not of type "object"'),
    ("spec.action", "restart-service", 'spec.action: "restart-service" is not of type "object"'),
    (
        "spec.action.type",
        ["restart-service"],
        'spec.action.type: ["restart-service"] is not of type "string"',
    ),
    (
        "spec.action.parameters",
        "api-gateway",
        'spec.action.parameters: "api-gateway" is not of type "object"',
    ),
    ("spec.serviceName", True, 'spec.serviceName: true is not of type "string"'),
    ("spec.environment", 3, 'spec.environment: 3 is not of type "string"'),
    ("spec.severity", 3, "spec.severity: 3 is not one of: LOW, MEDIUM, HIGH, CRITICAL"),
    ("spec.incidentId", {"id": 1}, 'spec.incidentId: {"id":1} is not of types "null", "string"'),
    ("spec.findingId", 12, 'spec.findingId: 12 is not of types "null", "string"'),
    ("spec.assetId", [1], 'spec.assetId: [1] is not of types "null", "string"'),
    ("spec.owner", 7, 'spec.owner: 7 is not of types "null", "string"'),
    ("spec.notes", ["x"], 'spec.notes: ["x"] is not of types "null", "string"'),
    ("spec.targetDate", 20261201, 'spec.targetDate: 20261201 is not of types "null", "string"'),
    ("spec.labels", "team=sre", 'spec.labels: "team=sre" is not of type "object"'),
]


@pytest.mark.parametrize(("path", "value", "message"), WRONG_TYPES, ids=[w[0] for w in WRONG_TYPES])
def test_wrong_type_in_every_request_field(
    path: str, value: object, message: str, quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    def edit(doc: dict) -> None:
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node[part]
        node[last] = value

    rewrite(quickstart, REQUEST, edit)
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert "Traceback" not in result.err
    first = result.err.splitlines()[0]
    assert first.split(": ", 1)[1] == message, first
    assert first.startswith(f"{REQUEST}:")


def test_editing_a_request_that_already_ran_is_a_warning(
    applied: Path, run_cli: Callable[..., Result]
) -> None:
    quickstart = applied  # rem-2026-0043 (staging) ran and completed
    rel = "remediations/2026/rem-2026-0043.yaml"
    (quickstart / rel).write_text((quickstart / rel).read_text().replace("MEDIUM", "HIGH"))
    result = run_cli("validate")
    assert result.code == 0
    assert result.out.splitlines()[0] == (
        f"{rel}:5: warning: spec: request rem-2026-0043 has already started (COMPLETED); "
        "editing it changes nothing: a new action needs a new request"
    )


def test_an_executor_this_version_does_not_ship_is_an_error(
    quickstart: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from remediate.executors import registry

    # every built-in ships now: stand one in whose module is not there
    monkeypatch.setitem(registry.BUILTINS, "cert_check", "remediate.executors.not_here:X")
    rel = "actions/flush-cache.yaml"
    config = {"source": {"file": "cert.pem"}, "policy": {"minDaysRemaining": 30}}
    rewrite(quickstart, rel, lambda d: d["spec"].update(executor={"cert_check": config}))
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    shipped = ", ".join(n for n in registry.BUILTINS if registry.available(n))
    assert "cert_check" not in shipped
    assert result.err.splitlines()[0] == (
        f"{rel}:17: spec.executor.cert_check: executor 'cert_check' is not available in this version "
        f"(available: {shipped})"
    )


def test_templates_are_checked_for_syntax_and_names(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    rel = "actions/flush-cache.yaml"
    argv = [
        "echo",
        "{{ parameters.namespace | upper(x }}",
        "{{ environ.HOME }}",
        "{{ request.environment }}",
    ]
    rewrite(quickstart, rel, lambda d: d["spec"]["executor"]["command"].update(argv=argv))
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[:2] == [
        f"{rel}:20: spec.executor.command.argv[1]: template syntax error: unexpected '}}', expected ')'",
        f"{rel}:21: spec.executor.command.argv[2]: template reads environ; it may read only parameters, request",
    ]


@pytest.mark.parametrize(
    "source",
    [
        "{{ parameters.service }}",
        "deployment/{{parameters.service}}",
        "{{ request.environment }}-{{ request.serviceName }}",
        "{{ parameters }}",
        "}} {{ parameters.a.b }} {",
    ],
)
def test_simple_substitutions_skip_jinja_and_agree_with_it(source: str) -> None:
    """The fast path accepts only what jinja2 itself parses and finds allowed names in."""
    import jinja2
    from jinja2 import meta

    from remediate.executors import templates

    names = meta.find_undeclared_variables(jinja2.Environment().parse(source))
    assert names <= set(templates.TEMPLATE_NAMES)
    assert templates._SIMPLE.sub("", source).count("{{") == 0
    assert templates.template_problems(source) == []


def test_schedule_catch_up_jobs_and_the_remediation_request_are_checked(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    rel = "schedules/nightly-cache-flush.yaml"

    def bad(doc: dict[str, Any]) -> None:
        doc["spec"]["catchUp"] = "some"
        doc["spec"]["job"]["report"] = {}

    rewrite(quickstart, rel, bad)
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[:2] == [
        f'{rel}:8: spec.catchUp: "some" is not one of: latest, all, none',
        f"{rel}:9: spec.job: needs exactly one of: remediation, report, retention, import",
    ]
