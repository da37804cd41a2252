"""The one claim primitive: a ref per subject and attempt, created only if absent.

Whoever creates a stream's claim ref (for requests `refs/claims/<request>/<attempt>`)
owns that attempt's exit from where it waits: to execute it, or to cancel or re-decide
it (and later: to fire a schedule, send a report, take a worker's job). The ref points
to a parentless commit holding the claim's events, so a runner that dies before its
events reach the branch leaves them where the next run can adopt them (`recovery`).
`who_won` is the one answer to a compare-and-swap push whose reply was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from remediate.core.audit import Event, to_line
from remediate.core.commits import UNKNOWN, WON, Person
from remediate.service.ports import AuditWriter, Refs

CLAIM_FILE = "claims.jsonl"
# stream → prefix of its claim refs; a new stream is a new row (its own prefix: a ref
# cannot be both a file and a directory, so streams never share one)
PREFIXES = {"requests": "refs/claims/"}


@dataclass(frozen=True)
class Claim:
    """One attempt of one subject, and the events that leave where it waits."""

    stream: str
    subject: str
    attempt: int
    events: tuple[Event, ...]

    @property
    def ref(self) -> str:
        return claim_ref(self.subject, self.attempt, self.stream)


def claim_ref(subject: str, attempt: int, stream: str = "requests") -> str:
    # names may hold "..", which a ref may not; "%" never occurs in a name
    return f"{PREFIXES[stream]}{subject.replace('.', '%2E')}/{attempt}"


class ClaimStore(AuditWriter, Refs, Protocol):
    """What claiming needs of a store (a `ports.Store` has it)."""


def claim(store: ClaimStore, runner: Person, claims: Sequence[Claim], why: str) -> list[Claim]:
    """Create every claim's ref (→ one commit holding all their events) if absent, in one
    push; the claims this runner won, in order. `why` names the commit ("claims")."""
    if not claims:
        return []
    text = "".join(to_line(e) + "\n" for c in claims for e in c.events)
    sha = store.make_commit(None, {CLAIM_FILE: text}, f"remediate {why}\n", runner, runner)
    wanted: dict[str, str | None] = {c.ref: sha for c in claims}
    results = store.push_leases({ref: (sha, "") for ref in wanted})
    won = who_won(store, results, wanted)
    return [c for c in claims if won.get(c.ref)]


def who_won(refs: Refs, results: dict[str, str], wanted: dict[str, str | None]) -> dict[str, bool]:
    """Which compare-and-swap updates this runner won. Where the push reply was lost
    ("unknown"), ask the remote: the update is ours if the ref holds what we pushed
    (is absent, for a deletion) — never guessed."""
    unknown = [ref for ref, result in results.items() if result == UNKNOWN]
    if unknown:
        remote = refs.refs_named(unknown)
        results = {
            **results,
            **{ref: WON if remote.get(ref) == wanted[ref] else "lost" for ref in unknown},
        }
    return {ref: result == WON for ref, result in results.items()}
