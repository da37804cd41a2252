"""Changes under audit/ that the runner did not make are refused before anything acts on them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, git


def test_plan_base_refuses_a_pull_request_that_forges_audit_events(
    applied: Path, run_cli: Callable[..., Result]
) -> None:
    git(applied, "checkout", "-qb", "forge")
    (applied / "audit" / "forged.jsonl").write_text("{}\n")
    git(applied, "add", "-A")
    git(applied, "commit", "-qm", "approve it myself")
    sha = git(applied, "rev-parse", "--short=12", "HEAD").strip()
    result = run_cli("plan", "--base", "main")
    assert result.code == 1
    assert result.err.splitlines()[-2:] == [
        "remediate: 1 document error(s); nothing was run",
        f"audit/: audit/forged.jsonl: added by commit {sha} (committed by alice@example.com, "
        f"not the runner (remediate-bot@example.com)); `git revert {sha}` undoes it",
    ]


def test_plan_base_accepts_runner_commits_and_ignores_unrelated_changes(
    applied: Path, run_cli: Callable[..., Result]
) -> None:
    result = run_cli("plan", "--base", "HEAD~3", "--format", "json")
    assert result.code == 0, result.err


@pytest.mark.parametrize(
    "command", [("apply",), ("approve", "rem-2026-0042", "--reason", "forged")]
)
def test_acting_commands_refuse_audit_events_the_runner_did_not_commit(
    applied: Path, run_cli: Callable[..., Result], command: tuple[str, ...]
) -> None:
    """A forged approval event, even with a plausible chain, never queues or runs anything."""
    forged = applied / "audit" / "forged.jsonl"
    forged.write_text('{"id": "x", "requestId": "rem-2026-0042", "to": "QUEUED"}\n')
    git(applied, "add", "-A")
    git(applied, "commit", "-qm", "approve it myself")
    git(applied, "push", "-q")
    sha = git(applied, "rev-parse", "--short=12", "HEAD").strip()
    git(applied, "config", "user.email", "bob@example.com")
    before = git(applied, "ls-remote", "origin")
    result = run_cli(*command)
    assert result.code == 1
    assert result.err.splitlines() == [
        "remediate: the audit log holds changes the runner did not make; nothing was done "
        "(`remediate audit verify` lists them):",
        f"  audit/forged.jsonl: added by commit {sha} (committed by alice@example.com, "
        f"not the runner (remediate-bot@example.com)); `git revert {sha}` undoes it",
    ]
    assert git(applied, "ls-remote", "origin") == before  # nothing pushed, nothing claimed
