"""The audit log, event-sourced: the `requests` stream's events, chains and fold.

Each request event records one status change of one request and carries `prev`, the
hash of the previous event of the same request, so that editing, deleting or
reordering an event breaks a chain, while events of different requests never
depend on each other (concurrent runners do not conflict). The state of every
request is a fold over its chain (`fold`, or `extend` from known states);
`core.chains.check_chains` reports what a fold cannot trust. Request events are the
`requests` stream of the audit's envelope (`core.streams`: stream, subject, verb, prev);
the other streams' events are `core.streams.StreamEvent`s, told apart by `parse_event`.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from functools import cached_property
from sys import intern
from typing import Any

from remediate.core import lifecycle
from remediate.core.decision import Approval, Execution, legacy_lifts
from remediate.core.streams import REQUESTS, RETAIN, StreamEvent, canonical, event_hash
from remediate.core.times import later, parse_time

__all__ = ["AnyEvent", "Event", "RequestState", "StreamEvent", "canonical", "event_hash"]

FIELDS = (
    "id",
    "at",
    "requestId",
    "incidentId",
    "actionType",
    "serviceName",
    "environment",
    "from",
    "to",
    "actor",
    "details",
    "error",
    "prev",
)


@dataclass(frozen=True)
class Event:
    id: str
    at: str  # ISO 8601 UTC with milliseconds
    request_id: str
    from_: str
    to: str
    actor: str
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    prev: str | None = None
    incident_id: str | None = None
    action_type: str | None = None
    service_name: str | None = None
    environment: str | None = None

    @property
    def verb(self) -> str:
        return str(self.details.get("verb", ""))

    @property
    def stream(self) -> str:
        return REQUESTS

    @property
    def replaced(self) -> str | None:
        """A retention checkpoint's: the hash of the last event it replaced (what later
        events of the chain still name as `prev`); None for every other event."""
        return replaced_head(self.verb, self.details)

    @property
    def subject(self) -> str:
        return self.request_id

    @property
    def key(self) -> tuple[str, str]:
        return (REQUESTS, self.request_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "requestId": self.request_id,
            "incidentId": self.incident_id,
            "actionType": self.action_type,
            "serviceName": self.service_name,
            "environment": self.environment,
            "from": self.from_,
            "to": self.to,
            "actor": self.actor,
            "details": dict(self.details),
            "error": self.error,
            "prev": self.prev,
        }

    @cached_property
    def hash(self) -> str:
        return event_hash(self.as_json())

    @classmethod
    def from_json(cls, data: Any) -> Event:
        """An event from its JSON object; ValueError names what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("an event must be a JSON object")
        missing = [k for k in FIELDS if k not in data]
        if missing:
            raise ValueError(f"event lacks {', '.join(missing)}")
        # An added key would not change the event's hash: refuse it rather than ignore it.
        unknown = sorted(k for k in data if k not in FIELDS)
        if unknown:
            raise ValueError(f"event has unknown fields {', '.join(unknown)}")
        for key in ("id", "at", "requestId", "from", "to", "actor"):
            if not isinstance(data[key], str):
                raise ValueError(f"event field {key} must be a string")
        try:
            parse_time(data["at"])
        except ValueError:
            raise ValueError("event field at is not an ISO 8601 time") from None
        if not isinstance(data["details"], dict):
            raise ValueError("event field details must be an object")
        for key in ("incidentId", "actionType", "serviceName", "environment", "error", "prev"):
            if data[key] is not None and not isinstance(data[key], str):
                raise ValueError(f"event field {key} must be a string or null")
        # the values many events repeat are interned: folded states share one copy each
        return cls(
            id=data["id"],
            at=data["at"],
            request_id=data["requestId"],
            from_=intern(data["from"]),
            to=intern(data["to"]),
            actor=intern(data["actor"]),
            details=data["details"],
            error=data["error"],
            prev=data["prev"],
            incident_id=_interned(data["incidentId"]),
            action_type=_interned(data["actionType"]),
            service_name=_interned(data["serviceName"]),
            environment=_interned(data["environment"]),
        )


