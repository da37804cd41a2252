"""Writing events back: build on the remote tip, commit, push; on rejection fetch and rebuild.

A batch is rebuilt from a fresh snapshot on every attempt, so its `prev`
links and `from` statuses always match what is on the remote, and events
whose ids are already there (a push whose reply was lost) are not written
again. Never forced: the branch push itself is a compare-and-swap.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from remediate.adapters import environment
from remediate.adapters.git_store import GitStore, Person, PushOutcome
from remediate.core.audit import Event, RequestState, apply_event, to_line
from remediate.core.decision import iso
from remediate.errors import UserError
from remediate.service import state
from remediate.service.state import AUDIT_DIR, AuditSnapshot, read_audit


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Chain:
    """Links new events onto the snapshot's chains, tracking each request's state."""

    snap: AuditSnapshot
    events: list[Event] = field(default_factory=list)
    states: dict[str, RequestState] = field(default_factory=dict)

    def state(self, request_id: str) -> RequestState:
        return self.states.get(request_id) or self.snap.state(request_id)

    def batch(self, subject: str) -> Batch:
        return Batch(self.events, subject, dict(self.states))

    def add(self, event: Event) -> Event | None:
        """Link `event` (its id kept) after the request's head; None if already recorded."""
        if event.id in self.snap.ids:
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


@dataclass
class PushStats:
    commits: int = 0
    pushes: int = 0
    rejected: int = 0
    ambiguous: int = 0


def audit_path(now: datetime, batch_id: str) -> str:
    stamp = now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
    return f"{AUDIT_DIR}/{now:%Y/%m/%d}/{stamp}-{batch_id[:12]}.jsonl"


def audit_files(now: datetime, batch_id: str, events: list[Event]) -> dict[str, str]:
    """The files of one batch: one, or numbered parts when it exceeds the audit file cap."""
    parts = split_lines([to_line(e) + "\n" for e in events])
    path = audit_path(now, batch_id)
    if len(parts) == 1:
        return {path: parts[0]}
    stem = path.removesuffix(".jsonl")
    return {f"{stem}-{i:03d}.jsonl": part for i, part in enumerate(parts, 1)}


def split_lines(lines: list[str]) -> list[str]:
    """Whole lines grouped into texts of at most `state.MAX_FILE_BYTES` bytes of UTF-8 each.

    Readers refuse a larger audit file unread, so nothing the runner writes may be one.
    """
    limit = state.MAX_FILE_BYTES
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
    lines.append("")
    seen: dict[str, None] = {}
    for event in batch.events:
        seen.setdefault(event.request_id)
    lines += [f"Remediation-Id: {rid}" for rid in seen]
    return "\n".join(lines) + "\n"


def write(
    store: GitStore,
    build: Callable[[AuditSnapshot], Batch | None],
    now: datetime,
    author: Person,
    committer: Person,
    stats: PushStats | None = None,
) -> AuditSnapshot:
    """Commit and push what `build` makes of the latest snapshot; the snapshot written on."""
    stats = stats or PushStats()
    last = ""
    attempts = environment.push_attempts()
    for attempt in range(attempts):
        tip = store.fetch()
        snap = _known.get(tip or "") or read_audit(store, tip)
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
            return _written(store, snap, sha, batch)
        stats.pushes += 1
        outcome, why = store.push_branch(sha)
        if outcome == PushOutcome.OK:
            store.fast_forward(sha)
            return _written(store, snap, sha, batch)
        if outcome == PushOutcome.REJECTED:
            stats.rejected += 1
        else:
            stats.ambiguous += 1  # the next fetch shows whether it landed: its ids are skipped
        time.sleep(random.uniform(0.01, 0.05) * min(2**attempt, 16))
        last = why
    raise UserError(f"could not push the audit after {attempts} attempts: {last}")


# A commit's audit is fixed by its hash: snapshots this process wrote need no re-reading.
_known: dict[str, AuditSnapshot] = {}


def _written(store: GitStore, snap: AuditSnapshot, sha: str, batch: Batch) -> AuditSnapshot:
    """The snapshot after `batch` landed on `snap` as commit `sha`, without re-reading it."""
    if {e.request_id for e in batch.events} - set(batch.states):
        return read_audit(store, sha)  # a batch that does not carry its states
    after = AuditSnapshot(
        sha,
        snap.events + batch.events,
        snap.problems,
        snap.files + len(split_lines([to_line(e) + "\n" for e in batch.events])),
        {**snap.states, **batch.states},
        snap.ids | {e.id for e in batch.events},
    )
    _known.clear()  # keep one: the latest
    _known[sha] = after
    return after


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
    if request is not None:
        incident, action, service, env = (
            request.incident_id,
            request.action_type,
            request.service_name,
            request.environment,
        )
    elif state is not None:
        incident, action, service, env = (
            state.incident_id,
            state.action_type,
            state.service_name,
            state.environment,
        )
    else:
        incident = action = service = env = None
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
