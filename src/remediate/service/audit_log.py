"""The one audit reader and writer: snapshots of a commit's `audit/`, and pushed batches.

`read` folds `audit/` at a commit into request states (each file's size is checked
from git's tree listing before anything is read); `at_head` reads HEAD once per session;
`history` is what `plan` and `explain` know of the past. `write` commits and pushes what
a build makes of the latest snapshot; on rejection it fetches and rebuilds, so a batch's
`prev` links and `from` statuses always match the remote, and events whose ids are
already there (a push whose reply was lost) are not written again. Never forced: the
branch push itself is a compare-and-swap.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from remediate.core.audit import Event
from remediate.core.commits import Person, PushOutcome
from remediate.core.drafting import Batch, after, audit_files, message, new_id
from remediate.core.snapshot import AUDIT_DIR, AuditSnapshot, oversized, parse_files, snapshot
from remediate.errors import RemediateError, UserError
from remediate.service.plan import History
from remediate.service.ports import AuditReader
from remediate.service.session import Session

_PARSED: dict[str, tuple[list[Event], list[str]]] = {}  # file text → its events (add-only)


def read_files(store: AuditReader, rev: str | None) -> dict[str, str]:
    """Every audit file at `rev` (path → text); each size is checked before anything is read."""
    blobs = store.tree_blobs(rev, AUDIT_DIR)
    for path, _, size in blobs:
        refused = oversized(path, size)
        if refused:
            raise UserError(refused)
    return {path: store.blob_text(blob) for path, blob, _ in blobs}


def read(store: AuditReader, rev: str | None) -> AuditSnapshot:
    """The audit at `rev`, folded (files already parsed by this process are not again)."""
    files = read_files(store, rev)
    events: list[Event] = []
    problems: list[str] = []
    for path in sorted(files):
        key = path + "\0" + files[path]
        parsed = _PARSED.get(key)
        if parsed is None:
            parsed = _PARSED[key] = parse_files({path: files[path]})
        events += parsed[0]
        problems += parsed[1]
    return snapshot(events, rev, problems, len(files))


def at_head(session: Session) -> AuditSnapshot:
    """The audit at HEAD, read once per session."""
    found = session.memo.get("audit@HEAD")
    if found is None:
        found = session.memo["audit@HEAD"] = read(session.store, session.store.head())
    assert isinstance(found, AuditSnapshot)
    return found


def history(session: Session) -> History:
    """The recorded statuses, approvals, executions and requesters (for plan and explain).

    Outside a git repository, before the first commit or without `audit/`, nothing is
    recorded: every request is NEW, with no approvals to screen, so neither the audit
    nor the requesters need git (and `plan --base` stays fast).
    """
    root = session.root
    if not (root / ".git").exists() or not (root / AUDIT_DIR).is_dir():
        return History()
    try:
        return History(states=at_head(session).states, requesters=session.store.requesters())
    except RemediateError:
        return History()


@dataclass
class PushStats:
    commits: int = 0
    pushes: int = 0
    rejected: int = 0
    ambiguous: int = 0


def write(
    session: Session,
    build: Callable[[AuditSnapshot], Batch | None],
    now: datetime,
    author: Person,
    committer: Person,
    stats: PushStats | None = None,
) -> AuditSnapshot:
    """Commit and push what `build` makes of the latest snapshot; the snapshot written on."""
    store = session.store
    stats = stats or PushStats()
    last = ""
    attempts = session.env.push_attempts()
    for attempt in range(attempts):
        tip = store.fetch()
        snap = _known.get(tip or "") or read(store, tip)
        batch = build(snap)
        if batch is None or not batch.events:
            if tip is not None:
                store.fast_forward(tip)  # the checkout shows what the remote knows
            return snap
        files = audit_files(now, new_id(), batch.events)
        sha = store.make_commit(tip, files, message(batch), author, committer)
        stats.commits += 1
        if not store.has_upstream:
            store.fast_forward(sha)
            return _written(session, snap, sha, batch)
        stats.pushes += 1
        outcome, why = store.push_branch(sha)
        if outcome == PushOutcome.OK:
            store.fast_forward(sha)
            return _written(session, snap, sha, batch)
        if outcome == PushOutcome.REJECTED:
            stats.rejected += 1
        else:
            stats.ambiguous += 1  # the next fetch shows whether it landed: its ids are skipped
        time.sleep(random.uniform(0.01, 0.05) * min(2**attempt, 16))
        last = why
    raise UserError(f"could not push the audit after {attempts} attempts: {last}")


# A commit's audit is fixed by its hash: snapshots this process wrote need no re-reading.
_known: dict[str, AuditSnapshot] = {}


def _written(session: Session, snap: AuditSnapshot, sha: str, batch: Batch) -> AuditSnapshot:
    """The snapshot after `batch` landed on `snap` as commit `sha`, without re-reading it."""
    found = after(snap, sha, batch)
    if found is None:
        return read(session.store, sha)  # a batch that does not carry its states
    _known.clear()  # keep one: the latest
    _known[sha] = found
    return found
