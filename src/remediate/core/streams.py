"""Audit streams: the envelope every audit event shares, and the registry of folds.

Every event belongs to a stream (`STREAMS`) and a subject within it, is made by a verb,
and carries `prev`, the hash of the previous event of the same (stream, subject), so
each subject's events form one hash chain that no other subject's events touch
(concurrent runners never conflict). Request events keep the contract's fields
(`core.audit.Event`): their stream is `requests` (an event without a `stream` key is a
request event, as every audit file written before streams), their subject `requestId`,
their verb `details.verb`. Events of every other stream are a `StreamEvent`:

    {"id", "at", "stream", "subject", "verb", "actor", "details", "error", "prev"}

A stream's state is a fold over each subject's chain. The fold is a row of `FOLDS`,
registered by the feature that owns the stream (`register(Fold(...))`, at import of its
core module): how a subject starts, what an event does to it, which events its
lifecycle refuses (what `audit verify` reports), when a claim attempt is over (what
`claims.prune` may delete), and how a state is written into the runner's checkpoint.
A stream nobody registered still chains and verifies (links, forks, duplicates); its
subjects fold to `None`. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Protocol

REQUESTS = "requests"
# The streams of the audit: requests, schedule fires, report runs, security findings,
# retention checkpoints, worker jobs, admins' vouches for automation changes, follow-up
# requests. A name here reserves it (claim ref prefix, checkpoint buckets); its fold comes
# with the feature.
STREAMS = (
    REQUESTS,
    "schedules",
    "reports",
    "findings",
    "retention",
    "workers",
    "vouches",
    "followups",
)
RETAIN = "retain"  # a retention checkpoint: the subject's state, standing for what it replaced
ENVELOPE = ("id", "at", "stream", "subject", "verb", "actor", "details", "error", "prev")


def canonical(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(data: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(data).encode()).hexdigest()


@dataclass(frozen=True)
class StreamEvent:
    """One event of a stream other than `requests`."""

    id: str
    at: str  # ISO 8601 UTC with milliseconds
    stream: str
    subject: str
    verb: str
    actor: str
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    prev: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "stream": self.stream,
            "subject": self.subject,
            "verb": self.verb,
            "actor": self.actor,
            "details": dict(self.details),
            "error": self.error,
            "prev": self.prev,
        }

    @cached_property
    def hash(self) -> str:
        return event_hash(self.as_json())

    @cached_property
    def line(self) -> str:
        """The event as one JSON Lines record, keys in the contract's order (`to_line`):
        made once, however many texts hold it (a claim commit and the audit file)."""
        return json.dumps(self.as_json(), ensure_ascii=False, separators=(",", ":"))

    @property
    def key(self) -> tuple[str, str]:
        return (self.stream, self.subject)

    @property
    def replaced(self) -> str | None:
        """A retention checkpoint's: the hash of the last event it replaced (None else)."""
        if self.verb != RETAIN:
            return None
        retained = self.details.get("retained")
        head = retained.get("head") if isinstance(retained, dict) else None
        return head if isinstance(head, str) else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamEvent:
        """The event from its JSON object; ValueError names what is wrong."""
        from remediate.core.times import parse_time

        missing = [k for k in ENVELOPE if k not in data]
        if missing:
            raise ValueError(f"event lacks {', '.join(missing)}")
        unknown = sorted(k for k in data if k not in ENVELOPE)
        if unknown:  # an added key would not change what the chain vouches for: refuse it
            raise ValueError(f"event has unknown fields {', '.join(unknown)}")
        for key in ("id", "at", "stream", "subject", "verb", "actor"):
            if not isinstance(data[key], str) or not data[key]:
                raise ValueError(f"event field {key} must be a non-empty string")
        if data["stream"] == REQUESTS:
            raise ValueError("request events carry requestId, not stream and subject")
        try:
            parse_time(data["at"])
        except ValueError:
            raise ValueError("event field at is not an ISO 8601 time") from None
        if not isinstance(data["details"], dict):
            raise ValueError("event field details must be an object")
        for key in ("error", "prev"):
            if data[key] is not None and not isinstance(data[key], str):
                raise ValueError(f"event field {key} must be a string or null")
        return cls(**{k: data[k] for k in ENVELOPE})


