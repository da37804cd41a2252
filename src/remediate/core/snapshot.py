"""The audit as files: events parsed from JSON Lines, and the folded snapshot of a commit.

Pure: the caller reads the files (`service.audit_log`); a file larger than
`MAX_FILE_BYTES` is refused from its size before anything of it is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from remediate.core.audit import Event, RequestState, fold
from remediate.core.decision import Execution

AUDIT_DIR = "audit"
# The largest audit file that is read: git's object size is checked before any content
# is. A file holds one batch of the runner's events (~1 KB each: a run deciding 10,000
# requests writes ~10 MB), and the runner splits a batch into numbered parts so that none
# is larger (`core.drafting.split_lines`). Reading 8 MiB costs ~50 MB of memory and well
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


def oversized(path: str, size: int) -> str | None:
    """Why the audit file `path` of `size` bytes is not read, or None when it may be."""
    limit = MAX_FILE_BYTES
    if size <= limit:
        return None
    shown = f"{limit} bytes ({limit // MIB} MiB)" if limit % MIB == 0 else f"{limit} bytes"
    return f"{path}: audit file is {size} bytes; the limit is {shown}; not read"
