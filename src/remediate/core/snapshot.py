"""The audit as files: events parsed from JSON Lines, and the folded snapshot of a commit.

Pure: the caller reads the files (`service.audit_log`); a file larger than
`MAX_FILE_BYTES` is refused from its size before anything of it is read. A snapshot's
states are a dict (every event folded) or `Layered`: a checkpoint's states, read by
bucket on first use, under the states of the events added since (`core.checkpoint`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from remediate.core.audit import Event, RequestState, fold
from remediate.core.decision import Execution
from remediate.core.lifecycle import FINAL

AUDIT_DIR = "audit"
# The largest audit file that is read: git's object size is checked before any content
# is. A file holds one batch of the runner's events (~1 KB each: a run deciding 10,000
# requests writes ~10 MB), and the runner splits a batch into numbered parts so that none
# is larger (`core.drafting.split_lines`). Reading 8 MiB costs ~50 MB of memory and well
# under a second; a larger file is someone else's, and stops every command that reads
# the audit (fail closed: its events would otherwise be missing from every state).
MIB = 1024 * 1024
MAX_FILE_BYTES = 8 * MIB


class Base(Protocol):
    """What a checkpoint holds, read on demand (`service.checkpoint.Stored`)."""

    @property
    def active(self) -> tuple[str, ...]: ...

    def state(self, request_id: str) -> RequestState | None: ...

    def every(self) -> dict[str, RequestState]: ...

    def executions(self) -> list[Execution]: ...


class Layered(Mapping[str, RequestState]):
    """A checkpoint's states (`base`), with the states of later events on top."""

    def __init__(self, base: Base, top: Mapping[str, RequestState]) -> None:
        self.base, self.top = base, dict(top)

    def __getitem__(self, request_id: str) -> RequestState:
        found = self.top.get(request_id) or self.base.state(request_id)
        if found is None:
            raise KeyError(request_id)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter({**self.base.every(), **self.top})

    def __len__(self) -> int:
        return len({**self.base.every(), **self.top})

    def active(self) -> list[RequestState]:
        names = dict.fromkeys((*self.base.active, *self.top))
        found = (self.get(name) for name in names)
        return [s for s in found if s is not None and s.status not in FINAL]

    def executions(self) -> tuple[Execution, ...]:
        kept = [x for x in self.base.executions() if x.request_id not in self.top]
        return (*kept, *(x for s in self.top.values() for x in s.executions))


@dataclass
class AuditSnapshot:
    rev: str | None
    events: list[Event] = field(default_factory=list)  # read (since the checkpoint, if any)
    problems: list[str] = field(default_factory=list)  # unreadable lines
    files: int = 0
    states: Mapping[str, RequestState] = field(default_factory=dict)
    base: str | None = None  # the commit of the checkpoint the states rest on
    checkpoint: str | None = None  # that checkpoint's own commit

    def state(self, request_id: str) -> RequestState:
        return self.states.get(request_id) or RequestState(request_id)

    def recorded(self, request_id: str, event_id: str) -> bool:
        """Is an event with this id already in the request's chain?"""
        return event_id in self.state(request_id).ids

    def active(self) -> list[RequestState]:
        """The states of requests that are not final."""
        if isinstance(self.states, Layered):
            return self.states.active()
        return [s for s in self.states.values() if s.status not in FINAL]

    def executions(self) -> tuple[Execution, ...]:
        if isinstance(self.states, Layered):
            return self.states.executions()
        return tuple(x for s in self.states.values() for x in s.executions)

    def extended(
        self, rev: str, events: list[Event], states: Mapping[str, RequestState], files: int
    ) -> AuditSnapshot:
        """This snapshot once `events` (leading to `states`) landed in `files` new files as `rev`."""
        merged: Mapping[str, RequestState]
        if isinstance(self.states, Layered):
            merged = Layered(self.states.base, {**self.states.top, **states})
        else:
            merged = {**self.states, **states}
        return AuditSnapshot(
            rev,
            self.events + events,
            self.problems,
            self.files + files,
            merged,
            self.base,
            self.checkpoint,
        )


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
    return AuditSnapshot(rev, listed, problems, files, fold(listed))


def oversized(path: str, size: int) -> str | None:
    """Why the audit file `path` of `size` bytes is not read, or None when it may be."""
    limit = MAX_FILE_BYTES
    if size <= limit:
        return None
    shown = f"{limit} bytes ({limit // MIB} MiB)" if limit % MIB == 0 else f"{limit} bytes"
    return f"{path}: audit file is {size} bytes; the limit is {shown}; not read"
