"""`audit verify`: every chain intact, and git history shows only the runner adding files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediate.adapters.git_store import AuditCommit, GitStore
from remediate.core.audit import check_chains
from remediate.core.model import build_repository
from remediate.errors import UserError
from remediate.service.state import AUDIT_DIR, read_audit
from remediate.service.validate import validate


@dataclass
class VerifyReport:
    events: int = 0
    files: int = 0
    commits: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "files": self.files,
            "commits": self.commits,
            "problems": self.problems,
        }


def verify(root: Path) -> VerifyReport:
    if not root.is_dir():
        from remediate.errors import UsageError

        raise UsageError(f"--repo {root}: not a directory")
    store = GitStore(root)
    runner = build_repository(validate(root).documents).settings.runner_email
    rev = store.head()
    snap = read_audit(store, rev)
    report = VerifyReport(len(snap.events), snap.files, problems=list(snap.problems))
    report.problems += check_chains(snap.events)
    history = store.audit_history(rev, AUDIT_DIR)
    report.commits = len(history)
    report.problems += foreign_changes(history, runner)
    return report


def foreign_changes(history: list[AuditCommit], runner: str) -> list[str]:
    """Audit changes the runner did not make: another committer, or a file modified or deleted."""
    problems = []
    for commit in history:
        if commit.committer.casefold() != runner.casefold():
            problems.append(
                f"commit {commit.sha[:12]} changed {AUDIT_DIR}/ but was committed by "
                f"{commit.committer}, not the runner ({runner})"
            )
        for letter, path in commit.changes:
            if letter != "A":
                verb = {"D": "deleted", "M": "modified"}.get(letter, f"changed ({letter})")
                problems.append(
                    f"commit {commit.sha[:12]} {verb} {path}: audit files are only ever added"
                )
    return problems


def require_runner_only(store: GitStore, rev: str | None, runner: str) -> None:
    """Refuse to act on an audit log that holds changes the runner did not make.

    State is a fold over the events; an event someone else committed (a forged
    approval, an edited status) must never queue or run anything.
    """
    found = foreign_changes(store.audit_history(rev, AUDIT_DIR), runner)
    if found:
        shown = "\n  ".join(found[:10]) + (
            f"\n  … and {len(found) - 10} more" if len(found) > 10 else ""
        )
        raise UserError(
            "the audit log holds changes the runner did not make; nothing was done "
            f"(`remediate audit verify` lists them):\n  {shown}"
        )


def foreign_changes_since(root: Path, base: str, runner: str) -> list[str]:
    """`foreign_changes` in the commits after `base` (what a pull request would bring)."""
    store = GitStore(root)
    return foreign_changes(store.audit_history(f"{base}..HEAD", AUDIT_DIR), runner)