def replaced_head(verb: str, details: Mapping[str, Any]) -> str | None:
    if verb != RETAIN:
        return None
    retained = details.get("retained")
    head = retained.get("head") if isinstance(retained, dict) else None
    return head if isinstance(head, str) else None


def _interned(value: str | None) -> str | None:
    return intern(value) if value is not None else None


AnyEvent = Event | StreamEvent


def parse_event(data: Any) -> AnyEvent:
    """An event of any stream from its JSON object: a request event unless it names a
    `stream` (every audit file written before streams holds request events only)."""
    if isinstance(data, dict) and "stream" in data:
        return StreamEvent.from_json(data)
    return Event.from_json(data)


def to_line(event: AnyEvent) -> str:
    """One JSON Lines record (keys in the contract's order)."""
    if isinstance(event, StreamEvent):
        return event.line
    return json.dumps(event.as_json(), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class RequestState:
    """What the audit says about one request."""

    request_id: str
    status: str = lifecycle.NEW
    content_hash: str | None = None
    action_hash: str | None = None  # of the ActionType, as the last decision recorded it
    attempt: int = 0  # incremented each time the request enters QUEUED or is re-decided there
    approvals: tuple[Approval, ...] = ()
    executions: tuple[Execution, ...] = ()
    claimed_at: datetime | None = None
    deadline: datetime | None = None  # the claim's: past it, an execution is abandoned
    outcome_unknown: bool = False  # FAILED by abandonment: a late outcome may still be learned
    retry_at: datetime | None = None  # a re-queued retry waits for its backoff
    failures: int = 0
    head: str | None = None  # hash of the last event of the chain
    created_at: str | None = None
    updated_at: str | None = None
    action_type: str | None = None
    environment: str | None = None
    service_name: str | None = None
    incident_id: str | None = None
    detail: str = ""
    error: str | None = None
    performed_by: str | None = None
    requester: str | None = None  # as the first decision recorded it
    events: int = 0
    last_failure: str | None = None  # the error of the last FAILED, kept through a retry
    last_failed_at: str | None = None
    ids: tuple[str, ...] = ()  # of its events, in fold order: what is already recorded

    @property
    def started(self) -> bool:
        return self.status not in lifecycle.NOT_STARTED

    def approvals_for(
        self, content_hash: str, action_hash: str | None = None
    ) -> tuple[Approval, ...]:
        """Approvals given for this content of the request and of its ActionType; others
        are stale (one of them changed). One recorded without an ActionType hash (before
        they were bound to it) is judged by the request's content alone."""
        return tuple(
            a
            for a in self.approvals
            if a.content_hash == content_hash
            and (a.action_hash is None or action_hash is None or a.action_hash == action_hash)
        )

    def voided(
        self, content_hash: str, action_hash: str | None = None
    ) -> tuple[tuple[Approval, str], ...]:
        """The approvals that an edit voided, each with which edit: `request` or `actionType`."""
        kept = set(self.approvals_for(content_hash, action_hash))
        return tuple(
            (a, "request" if a.content_hash != content_hash else "actionType")
            for a in self.approvals
            if a not in kept
        )


def order_chain(events: Iterable[Event]) -> list[Event]:
    """One request's events in chain order (forks and orphans last, by time and id)."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.hash, event)
    children: dict[str | None, list[Event]] = {}
    # a retention checkpoint stands for the events it replaced: what followed their last
    # one follows it
    aliases = {e.replaced: h for h, e in unique.items() if e.replaced is not None}
    for h, event in unique.items():
        prev = aliases.get(event.prev, event.prev) if event.prev is not None else None
        parent = prev if prev in unique or prev is None else "<orphan>"
        children.setdefault(parent, []).append(event)
        del h
    ordered: list[Event] = []
    stack = sorted(children.get(None, []), key=_key, reverse=True)
    while stack:
        event = stack.pop()
        ordered.append(event)
        stack.extend(sorted(children.get(event.hash, []), key=_key, reverse=True))
    seen = {e.hash for e in ordered}
    rest = [e for e in unique.values() if e.hash not in seen]
    return ordered + sorted(rest, key=_key)


def _key(event: Event) -> tuple[str, str]:
    return (event.at, event.id)


_STATE_FIELDS = frozenset(f.name for f in fields(RequestState))


def _evolve(state: RequestState, changes: dict[str, Any]) -> RequestState:
    """`dataclasses.replace` for the fold's hot path (a quarter of its cost: replace
    rebuilds every field through `__init__`; a state has no `__post_init__` and no cached
    property, so copying its fields is the same value)."""
    unknown = changes.keys() - _STATE_FIELDS
    if unknown:
        raise TypeError(f"RequestState has no field {sorted(unknown)[0]!r}")
    new = object.__new__(type(state))
    vars(new).update(vars(state), **changes)
    return new


def apply_event(state: RequestState, event: Event) -> RequestState:
    """The state after `event`; an event the lifecycle table forbids changes nothing."""
    changes: dict[str, Any] = {
        "head": event.hash,
        "events": state.events + 1,
        "ids": (*state.ids, event.id),
        "created_at": state.created_at or event.at,
        "action_type": event.action_type or state.action_type,
        "environment": event.environment or state.environment,
        "service_name": event.service_name or state.service_name,
        "incident_id": event.incident_id or state.incident_id,
    }
    if not permitted(state, event):
        return _evolve(state, changes)
    if event.verb == RETAIN:
        restored = retained_state(event)
        assert restored is not None  # `permitted` checked it
        return restored
    details = event.details
    at = parse_time(event.at)
    changes.update(
        status=event.to,
        updated_at=event.at,
        performed_by=event.actor,
        detail=intern(str(details.get("detail", state.detail if event.to == state.status else ""))),
        error=event.error,
    )
    if "contentHash" in details:
        changes["content_hash"] = details["contentHash"]
        action_hash = details.get("actionHash")
        changes["action_hash"] = action_hash if isinstance(action_hash, str) else None
    requester = details.get("requester")
    if state.requester is None and event.verb == "decide" and isinstance(requester, str):
        changes["requester"] = requester
    approval = details.get("approval")
    if isinstance(approval, dict):
        changes["approvals"] = (*state.approvals, _approval(approval, at, details))
    if event.to == lifecycle.QUEUED and (
        state.status != lifecycle.QUEUED or event.verb == "decide"
    ):
        # a new attempt, so a new claim ref: a re-decision of a QUEUED request consumed the
        # claim ref of the attempt it ended
        changes["attempt"] = state.attempt + 1
        retry_at = details.get("retryAt")
        changes["retry_at"] = _time_or_none(retry_at)
    changes.update(_execution(state, event, at))
    return _evolve(state, changes)


def permitted(state: RequestState, event: Event) -> bool:
    """Does `event` move `state` by a lifecycle transition? An outcome learned late
    (`learn`) only follows an abandoned execution of the same attempt."""
    if event.verb == RETAIN:  # only as the first event of its chain, restoring a state
        restored = retained_state(event)
        return (
            state.events == 0
            and state.head is None
            and event.from_ == lifecycle.NEW
            and restored is not None
            and restored.request_id == state.request_id
            and restored.status == event.to
        )
    if event.from_ != state.status or not lifecycle.allowed(state.status, event.verb, event.to):
        return False
    return event.verb != "learn" or (
        state.outcome_unknown and event.details.get("attempt") == state.attempt
    )


def retained_state(event: Event) -> RequestState | None:
    """The state a retention checkpoint event carries (None: none that can be read)."""
    from remediate.core.checkpoint import decode_state

    data = event.details.get("state")
    if not isinstance(data, dict) or event.replaced is None:
        return None
    try:
        state = decode_state(data)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return state if state.head == event.replaced else None


def _execution(state: RequestState, event: Event, at: datetime) -> dict[str, Any]:
    """What a claim, an outcome or an abandonment changes."""
    details = event.details
    changes: dict[str, Any] = {"outcome_unknown": event.verb == "abandon"}
    if event.verb == "claim":
        changes["claimed_at"] = at
        changes["deadline"] = _time_or_none(details.get("deadline"))
        changes["executions"] = (
            *state.executions,
            Execution(
                at=at,
                request_id=state.request_id,
                service_name=event.service_name,
                environment=event.environment,
                action_type=event.action_type,
                incident_id=event.incident_id,
                severity=details.get("severity"),
            ),
        )
    if event.to == lifecycle.FAILED:
        changes.update(last_failure=event.error, last_failed_at=event.at)
        if event.verb != "learn":  # counted when abandoned
            changes["failures"] = state.failures + 1
    return changes


def _time_or_none(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _approval(data: Mapping[str, Any], at: datetime, details: Mapping[str, Any]) -> Approval:
    """An approval from its event; an override lifts only what it names (`lifts`).

    An override recorded before `lifts` existed lifts only the violations its
    event's `details.violations` names (`legacy_lifts`), and nothing without them.
    """
    lifts = data.get("lifts")
    if not isinstance(lifts, list):
        lifts = legacy_lifts(details.get("violations"))
    return Approval(
        by=str(data.get("by", "")),
        content_hash=data.get("contentHash"),
        at=at,
        reason=data.get("reason"),
        override=bool(data.get("override", False)),
        lifts=tuple(str(ref) for ref in lifts if isinstance(ref, str)),
        action_hash=data.get("actionHash") if isinstance(data.get("actionHash"), str) else None,
    )


def fold(events: Iterable[Event]) -> dict[str, RequestState]:
    """The state of every request the events name."""
    by_request: dict[str, list[Event]] = {}
    for event in events:
        by_request.setdefault(event.request_id, []).append(event)
    states: dict[str, RequestState] = {}
    for request_id, chain in by_request.items():
        state = RequestState(request_id)
        for event in order_chain(chain):
            state = apply_event(state, event)
        states[request_id] = state
    return states


def extend(
    known: Callable[[str], RequestState], events: Iterable[Event]
) -> dict[str, RequestState] | None:
    """The states after `events` are added to known states (`known(request_id)`), or None
    unless each request's new events form one unbroken line from its head: then the
    result is exactly what `fold` of all its events gives; anything else needs `fold`."""
    by_request: dict[str, list[Event]] = {}
    for event in events:
        by_request.setdefault(event.request_id, []).append(event)
    states: dict[str, RequestState] = {}
    for request_id, chain in by_request.items():
        state = known(request_id)
        following: dict[str | None, Event] = {}
        for event in chain:
            if event.prev in following or event.id in state.ids:
                return None  # a fork, a duplicate, an event recorded twice
            following[event.prev] = event
        for _ in chain:
            step = following.get(state.head)
            if step is None:
                return None  # an event that does not follow the chain
            state = apply_event(state, step)
        states[request_id] = state
    return states


def ordered(events: Iterable[Event]) -> list[Event]:
    """Every event in causal order: by request chain, requests interleaved by time."""
    by_request: dict[str, list[Event]] = {}
    for event in events:
        by_request.setdefault(event.request_id, []).append(event)
    indexed: list[tuple[str, int, str, Event]] = []
    for chain in by_request.values():
        for i, event in enumerate(order_chain(chain)):
            indexed.append((event.at, i, event.id, event))
    indexed.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in indexed]


def newest_first(events: Iterable[Event]) -> list[Event]:
    """Newest first; among events at the same instant, effects before their causes."""
    causal = ordered(events)
    causal.reverse()
    return sorted(causal, key=lambda e: _negate(e.at))


def _negate(at: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in at)


def retry_time(at: datetime, backoff: timedelta, failures: int) -> datetime:
    """Exponential backoff: backoff, 2×backoff, 4×backoff… after the nth failure."""
    return later(at, backoff * (1 << max(0, failures - 1)))
