"""Errors for people and machines: JSON on stdout, document errors with their key path,
failures with their reason and retry time, an unreachable remote in one sentence."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.conftest import Result
from tests.runner_support import action_yaml, apply_at, clone, git, make_remote, request_yaml

Run = Callable[..., Result]
MONDAY = "2026-11-23T10:00:00Z"
REQUEST = "remediations/2026/rem-2026-0042.yaml"


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDIATE_NOW", MONDAY)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def test_json_errors_are_on_stdout_too(run_cli: Run, quickstart: Path) -> None:
    r = run_cli("explain", "rem-missing", "--repo", str(quickstart), "--format", "json")
    message = "no request named 'rem-missing' in remediations/"
    assert (r.code, r.err) == (1, f"remediate: {message}\n")
    assert json.loads(r.out) == {"error": {"message": message, "code": 1}}
    r = run_cli("plan", "--repo", str(quickstart), "--now", "monday", "--format", "json")
    assert r.code == 2
    assert json.loads(r.out)["error"] == {
        "message": "--now monday: not an RFC 3339 time with an offset (e.g. 2026-11-23T10:00:00Z)",
        "code": 2,
    }


def test_json_errors_of_click_misuse(run_cli: Run, quickstart: Path) -> None:
    r = run_cli("actions", "--repo", str(quickstart), "--format", "json", "--limit", "x")
    assert r.code == 2
    assert json.loads(r.out) == {
        "error": {"message": "Invalid value for '--limit': 'x' is not a valid integer.", "code": 2}
    }
    assert "Error: Invalid value for '--limit'" in r.err
    r = run_cli("status", "--format=json", "--bogus")
    assert r.code == 2
    assert json.loads(r.out)["error"]["message"].startswith("No such option")


def test_json_error_of_a_bug_is_short_and_has_no_traceback(
    run_cli: Run, quickstart: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import remediate.service.query

    def boom(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(remediate.service.query, "status", boom)
    monkeypatch.delenv("REMEDIATE_DEBUG", raising=False)
    r = run_cli("status", "--repo", str(quickstart), "--format", "json")
    assert r.code == 70
    assert json.loads(r.out) == {
        "error": {"message": "internal error: RuntimeError: boom", "code": 70}
    }
    assert "Traceback" not in r.err


def test_plan_json_gives_each_document_error(run_cli: Run, quickstart: Path) -> None:
    bad = quickstart / "policies" / "production-safety.yaml"
    bad.write_text(
        bad.read_text().replace('request.severity in ["HIGH", "CRITICAL"]', "request.severity ==")
    )
    r = run_cli("plan", "--repo", str(quickstart), "--now", MONDAY, "--format", "json")
    assert r.code == 1
    body = json.loads(r.out)
    assert body["error"] == {"message": "1 document error(s); nothing was run", "code": 1}
    (error,) = body["errors"]
    assert list(error) == ["file", "line", "path", "message", "severity"]
    assert error["file"] == "policies/production-safety.yaml"
    assert error["path"] == "spec.rules[0].when"
    assert error["message"].startswith("spec.rules[0].when: not a valid CEL expression")
    assert isinstance(error["line"], int) and error["line"] > 0


def test_validate_json_errors_carry_their_key_path(run_cli: Run, quickstart: Path) -> None:
    path = quickstart / REQUEST
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["severity"] = "URGENT"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = run_cli("validate", "--repo", str(quickstart), "--format", "json")
    assert r.code == 1
    assert json.loads(r.out)["errors"] == [
        {
            "file": REQUEST,
            "line": 12,
            "path": "spec.severity",
            # unchanged: `message` is the whole sentence, key path first, as printed
            "message": 'spec.severity: "URGENT" is not one of: LOW, MEDIUM, HIGH, CRITICAL',
            "severity": "error",
        }
    ]


# -- failures -----------------------------------------------------------------------------

FAILING = ["/bin/sh", "-c", "echo 'disk full' >&2; exit 3"]


def failing_repo(tmp: Path) -> tuple[Path, Path]:
    bare = make_remote(
        tmp,
        "allow",
        actions={
            "flaky": action_yaml("flaky", FAILING, idempotent=True, retries=1, backoff="1h"),
            "once": action_yaml("once", FAILING),
        },
        requests={
            "rem-1": request_yaml("rem-1", action="flaky"),
            "rem-2": request_yaml("rem-2", action="once", service="web"),
        },
    )
    return bare, clone(tmp, bare, "work")


def test_apply_prints_each_failure_with_its_reason_and_retry(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, work = failing_repo(tmp_path)
    monkeypatch.chdir(work)
    r = run_cli("apply")
    assert r.code == 1
    # the runner's real clock: the retry is due an hour (the backoff) after the failure
    assert any(
        re.fullmatch(r"rem-1: executed → FAILED: exited with status 3; retry 1 of 1 at \S+Z", x)
        for x in r.out.splitlines()
    )
    assert (
        "rem-2: executed → FAILED: exited with status 3; "
        "not retried: action type once is not idempotent"
    ) in r.out.splitlines()
    r = run_cli("apply", "--format", "json")
    assert r.code == 0  # nothing ran: the retry waits for its backoff
    assert json.loads(r.out)["failures"] == []
    done = apply_at(work, timedelta(hours=2))  # the runner's clock, injected: past the backoff
    assert done.returncode == 1
    assert json.loads(done.stdout)["failures"] == [
        {
            "requestId": "rem-1",
            "error": "exited with status 3",
            "outcomeUnknown": False,
            "retryAt": None,
            "notRetried": "no retries left (1 of 1 used)",
        }
    ]


def test_explain_a_failed_request_says_why_and_what_would_change_it(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, work = failing_repo(tmp_path)
    monkeypatch.chdir(work)
    assert run_cli("apply").code == 1
    git(work, "pull", "-q", "--ff-only")
    r = run_cli("explain", "rem-2")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert re.fullmatch(
        r"  The action failed at \S+Z \(attempt 1\): exited with status 3\.", lines[1]
    )
    assert lines[:1] + lines[2:] == [
        "rem-2: FAILED (remediations/rem-2.yaml)",
        "What would change it:",
        "  - action type once is not idempotent, so a failed request is never retried: "
        "a new action needs a new request (a new file under remediations/).",
    ]
    r = run_cli("explain", "rem-1", "--format", "json")
    body = json.loads(r.out)
    assert body["status"] == "QUEUED"
    assert re.fullmatch(
        r"the last attempt failed \(exited with status 3\); retry 1 of 1 is due at "
        r"\S+Z: the first apply from then on runs it\.",
        body["whatWouldChangeIt"][-1],
    )
    assert apply_at(work, timedelta(hours=2)).returncode == 1  # the runner's clock, injected
    git(work, "pull", "-q", "--ff-only")
    r = run_cli("explain", "rem-1")
    lines = r.out.splitlines()
    assert re.fullmatch(
        r"  The action failed at \S+Z \(attempt 2\): exited with status 3\.", lines[1]
    )
    assert lines[2:] == [
        "What would change it:",
        "  - its retries are used up (1 of 1, retries.max of action type flaky): "
        "a new action needs a new request (a new file under remediations/).",
    ]


def test_an_unreachable_remote_is_one_sentence(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, work = failing_repo(tmp_path)
    monkeypatch.chdir(work)
    gone = tmp_path / "gone.git"
    git(work, "remote", "set-url", "origin", str(gone))
    r = run_cli("apply")
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        f"remediate: cannot reach the remote origin ({gone}): "
        "it does not appear to be a git repository\n"
    )
    git(work, "remote", "set-url", "origin", "https://runner:s3cret-token@127.0.0.1:9/x.git")
    r = run_cli("approve", "rem-1", "--format", "json")
    assert r.code == 1
    assert len(r.err.splitlines()) == 1
    assert r.err.startswith(
        "remediate: cannot reach the remote origin (https://127.0.0.1:9/x.git): "
    )
    assert "s3cret" not in r.err + r.out
    assert json.loads(r.out)["error"]["message"] == r.err[len("remediate: ") :].rstrip("\n")
