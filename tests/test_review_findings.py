"""Reproductions of what the review of the issue-7 hardening round found still broken.

Each test states the contract's expectation and is marked xfail(strict=True): it fails
today, and the suite turns red (XPASS) the day a fix lands, so the marker is removed
with the fix. The report that goes with them is in the review branch's commit message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result

ADD_STAGING_REQUEST_ID = "rem-2026-0043"  # quickstart: flush-cache, session-store, staging


def _write(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _deny_policy(when: str, name: str = "review-deny") -> str:
    return (
        "apiVersion: remediate/v1\n"
        "kind: GuardrailPolicy\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        "  rules:\n"
        "    - name: deny-it\n"
        f"      when: {json.dumps(when)}\n"
        "      effect: deny\n"
    )


def _status_of(run_cli: Callable[..., Result], repo: Path, request: str, now: str) -> str:
    result = run_cli("plan", "--repo", str(repo), "--now", now, "--format", "json")
    assert result.code == 0, result.err
    decisions = {d["requestId"]: d for d in json.loads(result.out)["decisions"]}
    return str(decisions[request]["status"])


# --- Names in conditions: case and look-alikes in shapes the token checker does not see --


@pytest.mark.parametrize(
    "when",
    [
        '(request.environment) == "STAGING"',
        'request.environment == ("STAGING")',
        'request.environment in ["qa"] + ["STAGING"]',
        '["STAGING"].exists(e, e == request.environment)',
        '"STAGING" in [request.environment]',
        'request.environment.matches("^STAGING$")',
        '(request.environment) == "\u0455taging"',  # Cyrillic dze for the s
    ],
)
def test_a_name_literal_that_cannot_match_is_a_validate_error_in_any_shape(
    quickstart: Path, run_cli: Callable[..., Result], when: str
) -> None:
    _write(quickstart, "policies/review-deny.yaml", _deny_policy(when))
    validate = run_cli("validate", "--repo", str(quickstart))
    if validate.code == 1:  # reported at validate: what the contract asks
        assert "review-deny.yaml" in validate.err
        return
    # or, if the shape is accepted, the rule must do what it says: deny the staging request
    status = _status_of(run_cli, quickstart, ADD_STAGING_REQUEST_ID, "2026-11-23T10:00:00Z")
    assert status == "POLICY_VIOLATION", (validate.err, status)


# --- Symbolic links that silently drop documents ------------------------------------------


def test_a_dangling_symlink_where_documents_live_is_an_error(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    # e.g. a policy kept in a submodule or a directory the checkout does not have
    os.symlink("../shared/policies/deny-staging.yaml", quickstart / "policies" / "deny.yaml")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert "policies/deny.yaml" in result.err


def test_a_directory_symlink_inside_the_repository_is_walked_or_refused(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    _write(
        quickstart,
        "shared/policies/deny-staging.yaml",
        _deny_policy('request.environment == "staging"', "deny-staging"),
    )
    os.symlink("../shared/policies", quickstart / "policies" / "shared")
    validate = run_cli("validate", "--repo", str(quickstart))
    if validate.code == 1:
        assert "policies/shared" in validate.err
        return
    status = _status_of(run_cli, quickstart, ADD_STAGING_REQUEST_ID, "2026-11-23T10:00:00Z")
    assert status == "POLICY_VIOLATION"


# --- Times at the ends of the calendar: exit 70 ("a bug") -------------------------------

_WINDOW_POLICY = (
    "apiVersion: remediate/v1\n"
    "kind: GuardrailPolicy\n"
    "metadata: {name: review-window}\n"
    "spec:\n"
    "  match: {environments: [staging]}\n"
    "  changeWindows: [{cron: '0 9 * * 1-5', duration: 8h, timezone: Europe/Berlin}]\n"
)


@pytest.mark.parametrize("now", ["0001-01-01T00:00:00Z", "9999-12-31T20:00:00Z"])
def test_plan_now_at_the_ends_of_the_calendar_is_not_a_bug(
    quickstart: Path, run_cli: Callable[..., Result], now: str
) -> None:
    _write(quickstart, "policies/review-window.yaml", _WINDOW_POLICY)
    result = run_cli("plan", "--repo", str(quickstart), "--now", now)
    assert result.code in (0, 1, 2), result.err
    assert "internal error" not in result.err


def test_a_policy_test_near_the_end_of_the_calendar_is_not_a_bug(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    _write(quickstart, "policies/review-window.yaml", _WINDOW_POLICY)
    _write(
        quickstart,
        "policies/tests/review-edge.yaml",
        "apiVersion: remediate/v1\n"
        "kind: PolicyTest\n"
        "metadata: {name: review-edge}\n"
        "spec:\n"
        "  cases:\n"
        "    - name: year 9999\n"
        "      request:\n"
        "        action: {type: flush-cache, parameters: {namespace: sessions}}\n"
        "        serviceName: session-store\n"
        "        environment: staging\n"
        "        severity: LOW\n"
        "      context: {now: '9999-12-31T23:00:00Z'}\n"
        "      expect: {status: QUEUED}\n",
    )
    validate = run_cli("validate", "--repo", str(quickstart))
    if validate.code == 1:  # refused at its line (times are bounded to 1970..9000): fine
        assert "policies/tests/review-edge.yaml:" in validate.err
    else:
        assert validate.code == 0, validate.err
    result = run_cli("policy", "test", "--repo", str(quickstart))
    assert result.code in (0, 1), result.err
    assert "internal error" not in result.err


def test_an_exception_expiry_at_the_start_of_the_calendar_is_not_a_bug(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    _write(
        quickstart,
        "policies/review-exception.yaml",
        "apiVersion: remediate/v1\n"
        "kind: GuardrailPolicy\n"
        "metadata: {name: review-exception}\n"
        "spec:\n"
        "  exceptions:\n"
        "    - owner: alice@example.com\n"
        "      reason: review\n"
        "      expires: '0001-01-01T00:00:00+14:00'\n"
        "      services: [api-gateway]\n",
    )
    validate = run_cli("validate", "--repo", str(quickstart))
    result = run_cli("plan", "--repo", str(quickstart), "--now", "2026-11-23T10:00:00Z")
    if validate.code == 1:  # refused at its line: fine
        return
    assert result.code in (0, 1), result.err
    assert "internal error" not in result.err


# --- DST with a 30-minute shift (Australia/Lord_Howe) -------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        "2026-10-03T15:40:00Z",  # 02:40 local (+11:00): 10 minutes after the 02:30 opening
        "2026-04-04T15:10:00Z",  # 01:40 local (+10:30), second pass: after the 2nd 01:30
    ],
)
def test_hourly_windows_on_lord_howe_dst_nights_open_at_every_local_half_hour(
    quickstart: Path, run_cli: Callable[..., Result], now: str
) -> None:
    _write(
        quickstart,
        "policies/review-window.yaml",
        "apiVersion: remediate/v1\n"
        "kind: GuardrailPolicy\n"
        "metadata: {name: review-window}\n"
        "spec:\n"
        "  match: {environments: [staging]}\n"
        "  changeWindows: [{cron: '30 * * * *', duration: 30m, timezone: Australia/Lord_Howe}]\n",
    )
    result = run_cli("plan", "--repo", str(quickstart), "--now", now, "--format", "json")
    assert result.code == 0, result.err
    decisions = {d["requestId"]: d for d in json.loads(result.out)["decisions"]}
    assert decisions[ADD_STAGING_REQUEST_ID]["notBefore"] is None


# --- The plan that the scaffolded workflow writes into the job summary -------------------


def test_plan_markdown_stays_within_the_job_summary_limit(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    base = (quickstart / "remediations" / "2026" / "rem-2026-0043.yaml").read_text()
    for i in range(10000):
        text = base.replace("rem-2026-0043", f"rem-review-{i:05d}-{'x' * 40}")
        _write(quickstart, f"remediations/bulk/r{i}.yaml", text)
    result = run_cli("plan", "--repo", str(quickstart), "--format", "markdown")
    assert result.code == 0, result.err
    assert len(result.out.encode()) <= 1024 * 1024
    assert "more" in result.out.splitlines()[-1] or "more" in result.out[-300:]


# --- Redaction: wrapped base64 with an indent -----------------------------------------------


def test_indented_wrapped_base64_of_a_secret_is_redacted() -> None:
    import base64

    from remediate.executors.redaction import REDACTED, Redactor

    secret = "s3cr3t-T0ken/with+plus=and space"
    encoded = base64.b64encode(secret.encode()).decode()
    text = "\n".join("    " + encoded[i : i + 20] for i in range(0, len(encoded), 20))
    redacted = Redactor([secret])(text)
    assert REDACTED in redacted
    assert encoded[4:16] not in redacted.replace("\n", "").replace(" ", "")
