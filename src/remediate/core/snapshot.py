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
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from remediate.core import streams as st
from remediate.core.audit import AnyEvent, Event, RequestState, fold, parse_event
from remediate.core.decision import Execution
from remediate.core.lifecycle import FINAL
from remediate.core.streams import Key, StreamEvent, StreamState

if TYPE_CHECKING:
    from remediate.core.checkpoint import StreamIndex

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

    def executions(self, since: datetime | None = None) -> list[Execution]:
        """Every execution start later than `since` (all for None), and maybe earlier ones."""
        ...

    def streams(self) -> dict[Key, StreamState]: ...

    def stream_state(self, key: Key) -> StreamState | None: ...

    def stream_states(self, stream: str) -> dict[Key, StreamState]: ...

    def index(self, stream: str) -> StreamIndex | None: ...


class Layered(Mapping[str, RequestState]):
    """A checkpoint's states (`base`), with the states of later events on top; `gone`:
    requests of the checkpoint that the snapshot does not hold (it is of an earlier
    commit: `service.checkpoint.behind`)."""

    def __init__(
        self, base: Base, top: Mapping[str, RequestState], gone: frozenset[str] = frozenset()
    ) -> None:
        self.base, self.top, self.gone = base, dict(top), gone

    def __getitem__(self, request_id: str) -> RequestState:
        if request_id in self.gone:
            raise KeyError(request_id)
        found = self.top.get(request_id) or self.base.state(request_id)
        if found is None:
            raise KeyError(request_id)
        return found

    def _every(self) -> dict[str, RequestState]:
        every = {**self.base.every(), **self.top}
        for name in self.gone:
            every.pop(name, None)
        return every

    def __iter__(self) -> Iterator[str]:
        return iter(self._every())

    def __len__(self) -> int:
        return len(self._every())

    def active(self) -> list[RequestState]:
        names = dict.fromkeys((*self.base.active, *self.top))
        found = (self.get(name) for name in names)
        return [s for s in found if s is not None and s.status not in FINAL]

    def executions(self, since: datetime | None = None) -> tuple[Execution, ...]:
        replaced = self.top.keys() | self.gone
        kept = [x for x in self.base.executions(since) if x.request_id not in replaced]
        return _later((*kept, *(x for s in self.top.values() for x in s.executions)), since)


class LayeredStreams(Mapping[Key, StreamState]):
    """A checkpoint's stream states (read on first use), with later events' on top."""

    def __init__(
        self, base: Base, top: Mapping[Key, StreamState], gone: frozenset[Key] = frozenset()
    ) -> None:
        self.base, self.top, self.gone = base, dict(top), gone
        self._all: dict[Key, StreamState] | None = None

    def _every(self) -> dict[Key, StreamState]:
        if self._all is None:
            self._all = {**self.base.streams(), **self.top}
            for key in self.gone:
                self._all.pop(key, None)
        return self._all

    def __getitem__(self, key: Key) -> StreamState:
        """One subject: from the top, else its checkpoint bucket alone."""
        if key in self.top:
            return self.top[key]
        found = None if key in self.gone else self.base.stream_state(key)
        if found is None:
            raise KeyError(key)
        return found

    def of_stream(self, stream: str) -> dict[Key, StreamState]:
        """The subjects of one stream: only its buckets are read."""
        if self._all is not None:
            return {k: s for k, s in self._all.items() if k[0] == stream}
        found = {**self.base.stream_states(stream)}
        found.update((k, s) for k, s in self.top.items() if k[0] == stream)
        for key in self.gone:
            found.pop(key, None)
        return found

    def __iter__(self) -> Iterator[Key]:
        return iter(self._every())

    def __len__(self) -> int:
        return len(self._every())


