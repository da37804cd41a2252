"""`audit verify`: every chain intact, and git history shows only the runner adding files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from remediate.core.chains import check_chains
from remediate.core.commits import AuditCommit
from remediate.core.model import build_repository
from remediate.core.snapshot import AUDIT_DIR
from remediate.errors import UserError
from remediate.service import audit_log
from remediate.service.ports import AuditReader
from remediate.service.session import Session


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


def verify(session: Session) -> VerifyReport:
    """Every chain at HEAD, and who changed `audit/`: the runner's identity comes from
    the settings, loaded fail closed (an invalid `remediate.yaml` is reported as such,
    never read as "no runner identity")."""
    runner = build_repository(session.documents.load_paths(())).settings.runner_email
    store = session.store
    rev = store.head()
    snap = audit_log.read_all(store, rev)
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


def require_runner_only(
    store: AuditReader, rev: str | None, runner: str, since: str | None = None
) -> None:
    """Refuse to act on an audit log that holds changes the runner did not make.

    State is a fold over the events; an event someone else committed (a forged
    approval, an edited status) must never queue or run anything. With `since` (the
    commit of the runner's checkpoint the state rests on), only the commits after it
    are judged: those before were judged when the runner wrote the checkpoint.
    """
    span = f"{since}..{rev}" if since and rev else rev
    found = foreign_changes(store.audit_history(span, AUDIT_DIR), runner)
    if found:
        shown = "\n  ".join(found[:10]) + (
            f"\n  … and {len(found) - 10} more" if len(found) > 10 else ""
        )
        raise UserError(
            "the audit log holds changes the runner did not make; nothing was done "
            f"(`remediate audit verify` lists them):\n  {shown}"
        )


def foreign_changes_since(store: AuditReader, base: str, runner: str) -> list[str]:
    """`foreign_changes` in the commits after `base` (what a pull request would bring)."""
    return foreign_changes(store.audit_history(f"{base}..HEAD", AUDIT_DIR), runner)