@dataclass(frozen=True)
class StreamState:
    """One subject of a stream: its chain (head, event ids) and its folded value."""

    stream: str
    subject: str
    value: Any = None
    head: str | None = None  # hash of the last event of the chain
    ids: tuple[str, ...] = ()  # of its events, in fold order
    updated_at: str | None = None

    def as_json(self, fold: Fold | None) -> dict[str, Any]:
        value = fold.dump(self.value) if fold is not None else self.value
        return {"value": value, "head": self.head, "ids": list(self.ids), "at": self.updated_at}

    @classmethod
    def from_json(
        cls, stream: str, subject: str, data: dict[str, Any], fold: Fold | None
    ) -> StreamState:
        value = fold.load(data["value"]) if fold is not None else data["value"]
        return cls(stream, subject, value, data["head"], tuple(data["ids"]), data.get("at"))


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Fold:
    """How a stream folds. `start(subject)` is a subject's value before its first event;
    `step(value, event)` the value after an event; `refuse(value, event)` why the stream's
    lifecycle forbids the event (None: allowed; a refused event changes nothing);
    `over(value, attempt)` whether that claim attempt is over (its ref may be pruned);
    `dump`/`load` the value as JSON (default: the value is JSON already); `requests(value)`
    the requests a subject's value records, no file (`core.model.Request`s: a schedule's
    fire, a finding's auto-remediation), which `core.schedules.with_fired` adds to the
    repository until they end."""

    stream: str
    start: Callable[[str], Any]
    step: Callable[[Any, StreamEvent], Any]
    refuse: Callable[[Any, StreamEvent], str | None] = lambda value, event: None
    over: Callable[[Any, int], bool] = lambda value, attempt: False
    dump: Callable[[Any], Any] = _same
    load: Callable[[Any], Any] = _same
    requests: Callable[[Any], Iterable[Any]] = lambda value: ()
    names: Callable[[Any], Iterable[str]] | None = None  # of `requests`, told without them

    def request_names(self, value: Any) -> Iterable[str]:
        """The names of `requests(value)` (from `names` when the fold has it: cheaper)."""
        if self.names is not None:
            return self.names(value)
        return [request.name for request in self.requests(value)]


FOLDS: dict[str, Fold] = {}


def register(fold: Fold) -> Fold:
    """Plug a stream's fold in (the feature owning the stream, at import)."""
    if fold.stream not in STREAMS or fold.stream == REQUESTS:
        raise ValueError(
            f"{fold.stream!r} is not a stream of STREAMS (requests fold in core.audit)"
        )
    FOLDS[fold.stream] = fold
    return fold


def unregister(stream: str) -> None:
    FOLDS.pop(stream, None)


def fold_of(stream: str) -> Fold | None:
    return FOLDS.get(stream)


def start(stream: str, subject: str) -> StreamState:
    fold = FOLDS.get(stream)
    return StreamState(stream, subject, fold.start(subject) if fold is not None else None)


def step(state: StreamState, event: StreamEvent) -> StreamState:
    """The state after `event` (linked or not: chain order is the caller's)."""
    fold = FOLDS.get(state.stream)
    if event.verb == RETAIN:
        restored = retained(state, event)
        if restored is not None:
            return restored
        return replace(state, head=event.hash, ids=(*state.ids, event.id))
    changes: dict[str, Any] = {"head": event.hash, "ids": (*state.ids, event.id)}
    if fold is not None and fold.refuse(state.value, event) is None:
        changes["value"] = fold.step(state.value, event)
        changes["updated_at"] = event.at
    elif fold is None:
        changes["updated_at"] = event.at
    return replace(state, **changes)


def retained(state: StreamState, event: StreamEvent) -> StreamState | None:
    """The state a retention checkpoint carries, when it may start this subject's chain."""
    data = event.details.get("state")
    if state.head is not None or state.ids or not isinstance(data, dict):
        return None
    try:
        restored = StreamState.from_json(state.stream, state.subject, data, FOLDS.get(state.stream))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return restored if restored.head is not None and restored.head == event.replaced else None


def refused(state: StreamState, event: StreamEvent) -> str | None:
    if event.verb == RETAIN:
        if retained(state, event) is None:
            return "a retention checkpoint must start its chain and carry the state it replaced"
        return None
    fold = FOLDS.get(state.stream)
    return fold.refuse(state.value, event) if fold is not None else None


Key = tuple[str, str]  # (stream, subject)