@dataclass
class AuditSnapshot:
    rev: str | None
    events: list[Event] = field(default_factory=list)  # read (since the checkpoint, if any)
    problems: list[str] = field(default_factory=list)  # unreadable lines
    files: int = 0
    states: Mapping[str, RequestState] = field(default_factory=dict)
    base: str | None = None  # the commit of the checkpoint the states rest on
    checkpoint: str | None = None  # that checkpoint's own commit
    others: list[StreamEvent] = field(default_factory=list)  # events of the other streams
    streams: Mapping[Key, StreamState] = field(default_factory=dict)  # (stream, subject) →
    # the later checkpoint commit whose states, less what came after `rev`, these are (a
    # checkout behind the runner: `service.checkpoint.behind`); `base` is None then
    ahead: str | None = None

    def state(self, request_id: str) -> RequestState:
        return self.states.get(request_id) or RequestState(request_id)

    def subject(self, stream: str, subject: str) -> StreamState:
        """The state of one subject of a stream other than `requests`."""
        return self.streams.get((stream, subject)) or st.start(stream, subject)

    def stream(self, stream: str) -> dict[str, StreamState]:
        """Every subject of `stream` (other than `requests`): subject → state."""
        if isinstance(self.streams, LayeredStreams):
            return {key[1]: state for key, state in self.streams.of_stream(stream).items()}
        return {key[1]: state for key, state in self.streams.items() if key[0] == stream}

    def indexed(self, stream: str) -> tuple[StreamIndex, list[StreamState]] | None:
        """The checkpoint's index of `stream` (`core.checkpoint.StreamIndex`) and the
        states of its subjects changed since, when this snapshot is the checkpoint's
        commit or one after it and the index is of the buckets it holds; else None (read
        `stream`)."""
        layered = self.streams
        if not isinstance(layered, LayeredStreams) or self.base is None or layered.gone:
            return None
        index = layered.base.index(stream)
        if index is None:
            return None
        return index, [s for k, s in sorted(layered.top.items()) if k[0] == stream]

    def requesting(self, stream: str) -> list[StreamState]:
        """The subjects of `stream` whose value may list a request not settled, by
        subject: from the checkpoint's index those it lists and those changed since (every
        other listed only settled requests, which stay settled), else every subject."""
        found = self.indexed(stream)
        if found is None:
            return [s for _, s in sorted(self.stream(stream).items())]
        index, top = found
        changed = {s.subject for s in top}
        states = {s.subject: s for s in top}
        for subject in index.requesting:
            if subject not in changed:
                states[subject] = self.subject(stream, subject)
        return [states[subject] for subject in sorted(states)]

    def recorded(self, request_id: str, event_id: str) -> bool:
        """Is an event with this id already in the request's chain?"""
        return event_id in self.state(request_id).ids

    def active(self) -> list[RequestState]:
        """The states of requests that are not final."""
        if isinstance(self.states, Layered):
            return self.states.active()
        return [s for s in self.states.values() if s.status not in FINAL]

    def executions(self, since: datetime | None = None) -> tuple[Execution, ...]:
        """Every execution start recorded, or only those later than `since` (what a rate
        limit's window counts: `Runtime.counted_since`)."""
        if isinstance(self.states, Layered):
            return self.states.executions(since)
        return _later(tuple(x for s in self.states.values() for x in s.executions), since)

    def extended(
        self,
        rev: str,
        events: list[Event],
        states: Mapping[str, RequestState],
        files: int,
        others: list[StreamEvent] | None = None,
        streams: Mapping[Key, StreamState] | None = None,
    ) -> AuditSnapshot:
        """This snapshot once `events` (leading to `states`) and `others` (to `streams`)
        landed in `files` new files as `rev`."""
        if self.ahead is not None:
            raise ValueError("a snapshot of a commit behind the checkpoint is not built on")
        merged: Mapping[str, RequestState]
        if isinstance(self.states, Layered):
            merged = Layered(self.states.base, {**self.states.top, **states})
        else:
            merged = {**self.states, **states}
        more: Mapping[Key, StreamState]
        if isinstance(self.streams, LayeredStreams):
            more = LayeredStreams(self.streams.base, {**self.streams.top, **(streams or {})})
        else:
            more = {**self.streams, **(streams or {})}
        return AuditSnapshot(
            rev,
            self.events + events,
            self.problems,
            self.files + files,
            merged,
            self.base,
            self.checkpoint,
            self.others + list(others or ()),
            more,
        )


def parse_text(path: str, text: str) -> Iterator[AnyEvent | str]:
    """The events of one audit file in line order, and a problem (a str) for each line
    that is not an event."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield parse_event(json.loads(line))
        except ValueError as exc:
            yield f"{path}:{number}: not an audit event: {exc}"


def parse_files(files: dict[str, str]) -> tuple[list[Event], list[str]]:
    """The request events of `files` (a claim commit's, a spool's), and unreadable lines;
    `parse_all` keeps every stream's."""
    every, problems = parse_all(files)
    return split(every)[0], problems


def parse_all(files: dict[str, str]) -> tuple[list[AnyEvent], list[str]]:
    """Every event of `files` (every stream), in path and line order, and unreadable lines."""
    events: list[AnyEvent] = []
    problems: list[str] = []
    for path in sorted(files):
        for found in parse_text(path, files[path]):
            if isinstance(found, str):
                problems.append(found)
            else:
                events.append(found)
    return events, problems


def split(events: Iterable[AnyEvent]) -> tuple[list[Event], list[StreamEvent]]:
    """Request events, and the other streams' events."""
    requests: list[Event] = []
    others: list[StreamEvent] = []
    for event in events:
        (requests if isinstance(event, Event) else others).append(event)  # type: ignore[arg-type]
    return requests, others


def snapshot(
    events: Iterable[AnyEvent], rev: str | None, problems: list[str], files: int
) -> AuditSnapshot:
    requests, others = split(events)
    return AuditSnapshot(
        rev, requests, problems, files, fold(requests), others=others, streams=st.fold(others)
    )


def oversized(path: str, size: int) -> str | None:
    """Why the audit file `path` of `size` bytes is not read, or None when it may be."""
    limit = MAX_FILE_BYTES
    if size <= limit:
        return None
    shown = f"{limit} bytes ({limit // MIB} MiB)" if limit % MIB == 0 else f"{limit} bytes"
    return f"{path}: audit file is {size} bytes; the limit is {shown}; not read"


def _later(executions: tuple[Execution, ...], since: datetime | None) -> tuple[Execution, ...]:
    return executions if since is None else tuple(x for x in executions if x.at > since)
