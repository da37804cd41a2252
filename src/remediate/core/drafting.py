"""Drafting audit events: new events, their links onto chains, their files and commit message.

Pure (no I/O, no clock: `now` is an argument). `service.audit_log.write` turns a
`Batch` into a commit on the remote tip; it rebuilds the batch from a fresh snapshot on
every attempt, so links and `from` statuses always match what the remote holds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from remediate.core import snapshot as snapshots
from remediate.core import streams
from remediate.core.audit import AnyEvent, Event, RequestState, apply_event, to_line
from remediate.core.snapshot import AUDIT_DIR, AuditSnapshot
from remediate.core.streams import Key, StreamEvent, StreamState
from remediate.core.times import iso


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Chain:
    """Links new events onto the snapshot's chains, tracking each request's state."""

    snap: AuditSnapshot
    events: list[Event] = field(default_factory=list)
    states: dict[str, RequestState] = field(default_factory=dict)
    others: list[StreamEvent] = field(default_factory=list)  # of the other streams
    streams: dict[Key, StreamState] = field(default_factory=dict)

    def state(self, request_id: str) -> RequestState:
        return self.states.get(request_id) or self.snap.state(request_id)

    def subject(self, stream: str, subject: str) -> StreamState:
        return self.streams.get((stream, subject)) or self.snap.subject(stream, subject)

    def batch(self, subject: str) -> Batch:
        return Batch(self.events, subject, dict(self.states), self.others, dict(self.streams))

    def add_to(self, event: StreamEvent) -> StreamEvent | None:
        """Link an event of another stream after its subject's head; None if recorded."""
        current = self.subject(event.stream, event.subject)
        if event.id in current.ids:
            return None
        # the same value when it links there already (a subject's first event): what it
        # made of itself once (`hash`, `line`) holds
        linked = event if event.prev == current.head else replace(event, prev=current.head)
        self.others.append(linked)
        self.streams[event.key] = streams.step(current, linked)
        return linked

    def add(self, event: Event) -> Event | None:
        """Link `event` (its id kept) after the request's head; None if already recorded."""
        if self.snap.recorded(event.request_id, event.id):
            return None
        current = self.state(event.request_id)
        linked = replace(event, prev=current.head)
        self.events.append(linked)
        self.states[event.request_id] = apply_event(current, linked)
        return linked


@dataclass(frozen=True)
class Batch:
    events: list[Event]
    subject: str
    states: dict[str, RequestState] = field(default_factory=dict)  # after the events
    others: list[StreamEvent] = field(default_factory=list)  # events of the other streams
    streams: dict[Key, StreamState] = field(default_factory=dict)  # after them
    removed: tuple[str, ...] = ()  # audit files retention deletes (`core.retention`)

    @property
    def every(self) -> list[AnyEvent]:
        return [*self.events, *self.others]


def audit_path(now: datetime, batch_id: str) -> str:
    stamp = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
    return f"{AUDIT_DIR}/{now:%Y/%m/%d}/{stamp}-{batch_id[:12]}.jsonl"


def audit_files(now: datetime, batch_id: str, events: list[AnyEvent]) -> dict[str, str]:
    """The files of one batch: one, or numbered parts when it exceeds the audit file cap."""
    parts = split_lines([to_line(e) + "\n" for e in events])
    path = audit_path(now, batch_id)
    if len(parts) == 1:
        return {path: parts[0]}
    stem = path.removesuffix(".jsonl")
    return {f"{stem}-{i:03d}.jsonl": part for i, part in enumerate(parts, 1)}


def split_lines(lines: list[str]) -> list[str]:
    """Whole lines grouped into texts of at most `snapshot.MAX_FILE_BYTES` bytes of UTF-8 each.

    Readers refuse a larger audit file unread, so nothing the runner writes may be one.
    """
    limit = snapshots.MAX_FILE_BYTES
    parts: list[str] = []
    chunk: list[str] = []
    size = 0
    for line in lines:
        length = len(line.encode("utf-8"))
        if length > limit:
            raise ValueError(
                f"an audit event of {length} bytes exceeds the audit file limit of {limit} bytes"
            )
        if chunk and size + length > limit:
            parts.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(line)
        size += length
    parts.append("".join(chunk))
    return parts


def message(batch: Batch) -> str:
    lines = [batch.subject, ""]
    for event in batch.events[:200]:
        lines.append(f"{event.request_id}: {event.from_} -> {event.to}")
    if len(batch.events) > 200:
        lines.append(f"… and {len(batch.events) - 200} more transitions")
    for other in batch.others[:200]:
        lines.append(f"{other.stream} {other.subject}: {other.verb}")
    if len(batch.others) > 200:
        lines.append(f"… and {len(batch.others) - 200} more events of other streams")
    lines.append("")
    seen: dict[str, None] = {}
    for event in batch.events:
        seen.setdefault(event.request_id)
    lines += [f"Remediation-Id: {rid}" for rid in seen]
    return "\n".join(lines) + "\n"


def after(
    snap: AuditSnapshot, sha: str, batch: Batch, files: int | None = None
) -> AuditSnapshot | None:
    """The snapshot once `batch` landed on `snap` as commit `sha`, without re-reading it;
    None when the batch does not carry the states of every request it touches. `files`:
    how many audit files the batch was written as (`audit_files`), else counted again."""
    if batch.removed:  # retention: the files and states are read again
        return None
    if {e.request_id for e in batch.events} - set(batch.states):
        return None
    if {e.key for e in batch.others} - set(batch.streams):
        return None
    if files is None:
        files = len(split_lines([to_line(e) + "\n" for e in batch.every]))
    return snap.extended(sha, batch.events, batch.states, files, batch.others, batch.streams)


def draft(
    request_id: str,
    from_: str,
    to: str,
    actor: str,
    now: datetime,
    details: dict[str, Any],
    *,
    state: RequestState | None = None,
    request: Any = None,
    error: str | None = None,
    event_id: str | None = None,
) -> Event:
    """A new event (unlinked) with the request's descriptive fields."""
    source: Any = request if request is not None else state
    incident, action, service, env = (
        (source.incident_id, source.action_type, source.service_name, source.environment)
        if source is not None
        else (None, None, None, None)
    )
    return Event(
        id=event_id or new_id(),
        at=iso(now) or "",
        request_id=request_id,
        from_=from_,
        to=to,
        actor=actor,
        details=details,
        error=error,
        incident_id=incident,
        action_type=action,
        service_name=service,
        environment=env,
    )
