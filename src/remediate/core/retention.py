"""Retention: which audit files to retire, the checkpoint events that replace them, and the
`retention` stream that records each enforcement; pure.

`plan` takes every audit file at the tip (in any order) and a cutoff. A file is retired
when every event in it is older than the cutoff and, for every chain it holds events of,
everything before them in that chain is retired too (so what is removed is a prefix of
each chain: runners' clocks may differ). Each chain that loses events gets one
**checkpoint event** (verb `retain`, `prev` null: it starts the chain anew) carrying the
state the removed events fold to (`details.state`, the runner checkpoint's encoding) and
what it stands for (`details.retained`: `head`, the hash of the last removed event — what
the chain's later events name as `prev` —, their number, and a digest of their hashes in
chain order). The folds (`core.audit.apply_event`, `core.streams.step`) restore that
state, and the chain checks treat the checkpoint as the event it replaced, so state,
`status`, `stats` and `audit verify` read the same after retention as before.

A chain whose removed part is one earlier checkpoint alone keeps that event as it is (copied
into the new file: same id, same hash), and a plan that would replace nothing but earlier
checkpoints and enforcement records is empty, so enforcing again changes nothing.

A chain that does not verify (a fork, a broken link, a refused event, a duplicate id) is
left alone, with every file holding its events. The enforcement itself is one subject
of the `retention` stream (an `enforce` event: the seed's fields, how many files, and
`removed`, a digest of the removed paths, which the guard checks against the commit's
deletions: `core.authorship.retention_paths`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.core import lifecycle
from remediate.core import streams as st
from remediate.core.streams import RETAIN, Key, StreamEvent

STREAM = "retention"
ENFORCE = "enforce"


def _refuse(value: Any, event: StreamEvent) -> str | None:
    if event.verb != ENFORCE:
        return f"a retention enforcement has no verb {event.verb!r}"
    if value is not None:
        return "retention was already enforced for this subject"
    return None


st.register(
    st.Fold(
        STREAM,
        start=lambda subject: None,
        step=lambda value, event: dict(event.details),
        refuse=_refuse,
        over=lambda value, attempt: value is not None,
    )
)


def removed_digest(paths: Iterable[str]) -> str:
    """What an enforcement records of the files it removed (sorted, one per line)."""
    text = "\n".join(sorted(paths))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _chain_digest(hashes: Iterable[str]) -> str:
    return "sha256:" + hashlib.sha256("\n".join(hashes).encode()).hexdigest()


@dataclass(frozen=True)
class AuditFile:
    """One audit file at the tip: its events in line order; `readable`: every line is one."""

    path: str
    events: tuple[Any, ...]  # core.audit.AnyEvent
    readable: bool = True


@dataclass(frozen=True)
class Plan:
    removed: tuple[str, ...]  # the audit files to delete, sorted
    deleted: int  # the events they hold that are replaced (not records, not copied ones)
    checkpoints: tuple[Any, ...]  # one `retain` event per chain that loses events
    carried: tuple[Any, ...] = ()  # earlier checkpoints alone in their chain, copied as they are

    def record(self, organization: str, days: int, cutoff: str) -> dict[str, Any]:
        """The `enforce` event's details: the seed's shape, and what the guard checks."""
        return {
            "organizationId": organization,
            "retentionDays": days,
            "cutoff": cutoff,
            "deletedCount": self.deleted,
            "files": len(self.removed),
            "checkpoints": len(self.checkpoints),
            "removed": removed_digest(self.removed),
        }


def plan(
    files: Sequence[AuditFile],
    cutoff: datetime,
    now: str,
    actor: str,
    new_id: Callable[[], str],
) -> Plan:
    """What retention at `cutoff` removes from `files`, and the checkpoints replacing it
    (their time `now`, the runner's real one; `actor` the runner)."""
    from remediate.core.audit import Event, RequestState, apply_event, order_chain
    from remediate.core.chains import _check_chain
    from remediate.core.checkpoint import encode
    from remediate.core.times import iso, parse_time

    old = {
        f.path
        for f in files
        if f.readable and f.events and all(parse_time(e.at) < cutoff for e in f.events)
    }
    where: dict[str, str] = {}
    by_key: dict[Key, list[Any]] = {}
    bad: set[Key] = set()
    for f in files:
        for event in f.events:
            if event.id in where:
                bad.add(event.key)
            where.setdefault(event.id, f.path)
            by_key.setdefault(event.key, []).append(event)
    chains: dict[Key, list[Any]] = {}
    for key, events in by_key.items():
        if key[0] == st.REQUESTS:
            problems = _check_chain(key[1], events)
            chains[key] = order_chain(events)
        else:
            problems = st.check(key, events)
            chains[key] = st.order(events)
        if problems:
            bad.add(key)
    for key in bad:  # left alone: `audit verify` names what is wrong with them
        old.difference_update(where[e.id] for e in by_key[key])
    changed = True
    while changed:  # what is removed of each chain is a prefix of it
        changed = False
        for chain in chains.values():
            kept = False
            for event in chain:
                path = where[event.id]
                if path not in old:
                    kept = True
                elif kept:
                    old.discard(path)
                    changed = True
    checkpoints: list[Any] = []
    carried: list[Any] = []
    at, until = now, iso(cutoff)
    for key in sorted(chains):
        prefix = [e for e in chains[key] if where[e.id] in old]
        if not prefix:
            continue
        if len(prefix) == 1 and prefix[0].replaced is not None:
            carried.append(prefix[0])  # a checkpoint alone: copied as it is, not replaced
            continue
        retained = {
            "head": prefix[-1].hash,
            "events": len(prefix),
            "hash": _chain_digest(e.hash for e in prefix),
        }
        if key[0] == st.REQUESTS:
            state = RequestState(key[1])
            for event in prefix:
                state = apply_event(state, event)
            checkpoints.append(
                Event(
                    id=new_id(),
                    at=at,
                    request_id=key[1],
                    from_=lifecycle.NEW,
                    to=state.status,
                    actor=actor,
                    details={
                        "verb": RETAIN,
                        "detail": f"retention: {len(prefix)} event(s) before {until} replaced",
                        "state": encode(state),
                        "retained": retained,
                        "cutoff": until,
                    },
                    error=state.error,
                    incident_id=state.incident_id,
                    action_type=state.action_type,
                    service_name=state.service_name,
                    environment=state.environment,
                )
            )
        else:
            value = st.start(*key)
            for other in prefix:
                value = st.step(value, other)
            checkpoints.append(
                StreamEvent(
                    id=new_id(),
                    at=at,
                    stream=key[0],
                    subject=key[1],
                    verb=RETAIN,
                    actor=actor,
                    details={
                        "state": value.as_json(st.fold_of(key[0])),
                        "retained": retained,
                        "cutoff": until,
                    },
                )
            )
    copied = {e.id for e in carried}
    deleted = sum(
        1
        for f in files
        if f.path in old
        for e in f.events
        if e.id not in copied and e.key[0] != STREAM
    )
    if not deleted:  # nothing but earlier checkpoints and records: no churn
        return Plan((), 0, ())
    return Plan(tuple(sorted(old)), deleted, tuple(checkpoints), tuple(carried))
