"""The audit as read from git: events, their files, and the state of every request.

`request_states(root)` is what `plan` and `explain` use for requests that have
already started (their recorded status, approvals and prior executions).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from remediate.adapters.git_store import GitStore
from remediate.core.audit import Event, RequestState, fold
from remediate.core.decision import Execution
from remediate.errors import UserError

AUDIT_DIR = "audit"
# The largest audit file that is read: git's object size is checked before any content
# is. A file holds one batch of the runner's events (~1 KB each: a run deciding 10,000
# requests writes ~10 MB), and the runner splits a batch into numbered parts so that none
# is larger (`writeback.split_lines`). Reading 8 MiB costs ~50 MB of memory and well
# under a second; a larger file is someone else's, and stops every command that reads
# the audit (fail closed: its events would otherwise be missing from every state).
MIB = 1024 * 1024
MAX_FILE_BYTES = 8 * MIB


@dataclass
class AuditSnapshot:
    rev: str | None
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unreadable lines
    files: int = 0
    states: dict[str, RequestState] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)

    def state(self, request_id: str) -> RequestState:
        return self.states.get(request_id) or RequestState(request_id)

    def executions(self) -> tuple[Execution, ...]:
        return tuple(x for s in self.states.values() for x in s.executions)


def parse_files(files: dict[str, str]) -> tuple[list[Event], list[str]]:
    events: list[Event] = []
    problems: list[str] = []
    for path in sorted(files):
        for number, line in enumerate(files[path].splitlines(), 1):
            if not line.strip():
                continue
            try:
                events.append(Event.from_json(json.loads(line)))
            except ValueError as exc:
                problems.append(f"{path}:{number}: not an audit event: {exc}")
    return events, problems


def snapshot(
    events: Iterable[Event], rev: str | None, problems: list[str], files: int
) -> AuditSnapshot:
    listed = list(events)
    return AuditSnapshot(rev, listed, problems, files, fold(listed), {e.id for e in listed})


_PARSED: dict[str, tuple[list[Event], list[str]]] = {}  # file text → its events (add-only files)


def read_files(store: GitStore, rev: str | None) -> dict[str, str]:
    """Every audit file at `rev` (path → text); each size is checked before anything is read."""
    blobs = store.tree_blobs(rev, AUDIT_DIR)
    limit = MAX_FILE_BYTES
    for path, _, size in blobs:
        if size > limit:
            shown = f"{limit} bytes ({limit // MIB} MiB)" if limit % MIB == 0 else f"{limit} bytes"
            raise UserError(f"{path}: audit file is {size} bytes; the limit is {shown}; not read")
    return {path: store.blob_text(blob) for path, blob, _ in blobs}


def read_audit(store: GitStore, rev: str | None) -> AuditSnapshot:
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


def request_states(root: Path) -> dict[str, RequestState]:
    """Each request's recorded state (status, approvals, executions) as of HEAD."""
    store = GitStore(root)
    return read_audit(store, store.head()).states


def prior_executions(root: Path) -> tuple[Execution, ...]:
    """Every recorded execution start, for rate limits."""
    store = GitStore(root)
    return read_audit(store, store.head()).executions()
