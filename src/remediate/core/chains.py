"""Verification of the audit's hash chains: what a fold cannot trust.

Pure: no I/O, no clock. `check_chains` reports broken links, forks, duplicate ids and
forbidden transitions; `audit verify` runs it over every event (`service.verify`).
"""

from __future__ import annotations

from collections.abc import Iterable

from remediate.core import streams
from remediate.core.audit import AnyEvent, Event, RequestState, apply_event, order_chain, permitted
from remediate.core.streams import Key, StreamEvent


def check_chains(events: Iterable[AnyEvent]) -> list[str]:
    """Problems that show tampering: broken links, forks, duplicate ids, forbidden transitions
    (of every stream: request chains here, the others' by `streams.check`)."""
    problems: list[str] = []
    by_id: dict[str, AnyEvent] = {}
    by_request: dict[str, list[Event]] = {}
    by_key: dict[Key, list[StreamEvent]] = {}
    for event in events:
        other = by_id.get(event.id)
        if other is not None:
            if other.hash != event.hash:
                problems.append(f"event {event.id} appears twice with different content")
            else:
                problems.append(f"event {event.id} appears twice")
            continue
        by_id[event.id] = event
        if isinstance(event, Event):
            by_request.setdefault(event.request_id, []).append(event)
        else:
            by_key.setdefault(event.key, []).append(event)
    for request_id, chain in sorted(by_request.items()):
        problems += _check_chain(request_id, chain)
    for key, others in sorted(by_key.items()):
        problems += streams.check(key, others)
    return problems


def _check_chain(request_id: str, chain: list[Event]) -> list[str]:
    problems = streams.link_problems(f"request {request_id}", "request", chain)
    state = RequestState(request_id)
    for event in order_chain(chain):
        if event.from_ != state.status:
            problems.append(
                f"request {request_id}: event {event.id} moves from {event.from_}, "
                f"but the request was {state.status}"
            )
        elif not permitted(state, event):
            problems.append(
                f"request {request_id}: event {event.id}: {event.from_} → {event.to} "
                f"by {event.verb or 'no verb'} is not a lifecycle transition"
            )
        state = apply_event(state, event)
    return problems
