"""`audit verify` and the guard of every acting command: every chain intact, and every
audit file at the tip what a runner commit added (`core.authorship` holds the rules)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from remediate.core.authorship import Problem, RunnerTrust, as_trust, judge
from remediate.core.chains import check_chains
from remediate.core.model import build_repository
from remediate.core.snapshot import AUDIT_DIR, AuditSnapshot
from remediate.errors import RemediateError, UserError
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
    """Every chain at HEAD, and who wrote `audit/`: the runner's identities and keys come
    from the settings, loaded fail closed (an invalid `remediate.yaml` is reported as such,
    never read as "no runner identity")."""
    trust = build_repository(session.documents.load_paths(())).settings.runner_trust
    store = session.store
    rev = store.head()
    snap = audit_log.read_all(store, rev)
    report = VerifyReport(len(snap.events), snap.files, problems=list(snap.problems))
    report.problems += check_chains(snap.events)
    found, report.commits = authorship(store, rev, trust)
    report.problems += [str(p) for p in found]
    return report


# -- the guard's rules: who may have written audit/ (core.authorship) ---------------------


def authorship(
    store: AuditReader, rev: str | None, trust: RunnerTrust | str, since: str | None = None
) -> tuple[list[Problem], int]:
    """Every audit file at `rev` that is not what a runner commit added (or a runner's file
    that is gone), judged on what changed after `since` (a commit already judged: the
    runner's checkpoint), else on everything; and how many commits were looked at."""
    trust = before_signing(store, as_trust(trust))
    if rev is None:
        return [], 0
    if since:
        changed = [
            (letter, path, blob) for letter, path, blob, _ in store.added(since, rev, AUDIT_DIR)
        ]
        span = f"{since}..{rev}"
    else:
        changed = [("A", path, blob) for path, blob, _ in store.tree_blobs(rev, AUDIT_DIR)]
        span = rev
    history = store.audit_history(span, AUDIT_DIR, trust.keys)
    at_tip = {path for letter, path, _ in changed if letter != "D"}
    if since:  # a runner file added after `since` and not in the diff: is it still there?
        added = {
            p for c in history if trust.is_runner(c) for letter, p, _ in c.changes if letter == "A"
        }
        for path in sorted(added - at_tip):
            at_tip.update(found for found, _, _ in store.tree_blobs(rev, path))
    return judge(changed, history, trust, at_tip, retired(store, rev)), len(history)


def before_signing(store: AuditReader, trust: RunnerTrust) -> RunnerTrust:
    """`trust` knowing which audit commits predate signing: `runner.signingSince` and its
    ancestors (a commit id fixes its whole history, so none can be added later). A
    commit this clone does not have exempts nothing (fail closed: they are refused)."""
    if not trust.signing or not trust.since or trust.unsigned:
        return trust
    key = (id(store), trust.since)
    if key not in _unsigned:
        sha = store.resolve(trust.since)
        history = store.audit_history(sha, AUDIT_DIR) if sha else []
        _unsigned[key] = frozenset(c.sha for c in history)
    return replace(trust, unsigned=_unsigned[key])


_unsigned: dict[tuple[int, str], frozenset[str]] = {}  # per store: signingSince's history


def retired(store: AuditReader, rev: str | None) -> frozenset[str]:
    """Audit files a retention checkpoint replaced, whose absence is no problem. The hook
    for `retention enforce` (a later issue): none yet."""
    return frozenset()


def require_runner_only(
    store: AuditReader, rev: str | None, runner: RunnerTrust | str, since: str | None = None
) -> None:
    """Refuse to act on an audit log holding files the runner did not write as they are.

    State is a fold over the events; an event someone else wrote (a forged approval, an
    edited status) must never queue or run anything. With `since` (the commit of the
    runner's checkpoint the state rests on), only what changed after it is judged: what
    came before was judged when the runner wrote the checkpoint.
    """
    found, _ = authorship(store, rev, runner, since)
    if found:
        shown = "\n  ".join(str(p) for p in found[:10]) + (
            f"\n  … and {len(found) - 10} more" if len(found) > 10 else ""
        )
        raise UserError(
            "the audit log holds changes the runner did not make; nothing was done "
            f"(`remediate audit verify` lists them):\n  {shown}"
        )


def foreign_changes_since(store: AuditReader, base: str, runner: RunnerTrust | str) -> list[str]:
    """What HEAD (a pull request) brings to `audit/` that the runner did not write."""
    head = store.head()
    return foreign_changes(store, base, head, runner) if head else []


def foreign_changes(
    store: AuditReader, base: str, head: str, runner: RunnerTrust | str
) -> list[str]:
    """What `head` brings to `audit/` that the runner did not write, judged from where it
    left `base` (their merge base), so newer runner files on `base` are no "deletion"."""
    fork = store.merge_base(base, head)
    found, _ = authorship(store, head, runner, since=fork or base)
    return [str(p) for p in found]


def unverified(session: Session, snap: AuditSnapshot, trust: RunnerTrust | None) -> None:
    """Warn (once) when what a read command shows rests on an audit log that fails
    verification: a file the runner did not write, or an unreadable line."""
    if trust is None or snap.rev is None:
        return
    try:
        found, _ = authorship(session.store, snap.rev, trust, snap.base)
    except RemediateError:
        return
    count = len(found) + len(snap.problems)
    if count:
        session.warn(
            f"what this shows rests on an audit log that fails verification ({count} "
            "problem(s)): `remediate audit verify` names them and how to undo them"
        )
