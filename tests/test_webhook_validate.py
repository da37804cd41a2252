"""`validate` of webhook ActionTypes: malformed allowedHosts entries, and configs that could
never reach their host, are `file:line` errors; a webhook that lists no host is a warning."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from remediate.core.names import first_invisible
from tests.conftest import Result

REL = "actions/hook.yaml"
HOOK = """\
apiVersion: remediate/v1
kind: ActionType
metadata: {{name: hook}}
spec:
  parameters: {{type: object}}
  executor:
    webhook:
      url: {url}
{extra}"""


def validate(repo: Path, run_cli: Callable[..., Result], url: str, extra: str = "") -> Result:
    (repo / REL).write_text(HOOK.format(url=json.dumps(url), extra=extra))
    return run_cli("validate", "--repo", str(repo))


ENTRY = (
    "is not valid: a host name (hooks.example.com, or an IPv4 address) or *. and a domain of two "
    "or more labels (*.example.com: the names under it, not example.com itself); no scheme, port, "
    "path or trailing dot"
)


@pytest.mark.parametrize(
    "entry",
    [
        "https://hooks.example.com",
        "hooks.example.com:443",
        "hooks.example.com/hook",
        "hooks.example.com.",
        "*",
        "*.com",
        "*example.com",
        "*.*.example.com",
        "a.*.example.com",
        "",
        "{{ parameters.host }}",
        "hооks.example.com",  # Cyrillic о
        "::1",
        "-hooks.example.com",
    ],
)
def test_a_malformed_allowed_hosts_entry_is_an_error_at_its_line(
    quickstart: Path, run_cli: Callable[..., Result], entry: str
) -> None:
    extra = f"      allowedHosts: [hooks.example.com, {json.dumps(entry, ensure_ascii=False)}]\n"
    result = validate(quickstart, run_cli, "https://hooks.example.com/x", extra)
    assert result.code == 1
    shown = json.dumps(entry, ensure_ascii=False)
    found = first_invisible(entry)  # a space or a look-alike letter is named
    message = ENTRY.replace("is not valid: ", f"is not valid: {found}. ") if found else ENTRY
    assert result.err.splitlines()[0] == (
        f"{REL}:9: spec.executor.webhook.allowedHosts[1]: {shown} {message}"
    )


def test_well_formed_entries_and_record_response_validate(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    extra = (
        "      allowedHosts: [hooks.example.com, '*.svc.example.com', localhost, 10.0.0.5,"
        " Hooks.Example.ORG, my_host.example.com]\n      recordResponse: true\n"
    )
    result = validate(quickstart, run_cli, "https://a.svc.example.com/{{ parameters.x }}", extra)
    assert (result.code, result.err) == (0, "")


def test_record_response_must_be_a_boolean(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    extra = "      allowedHosts: [hooks.example.com]\n      recordResponse: yes please\n"
    result = validate(quickstart, run_cli, "https://hooks.example.com/", extra)
    assert result.err.splitlines()[0] == (
        f'{REL}:10: spec.executor.webhook.recordResponse: "yes please" is not of type "boolean"'
    )


def test_a_webhook_listing_no_host_is_a_warning(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    for extra in ("", "      allowedHosts: []\n"):
        result = validate(quickstart, run_cli, "https://hooks.example.com/", extra)
        assert result.code == 0
        line, path = (
            (9, "spec.executor.webhook.allowedHosts") if extra else (7, "spec.executor.webhook")
        )
        assert result.out.splitlines()[0] == (
            f"{REL}:{line}: warning: {path}: no allowedHosts are listed, so this webhook reaches "
            "no host (list the names it calls, e.g. allowedHosts: [hooks.example.com])"
        )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://deploy.example.com/api", "host 'deploy.example.com' is not in allowedHosts "
         "(hooks.example.com, *.hooks.example.com)"),
        ("https://hooks.example.com.evil.net/{{ parameters.x }}", "host "
         "'hooks.example.com.evil.net' is not in allowedHosts (hooks.example.com, *.hooks.example.com)"),
        ("https://user@hooks.example.com/", "url 'https://user@hooks.example.com/' holds user "
         "information (user@host): credentials belong in secretHeaders"),
    ],
)  # fmt: skip
def test_a_literal_url_host_outside_allowed_hosts_is_an_error(
    quickstart: Path, run_cli: Callable[..., Result], url: str, message: str
) -> None:
    extra = "      allowedHosts: [hooks.example.com, '*.hooks.example.com']\n"
    result = validate(quickstart, run_cli, url, extra)
    assert result.code == 1
    assert result.err.splitlines()[0] == f"{REL}:8: spec.executor.webhook.url: {message}"


def test_a_templated_host_is_checked_when_it_runs_not_by_validate(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    extra = "      allowedHosts: [hooks.example.com]\n"
    result = validate(quickstart, run_cli, "https://{{ parameters.host }}/hook", extra)
    assert (result.code, result.err) == (0, "")


def test_a_host_header_is_an_error(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    extra = "      allowedHosts: [hooks.example.com]\n      headers: {Host: internal.svc}\n"
    result = validate(quickstart, run_cli, "https://hooks.example.com/", extra)
    assert result.err.splitlines()[0] == (
        f"{REL}:10: spec.executor.webhook.headers: a Host header is not allowed: the url names "
        "the host"
    )


def test_a_call_timeout_longer_than_the_actions_is_an_error(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    """The action's timeout stops the whole action, retries and all: a longer call timeout
    would silently be cut short."""
    extra = "      allowedHosts: [hooks.example.com]\n      timeout: 2m\n  timeout: 90s\n"
    result = validate(quickstart, run_cli, "https://hooks.example.com/x", extra)
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        f"{REL}:10: spec.executor.webhook.timeout: 2m is longer than the action's timeout "
        "(90s, spec.timeout), which stops the whole action first: shorten it, or lengthen "
        "spec.timeout"
    )
    extra = "      allowedHosts: [hooks.example.com]\n      timeout: 90s\n  timeout: 90s\n"
    assert validate(quickstart, run_cli, "https://hooks.example.com/x", extra).code == 0
