"""Start marks: the proof, on the remote, of whether a claimed action started.

A claim ref `refs/claims/<request>/<attempt>` points at its claim commit C once won.
Before an action starts, its runner moves the ref, by compare-and-swap on C, to a
*start mark*: a child of C (C's tree, so the claim's events stay readable, plus
`mark` saying "started"). A run that finds a dead runner's execution past its deadline
moves the ref, by compare-and-swap on C, to a *release mark* ("released") instead.
Exactly one of the two moves wins, so an attempt is either started (and, if its
runner died, becomes FAILED with the outcome unknown) or released (and goes back to
QUEUED, as a new attempt), never both. A ref that is gone or unreadable proves
nothing: the attempt is taken as started, as before start marks existed.

Marks are pushed ahead in batches (`Marker`): a runner starting many short actions
marks the next ones with the current one, doubling the batch while marks are asked
for less than a second apart, so a thousand no-op actions cost about ten pushes; one
slow action after another is marked one at a time. An attempt marked but never
started by a runner that died is taken as started: at worst FAILED (outcome unknown),
never run twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from remediate.core.commits import Person
from remediate.service.claims import claim_ref, who_won
from remediate.service.ports import Store

MARK_FILE = "mark"
STARTED = "started"
RELEASED = "released"
FAST_SECONDS = 1.0  # marks asked for within this of the last push: mark more ahead
MOST_AHEAD = 256


def _mark(store: Store, runner: Person, claim_sha: str, what: str) -> str:
    return store.make_commit(
        claim_sha, {MARK_FILE: what + "\n"}, f"remediate {what}\n", runner, runner
    )


class Marker:
    """Moves this run's claim refs to its start mark before each action starts."""

    def __init__(
        self,
        store: Store,
        runner: Person,
        claim_sha: str,
        refs: Sequence[str],
        stopping: Callable[[], str | None],
    ) -> None:
        self.store, self.runner, self.claim_sha = store, runner, claim_sha
        self.order = list(refs)  # in the order the actions are expected to start
        self.stopping = stopping
        self.marked: set[str] = set()
        self.lost: set[str] = set()  # released by another run: never to start here
        self.lock = threading.Lock()
        self.ahead = 1
        self.last = float("-inf")
        self.sha: str | None = None

    def start(self, request: str, attempt: int) -> str | None:
        """None if the action may start now (its start mark is on the remote), else why not:
        "stopping" (the runner is stopping: nothing is marked) or "released" (another run
        proved it had not started and queued it again)."""
        ref = claim_ref(request, attempt)
        with self.lock:
            if self.stopping() is not None:
                return "stopping"
            if ref not in self.marked and ref not in self.lost:
                self._push(ref)
            return None if ref in self.marked else "released"

    def _push(self, ref: str) -> None:
        fast = time.monotonic() - self.last < FAST_SECONDS
        self.ahead = min(self.ahead * 2, MOST_AHEAD) if fast else 1
        rest = [r for r in self.order if r != ref and r not in self.marked and r not in self.lost]
        batch = [ref, *rest[: self.ahead - 1]]
        if self.sha is None:
            self.sha = _mark(self.store, self.runner, self.claim_sha, STARTED)
        results = self.store.push_leases({r: (self.sha, self.claim_sha) for r in batch})
        won = who_won(self.store, results, dict.fromkeys(batch, self.sha))
        for r in batch:
            (self.marked if won.get(r) else self.lost).add(r)
        self.last = time.monotonic()


def never_started(
    store: Store, runner: Person, request: str, attempt: int, seal: bool = True
) -> bool:
    """Is it proven that this attempt never started? Its claim ref holds a release mark,
    or holds its claim commit and this run moves it to a release mark first (with
    `seal`; without, as for a dry run, it only says so and changes nothing)."""
    ref = claim_ref(request, attempt)
    sha = store.refs_named([ref]).get(ref)
    if sha is None:
        return False
    store.fetch_refs([ref])
    mark = store.show(sha, MARK_FILE)
    if mark is not None:
        return mark.strip() == RELEASED
    if not seal:
        return True
    released = _mark(store, runner, sha, RELEASED)
    return who_won(store, store.push_leases({ref: (released, sha)}), {ref: released}).get(
        ref, False
    )
