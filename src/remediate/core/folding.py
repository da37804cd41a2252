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
not following their head as of the base.

With `compact`, a request that settles (COMPLETED, REJECTED, CANCELLED: left by no verb)
is kept as a `Settled` record (its status, event count and a digest of its state) and
its executions as rows of `rows`: a few hundred bytes where its state is ~2 KB, so that
memory follows the requests still moving, not every request ever made. An event that
comes for a settled request (no verb may, so it is a problem either way) makes its chain
irregular: read again, it is judged from all its events as without `compact` (the same
problems; like any irregular chain it also sets aside the checkpoint checks that need
every chain regular, until it is undone). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

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
from remediate.core.lifecycle import SETTLED
from remediate.core.streams import Key, StreamEvent, StreamState

REQUESTS = st.REQUESTS


def _short(text: str) -> int:
    """A 64-bit digest of an event id or hash: enough to tell two ids, or two copies of
    one, apart (a collision could only call one event twice: a false alarm)."""
    data = text.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def state_digest(state: RequestState) -> bytes:
    """What a request state is, in 16 bytes: the digest of the checkpoint's encoding of it
    (`core.checkpoint.encode`, every field), so two states with the same digest are equal."""
    from remediate.core import checkpoint as cp

    text = cp.dumps(cp.encode(state))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class Settled(NamedTuple):
    """A settled request as `Folder(compact=True)` keeps it."""

    status: str
    events: int
    digest: bytes  # `state_digest` of its state


class Lines:
    """A multiset of text lines by its count and the sum of their digests (mod 2**256):
    what comparing two sorted lists of them tells, without holding either (50,000
    executions are ~20 MB of rows to sort; two of these are a few bytes)."""

    def __init__(self) -> None:
        self.count, self.total = 0, 0

    def add(self, line: str) -> None:
        digest = hashlib.blake2b(line.encode(), digest_size=32).digest()
        self.count += 1
        self.total = (self.total + int.from_bytes(digest, "big")) % (1 << 256)

    def merged(self, other: Lines) -> Lines:
        found = Lines()
        found.count = self.count + other.count
        found.total = (self.total + other.total) % (1 << 256)
        return found

    @classmethod
    def of(cls, text: str) -> Lines:
        """The lines of `text` as `str.splitlines(keepends=True)` cuts them."""
        found = cls()
        if any(c in text for c in _OTHER_BREAKS):  # cut as splitlines does
            for line in text.splitlines(keepends=True):
                found.add(line)
            return found
        start = 0
        while start < len(text):
            end = text.find("\n", start) + 1 or len(text)
            found.add(text[start:end])
            start = end
        return found

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lines) and (self.count, self.total) == (other.count, other.total)

    __hash__ = None  # type: ignore[assignment]


# what `str.splitlines` also breaks lines at, besides "\n"
_OTHER_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def execution_rows(state: RequestState, into: dict[str, Lines]) -> None:
    """`state`'s executions as the checkpoint's month files hold them (a row each)."""
    from remediate.core import checkpoint as cp

    for execution in state.executions:
        line = cp.dumps(cp.encode(execution))
        into.setdefault(cp.execution_month(execution.at), Lines()).add(line)


@dataclass
class Folder:
    """States of every subject after the events added so far, and the problems seen.

    `known_request` / `known_stream`: the states to start from (the state as of a base
    commit, for `--since`); by default every subject starts empty."""

    known_request: Callable[[str], RequestState] = RequestState
    known_stream: Callable[[Key], StreamState] = lambda key: st.start(*key)
    compact: bool = False
    states: dict[str, RequestState] = field(default_factory=dict)
    settled: dict[str, Settled] = field(default_factory=dict)  # with `compact`
    # the executions of the settled, by month file, as they settled (a chain `settle`
    # reads again stays counted: a comparison with them skips irregular audits)
    rows: dict[str, Lines] = field(default_factory=dict)
    streams: dict[Key, StreamState] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # duplicate ids (not per chain)
    chain_problems: dict[Key, list[str]] = field(default_factory=dict)
    irregular: dict[Key, str] = field(default_factory=dict)  # key → the first event that broke it
    events: int = 0
    _ids: dict[int, int] = field(default_factory=dict)  # short id → short hash
    # events of a subject not seen yet that follow an event not seen: after retention, the
    # kept events of a chain come (in commit order) before the checkpoint that stands for
    # their predecessor; they are folded once it comes (`flush`: the rest are irregular)
    pending: dict[Key, list[AnyEvent]] = field(default_factory=dict)

    def add(self, event: AnyEvent) -> None:
        self.events += 1
        short, named = _short(event.hash), _short(event.id)
        other = self._ids.get(named)
        if other is not None:
            self.problems.append(
                f"event {event.id} appears twice"
                + (" with different content" if other != short else "")
            )
            return
        self._ids[named] = short
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
        if name in self.settled:  # no verb leaves it: judged from all its events
            self.irregular[event.key] = event.id
            return
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
        if self.compact:
            self._settle_one(name)

    def _settle_one(self, name: str) -> None:
        state = self.states.get(name)
        if state is None or state.status not in SETTLED or ("requests", name) in self.irregular:
            return
        del self.states[name]
        self.settled[name] = Settled(state.status, state.events, state_digest(state))
        execution_rows(state, self.rows)

    def status(self, name: str) -> str | None:
        """The status of request `name` (None: the audit does not hold it)."""
        state = self.states.get(name)
        if state is not None:
            return state.status
        done = self.settled.get(name)
        return done.status if done is not None else None

    def requests(self) -> Iterator[str]:
        """Every request folded so far."""
        yield from self.states
        yield from self.settled

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
                self.settled.pop(key[1], None)
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