def order(events: Iterable[StreamEvent]) -> list[StreamEvent]:
    """One subject's events in chain order (forks and orphans last, by time and id)."""
    unique: dict[str, StreamEvent] = {}
    for event in events:
        unique.setdefault(event.hash, event)
    children: dict[str | None, list[StreamEvent]] = {}
    aliases = {e.replaced: h for h, e in unique.items() if e.replaced is not None}
    for event in unique.values():
        prev = aliases.get(event.prev, event.prev) if event.prev is not None else None
        parent = prev if prev in unique or prev is None else "<orphan>"
        children.setdefault(parent, []).append(event)
    ordered: list[StreamEvent] = []
    stack = sorted(children.get(None, []), key=_key, reverse=True)
    while stack:
        event = stack.pop()
        ordered.append(event)
        stack.extend(sorted(children.get(event.hash, []), key=_key, reverse=True))
    seen = {e.hash for e in ordered}
    return ordered + sorted((e for e in unique.values() if e.hash not in seen), key=_key)


def _key(event: StreamEvent) -> tuple[str, str]:
    return (event.at, event.id)


def fold(events: Iterable[StreamEvent]) -> dict[Key, StreamState]:
    """The state of every (stream, subject) the events name."""
    by_key: dict[Key, list[StreamEvent]] = {}
    for event in events:
        by_key.setdefault(event.key, []).append(event)
    states: dict[Key, StreamState] = {}
    for key, chain in by_key.items():
        state = start(*key)
        for event in order(chain):
            state = step(state, event)
        states[key] = state
    return states


def extend(
    known: Callable[[Key], StreamState], events: Iterable[StreamEvent]
) -> dict[Key, StreamState] | None:
    """The states after `events` are added to known ones, or None unless each subject's
    new events form one unbroken line from its head (then equal to `fold` of all)."""
    by_key: dict[Key, list[StreamEvent]] = {}
    for event in events:
        by_key.setdefault(event.key, []).append(event)
    states: dict[Key, StreamState] = {}
    for key, chain in by_key.items():
        state = known(key)
        following: dict[str | None, StreamEvent] = {}
        for event in chain:
            if event.prev in following or event.id in state.ids:
                return None
            following[event.prev] = event
        for _ in chain:
            nxt = following.get(state.head)
            if nxt is None:
                return None
            state = step(state, nxt)
        states[key] = state
    return states


class Linked(Protocol):
    """What a chain's links are made of (a request event or a stream event)."""

    @property
    def id(self) -> str: ...
    @property
    def prev(self) -> str | None: ...
    @property
    def hash(self) -> str: ...
    @property
    def replaced(self) -> str | None: ...


def link_problems(name: str, noun: str, chain: Sequence[Linked]) -> list[str]:
    """The broken links and forks of one chain (of a request or a stream's subject):
    an event that follows no event of the chain, two events that follow the same one."""
    problems: list[str] = []
    hashes = {e.hash for e in chain}
    # a retention checkpoint stands for the events it replaced (`RETAIN`)
    aliases = {e.replaced: e.hash for e in chain if e.replaced is not None}
    follows: dict[str | None, list[str]] = {}
    for event in chain:
        prev = aliases.get(event.prev, event.prev) if event.prev is not None else None
        if prev is not None and prev not in hashes:
            problems.append(
                f"{name}: event {event.id} follows {prev[:19]}…, which is no event of "
                f"this {noun} (an event was edited, deleted or forged)"
            )
        follows.setdefault(prev, []).append(event.id)
    for prev, ids in follows.items():
        if len(ids) > 1:
            where = "the start" if prev is None else f"{prev[:19]}…"
            problems.append(
                f"{name}: events {', '.join(sorted(ids))} all follow {where} "
                "(the chain forks: an event was inserted or forged)"
            )
    return problems


def check(key: Key, chain: list[StreamEvent]) -> list[str]:
    """What a fold of one subject cannot trust: broken links, forks, refused events."""
    stream, subject = key
    name = f"{stream} {subject}"
    problems = link_problems(name, "subject", chain)
    state = start(stream, subject)
    for event in order(chain):
        why = refused(state, event)
        if why is not None:
            problems.append(f"{name}: event {event.id} ({event.verb}): {why}")
        state = step(state, event)
    return problems


# The folds of streams owned by features register at import of the feature's core module;
# imported here, so that every process that folds the audit (and may write a checkpoint
# of it) folds them too, whichever command it runs.
from remediate.core import automation as _automation  # noqa: E402,F401
from remediate.core import findings as _findings  # noqa: E402,F401
from remediate.core import followups as _followups  # noqa: E402,F401
from remediate.core import report_runs as _report_runs  # noqa: E402,F401
from remediate.core import retention as _retention  # noqa: E402,F401
from remediate.core import schedules as _schedules  # noqa: E402,F401
