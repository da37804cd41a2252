"""Start marks: the proof, on the remote, of whether a claimed action started.

The claims a run won all point at its claim commit C. Next to them, one ref per claim
commit, `refs/starts/<C>`, names which of those claims have *started* and which were
*released*; it is only ever replaced by compare-and-swap. Before an action starts, its
runner adds its claim to `started`; a run that finds a dead runner's execution past its
deadline adds the claim to `released` unless it is already `started`. One ref, one
compare-and-swap per change: a claim is never both started and released, so an attempt
either started (and, if its runner died, becomes FAILED with the outcome unknown) or
provably never did (and goes back to QUEUED as a new attempt). A claim ref or a starts
ref that cannot be read proves nothing: the attempt is taken as started, as before
start marks existed. A starts ref is deleted once no claim ref points at C (`unused`);
a runner whose mark lands after that finds its claim refs gone and starts nothing.

Marks are pushed ahead in batches (`Marker`): a runner starting many short actions
marks the next ones with the current one, the batch growing fourfold while the last
batch's actions took less than a quarter second each, so a thousand no-op actions cost
six one-ref pushes; one slow action after another is marked one at a time. An attempt marked but
never started by a runner that died is taken as started: at worst FAILED (outcome
unknown), never run twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from remediate.core.commits import Person
from remediate.service.claims import claim_ref, who_won
from remediate.service.ports import Store

STARTS_PREFIX = "refs/starts/"
STARTS_FILE = "starts.json"
FAST_SECONDS = 0.25  # the last batch's actions took less than this each: mark more ahead
GROWTH = 4  # each fast push marks this many times more ahead
MOST_AHEAD = 1024
ATTEMPTS = 5  # compare-and-swap rounds before a mark or a release gives up (safe: no start)


def starts_ref(claim_sha: str) -> str:
    return f"{STARTS_PREFIX}{claim_sha}"


@dataclass
class Marks:
    """What `refs/starts/<C>` holds: its sha ("" when absent) and its two sets."""

    sha: str = ""
    started: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)


def read_marks(store: Store, claim_sha: str) -> Marks | None:
    """The marks of claim commit `claim_sha` as the remote holds them now; None if the
    ref exists but cannot be read (it then proves nothing)."""
    ref = starts_ref(claim_sha)
    sha = store.refs_named([ref]).get(ref)
    if sha is None:
        return Marks()
    store.fetch_refs([ref])
    try:
        body = json.loads(store.show(sha, STARTS_FILE) or "")
        return Marks(sha, set(body["started"]), set(body["released"]))
    except (ValueError, KeyError, TypeError):
        return None


def _replace(
    store: Store,
    runner: Person,
    claim_sha: str,
    marks: Marks,
    started: set[str],
    released: set[str],
) -> bool:
    """Replace the marks by compare-and-swap on what `marks` says the ref holds."""
    body = json.dumps({"started": sorted(started), "released": sorted(released)}) + "\n"
    sha = store.make_commit(None, {STARTS_FILE: body}, "remediate starts\n", runner, runner)
    ref = starts_ref(claim_sha)
    won = who_won(store, store.push_leases({ref: (sha, marks.sha)}), {ref: sha}).get(ref, False)
    if won:
        marks.sha, marks.started, marks.released = sha, started, released
    return won


class Marker:
    """Marks this run's claims started, ahead of need, before each action starts."""

    def __init__(
        self,
        store: Store,
        runner: Person,
        claim_sha: str,
        refs: Sequence[str],
        stopping: Callable[[], str | None],
    ) -> None:
        self.store, self.runner, self.claim_sha = store, runner, claim_sha
        self.order = list(refs)  # claim refs, in the order the actions are expected to start
        self.stopping = stopping
        self.marks = Marks()  # a new claim commit: no marks yet
        self.lock = threading.Lock()
        self.ahead = 1
        self.batch = 1  # marks in the last push
        self.last = float("-inf")
        self.gone: set[str] = set()  # marked, but the claim ref no longer holds C: never start
        self.own = ""  # the marks this marker last pushed, while the ref still holds them

    def start(self, request: str, attempt: int) -> str | None:
        """None if the action may start now (marked started on the remote), else why not:
        "stopping" (the runner is stopping: nothing more is marked) or "released"
        (another run proved it had not started and queued it again, or no mark could
        be made)."""
        ref = claim_ref(request, attempt)
        with self.lock:
            if self.stopping() is not None:
                return "stopping"
            for _ in range(ATTEMPTS):
                if ref in self.marks.released or ref in self.gone:
                    return "released"
                if ref in self.marks.started:
                    return None
                if self._push(ref):
                    continue
                found = read_marks(self.store, self.claim_sha)
                if found is None:
                    return "released"
                self.marks = found
            return "released"

    def _push(self, ref: str) -> bool:
        fast = time.monotonic() - self.last < FAST_SECONDS * self.batch
        self.ahead = min(self.ahead * GROWTH, MOST_AHEAD) if fast else 1
        done = self.marks.started | self.marks.released
        rest = [r for r in self.order if r != ref and r not in done]
        batch = {ref, *rest[: self.ahead - 1]}
        self.batch = len(batch)
        on_own = bool(self.own) and self.marks.sha == self.own
        won = _replace(
            self.store,
            self.runner,
            self.claim_sha,
            self.marks,
            self.marks.started | batch,
            set(self.marks.released),
        )
        if won and not on_own:
            # A starts ref is deleted only after every claim ref on C is (`unused`), and
            # those never come back on C: a mark that won on a deleted starts ref (a
            # release there was pruned with it) finds its claim ref gone, and no claim
            # whose ref is gone starts. A mark that won against the marks this marker
            # pushed last needs no such look: the ref held them throughout, so it was
            # not deleted meanwhile (nobody else makes that commit: theirs start from
            # marks they read, or from none, and add a release; ours add starts).
            present = self.store.refs_named(sorted(batch))
            self.gone |= {r for r in batch if present.get(r) != self.claim_sha}
        self.own = self.marks.sha if won else ""
        self.last = time.monotonic()
        return won


def never_started(
    store: Store, runner: Person, request: str, attempt: int, seal: bool = True
) -> bool:
    """Is it proven that this attempt never started? Its claim is released in the marks
    of its claim commit, or is not started there and this run releases it first (with
    `seal`; without, as for a dry run, it only says so and changes nothing)."""
    ref = claim_ref(request, attempt)
    claim_sha = store.refs_named([ref]).get(ref)
    if claim_sha is None:
        return False
    for _ in range(ATTEMPTS):
        marks = read_marks(store, claim_sha)
        if marks is None or ref in marks.started:
            return False
        if ref in marks.released or not seal:
            return True
        if _replace(store, runner, claim_sha, marks, marks.started, marks.released | {ref}):
            return True
    return False


def unused(starts: Mapping[str, str], claims: Mapping[str, str]) -> dict[str, str]:
    """The starts refs (ref → sha) whose claim commit no claim ref points at any more."""
    live = set(claims.values())
    return {ref: sha for ref, sha in starts.items() if ref.removeprefix(STARTS_PREFIX) not in live}
