"""Retention: which audit events to remove, the checkpoint events that replace them, and
the `retention` stream that records each enforcement; pure.

`plan` takes every audit file at the tip (in any order) and a cutoff. An event is removed
when it is older than the cutoff and so is everything before it in its chain (what is
removed is a prefix of each chain: runners' clocks may differ). A file that loses some of
its events but not all is removed too, and the events it keeps are written again, byte
for byte (same id, same hash: `carried`), in the retention commit's new file — only a file
whose every line is its event as `core.audit.to_line` writes it (`AuditFile.exact`) is
split this way; any other loses all its events or none. Each chain that loses events gets
one **checkpoint event** (verb `retain`, `prev` null: it starts the chain anew) carrying the
state the removed events fold to (`details.state`, the runner checkpoint's encoding) and
what it stands for (`details.retained`: `head`, the hash of the last removed event — what
the chain's later events name as `prev` —, their number, and a digest of their hashes in
chain order). The folds (`core.audit.apply_event`, `core.streams.step`) restore that
state, and the chain checks treat the checkpoint as the event it replaced, so state,
`status`, `stats` and `audit verify` read the same after retention as before.

A chain whose removed part would be one earlier checkpoint alone keeps it (in place, or
copied as it is when its file goes), and a plan that would replace nothing but earlier
checkpoints and enforcement records is empty, so enforcing again changes nothing.

A chain that does not verify (a fork, a broken link, a refused event, a duplicate id) is
left alone: every event of it stays, byte for byte. The enforcement itself is one subject
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
    """One audit file at the tip: its events in line order; `readable`: every line is one;
    `exact`: and each is what `core.audit.to_line` makes of it (so writing its events again
    gives the same bytes)."""

    path: str
    events: tuple[Any, ...]  # core.audit.AnyEvent
    readable: bool = True
    exact: bool = True  # each line is its event as `core.audit.to_line` writes it


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

    where: dict[str, str] = {}
    by_key: dict[Key, list[Any]] = {}
    bad: set[Key] = set()
    for f in files:
        for event in f.events:
            if event.id in where:
                bad.add(event.key)
            where.setdefault(event.id, f.path)
            by_key.setdefault(event.key, []).append(event)
    by_id = {e.id: e for f in files for e in f.events}
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
    # a file whose every line is an event, each as `core.audit.to_line` writes it, can lose
    # some of its events: the rest are written again byte for byte; any other file goes
    # whole or not at all
    split = {f.path for f in files if f.readable and f.exact}
    whole = {f.path: {e.id for e in f.events} for f in files if f.readable and not f.exact}
    gone: set[str] = set()  # the ids of the events removed
    for key, chain in chains.items():
        if key in bad:  # left alone: `audit verify` names what is wrong with them
            continue
        for event in chain:  # what is removed of each chain is a prefix of it
            if parse_time(event.at) >= cutoff or (
                where[event.id] not in split and where[event.id] not in whole
            ):
                break
            gone.add(event.id)
    changed = True
    while changed:
        changed = False
        for ids in whole.values():  # a file that cannot be split loses all or nothing
            if ids & gone and not ids <= gone:
                gone -= ids
                changed = True
        for chain in chains.values():  # ... and each chain still loses a prefix
            kept = False
            for event in chain:
                if event.id not in gone:
                    kept = True
                elif kept:
                    gone.discard(event.id)
                    changed = True
            prefix = [e for e in chain if e.id in gone]
            if len(prefix) == 1 and prefix[0].replaced is not None:
                gone.discard(prefix[0].id)  # a checkpoint alone stays as it is
                changed = True
    old = {where[i] for i in gone}
    checkpoints: list[Any] = []
    at, until = now, iso(cutoff)
    for key in sorted(chains):
        prefix = [e for e in chains[key] if e.id in gone]
        if not prefix:
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
    # the events of the files removed that are not: written again as they are (same
    # bytes, same hash), in file and line order
    carried = [e for f in files if f.path in old for e in f.events if e.id not in gone]
    deleted = sum(1 for i in gone if by_id[i].key[0] != STREAM)
    if not deleted:  # nothing but earlier checkpoints and records: no churn
        return Plan((), 0, ())
    return Plan(tuple(sorted(old)), deleted, tuple(checkpoints), tuple(carried))
