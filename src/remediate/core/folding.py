"""Folding the audit one event at a time: what `audit verify` needs without holding it.

`Folder.add` takes events in commit order (each audit file as the commit that added it
was built on a tip holding every earlier event of its chains), folds each onto its
subject's state and checks it as `core.chains` would: duplicate ids, a link that is not
the chain's head, a forbidden transition. Only the states are kept (one per subject),
never the events, so memory follows the number of subjects, not of events.

A chain that does not simply grow from its head (a fork, an event before its
predecessor, an edited or deleted event) is *irregular*: `Folder` stops folding it and
names it in `irregular`; the caller reads just those subjects' events again and hands
them to `settle`, which judges them exactly as `core.chains.check_chains` does (so the
problems are the same whichever order files came in). Without a second reading
(`audit verify --since`), `settle` is not called and `irregular` chains are reported as
not following their head as of the base. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from remediate.core import streams as st
from remediate.core.audit import (
    AnyEvent,
    Event,
    RequestState,
    apply_event,
    order_chain,
    permitted,
)
from remediate.core.chains import _check_chain
from remediate.core.streams import Key, StreamEvent, StreamState

REQUESTS = st.REQUESTS


def _short(event_hash: str) -> int:
    """A 64-bit digest of an event hash: enough to tell two copies of an id apart."""
    return int.from_bytes(hashlib.blake2b(event_hash.encode(), digest_size=8).digest(), "big")


@dataclass
class Folder:
    """States of every subject after the events added so far, and the problems seen.

    `known_request` / `known_stream`: the states to start from (the state as of a base
    commit, for `--since`); by default every subject starts empty."""

    known_request: Callable[[str], RequestState] = RequestState
    known_stream: Callable[[Key], StreamState] = lambda key: st.start(*key)
    states: dict[str, RequestState] = field(default_factory=dict)
    streams: dict[Key, StreamState] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # duplicate ids (not per chain)
    chain_problems: dict[Key, list[str]] = field(default_factory=dict)
    irregular: dict[Key, str] = field(default_factory=dict)  # key → the first event that broke it
    events: int = 0
    _ids: dict[str, int] = field(default_factory=dict)  # event id → short hash
    # events of a subject not seen yet that follow an event not seen: after retention, the
    # kept events of a chain come (in commit order) before the checkpoint that stands for
    # their predecessor; they are folded once it comes (`flush`: the rest are irregular)
    pending: dict[Key, list[AnyEvent]] = field(default_factory=dict)

    def add(self, event: AnyEvent) -> None:
        self.events += 1
        short = _short(event.hash)
        other = self._ids.get(event.id)
        if other is not None:
            self.problems.append(
                f"event {event.id} appears twice"
                + (" with different content" if other != short else "")
            )
            return
        self._ids[event.id] = short
        key = event.key
        if key in self.irregular:
            return
        if key in self.pending and event.replaced is None:
            self.pending[key].append(event)  # after held ones: its chain order
            return
        if isinstance(event, Event):
            self._request(event)
        else:
            self._other(event)

    def _request(self, event: Event) -> None:
        name = event.request_id
        state = self.states.get(name) or self.known_request(name)
        if event.prev != state.head:
            if not self._wait(event, state.head is None and not state.ids):
                self.irregular[event.key] = event.id
            return
        if event.from_ != state.status:
            self._problem(
                event.key,
                f"request {name}: event {event.id} moves from {event.from_}, "
                f"but the request was {state.status}",
            )
        elif not permitted(state, event):
            self._problem(
                event.key,
                f"request {name}: event {event.id}: {event.from_} → {event.to} "
                f"by {event.verb or 'no verb'} is not a lifecycle transition",
            )
        self.states[name] = apply_event(state, event)
        self._replay(event)

    def _wait(self, event: AnyEvent, unseen: bool) -> bool:
        """Hold `event` for the checkpoint that may stand for its predecessor (True), when
        its subject has no event yet and it follows one."""
        if not unseen or event.prev is None or event.key in self.irregular:
            return False
        self.pending.setdefault(event.key, []).append(event)
        return True

    def _replay(self, event: AnyEvent) -> None:
        """After a retention checkpoint: the held events that follow what it replaced."""
        if event.replaced is None or event.key not in self.pending:
            return
        for held in self.pending.pop(event.key):
            if event.key in self.irregular:
                return
            if isinstance(held, Event):
                self._request(held)
            else:
                self._other(held)

    def flush(self) -> None:
        """Held events no checkpoint came for: their chains are irregular (`settle`)."""
        for key, held in self.pending.items():
            self.irregular.setdefault(key, held[0].id)
        self.pending.clear()

    def _other(self, event: StreamEvent) -> None:
        key = event.key
        state = self.streams.get(key) or self.known_stream(key)
        if event.prev != state.head:
            if not self._wait(event, state.head is None and not state.ids):
                self.irregular[key] = event.id
            return
        why = st.refused(state, event)
        if why is not None:
            self._problem(key, f"{key[0]} {key[1]}: event {event.id} ({event.verb}): {why}")
        self.streams[key] = st.step(state, event)
        self._replay(event)

    def _problem(self, key: Key, text: str) -> None:
        self.chain_problems.setdefault(key, []).append(text)

    def settle(self, events: Iterable[AnyEvent]) -> None:
        """Judge the irregular chains from all their events (read again, in any order):
        the problems and states `core.chains` and `core.audit.fold` give."""
        seen: set[str] = set()
        by_key: dict[Key, list[AnyEvent]] = {}
        for event in events:
            if event.key in self.irregular and event.id not in seen:
                seen.add(event.id)
                by_key.setdefault(event.key, []).append(event)
        for key, chain in by_key.items():
            if key[0] == REQUESTS:
                requests = [e for e in chain if isinstance(e, Event)]
                self.chain_problems[key] = _check_chain(key[1], requests)
                state = RequestState(key[1])
                for event in order_chain(requests):
                    state = apply_event(state, event)
                self.states[key[1]] = state
            else:
                others = [e for e in chain if isinstance(e, StreamEvent)]
                self.chain_problems[key] = st.check(key, others)
                self.streams[key] = st.fold(others)[key]

    def unsettled(self) -> list[str]:
        """The irregular chains as problems, for a check that cannot read them again."""
        return [
            f"{'request ' + k[1] if k[0] == REQUESTS else k[0] + ' ' + k[1]}: event {first} "
            "does not follow the chain's head as of the base (an event was edited, deleted, "
            "forged or inserted)"
            for k, first in sorted(self.irregular.items())
        ]

    def report(self) -> list[str]:
        """Every problem: duplicate ids, then each chain's (by stream and subject)."""
        found = list(self.problems)
        for key in sorted(self.chain_problems):
            found += self.chain_problems[key]
        return found
