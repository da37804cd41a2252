"""The one claim primitive: a ref per subject and attempt, created only if absent.

Whoever creates a stream's claim ref (for requests `refs/claims/<request>/<attempt>`)
owns that attempt's exit from where it waits: to execute it, or to cancel or re-decide
it (and later: to fire a schedule, send a report, take a worker's job). The ref points
to a parentless commit holding the claim's events, so a runner that dies before its
events reach the branch leaves them where the next run can adopt them (`recovery`).
`who_won` is the one answer to a compare-and-swap push whose reply was lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from remediate.core import lifecycle
from remediate.core import streams as st
from remediate.core.audit import AnyEvent, RequestState, to_line
from remediate.core.commits import ANY_VALUE, UNKNOWN, WON, Person
from remediate.service.ports import AuditWriter, Refs

CLAIM_FILE = "claims.jsonl"
# stream → prefix of its claim refs: one per stream of `core.streams.STREAMS` (its own
# prefix: a ref cannot be both a file and a directory, so streams never share one; a
# request may be named like a stream, so no other stream lives under refs/claims/)
PREFIXES = {
    stream: "refs/claims/" if stream == st.REQUESTS else f"refs/claims-{stream}/"
    for stream in st.STREAMS
}


@dataclass(frozen=True)
class Claim:
    """One attempt of one subject, and the events that leave where it waits."""

    stream: str
    subject: str
    attempt: int
    events: tuple[AnyEvent, ...]  # request events, or `StreamEvent`s of `stream`

    @property
    def ref(self) -> str:
        return claim_ref(self.subject, self.attempt, self.stream)


def claim_ref(subject: str, attempt: int, stream: str = "requests") -> str:
    # names may hold "..", which a ref may not; "%" never occurs in a name
    return f"{PREFIXES[stream]}{subject.replace('.', '%2E')}/{attempt}"


class ClaimStore(AuditWriter, Refs, Protocol):
    """What claiming needs of a store (a `ports.Store` has it)."""


class Won(list[Claim]):
    """The claims a runner won, in order, and the claim commit their refs point to."""

    def __init__(self, claims: Sequence[Claim] = (), sha: str = "") -> None:
        super().__init__(claims)
        self.sha = sha


def claim(store: ClaimStore, runner: Person, claims: Sequence[Claim], why: str) -> Won:
    """Create every claim's ref (→ one commit holding all their events) if absent, in one
    push; the claims this runner won, in order. `why` names the commit ("claims")."""
    if not claims:
        return Won()
    for c in claims:
        if any(e.key != (c.stream, c.subject) for e in c.events):
            raise ValueError(f"a claim of {c.stream} {c.subject} holds another subject's event")
    text = "".join(to_line(e) + "\n" for c in claims for e in c.events)
    sha = store.make_commit(None, {CLAIM_FILE: text}, f"remediate {why}\n", runner, runner)
    wanted: dict[str, str | None] = {c.ref: sha for c in claims}
    results = store.push_leases({ref: (sha, "") for ref in wanted})
    won = who_won(store, results, wanted)
    return Won([c for c in claims if won.get(c.ref)], sha)


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


def parse_claim_ref(ref: str, stream: str = "requests") -> tuple[str, int] | None:
    """(subject, attempt) of a claim ref of `stream`, or None for anything else."""
    prefix = PREFIXES[stream]
    subject, _, attempt = ref.removeprefix(prefix).rpartition("/")
    if not ref.startswith(prefix) or not subject or not attempt.isdigit():
        return None
    return subject.replace("%2E", "."), int(attempt)


def over(refs: Mapping[str, str], state_of: Callable[[str], RequestState]) -> dict[str, str]:
    """The request claim refs (ref → sha) whose attempt is over on the branch: the request
    has moved on to a later attempt, or ended this one in a final status. Nothing leaves
    such an attempt again, so its ref guards nothing: a runner that creates it anew finds
    the attempt taken when it re-reads the branch (`pipeline._claim_and_run`)."""
    found = {}
    for ref, sha in refs.items():
        parsed = parse_claim_ref(ref)
        if parsed is None:
            continue
        state = state_of(parsed[0])
        if state.attempt > parsed[1] or (
            state.attempt == parsed[1] and state.status in lifecycle.FINAL
        ):
            found[ref] = sha
    return found


def over_in(
    stream: str, refs: Mapping[str, str], value_of: Callable[[str], object]
) -> dict[str, str]:
    """`over` for another stream: the refs whose attempt its fold calls over
    (`Fold.over(value, attempt)`); none for a stream without a fold."""
    fold = st.fold_of(stream)
    if fold is None:
        return {}
    found = {}
    for ref, sha in refs.items():
        parsed = parse_claim_ref(ref, stream)
        if parsed is not None and fold.over(value_of(parsed[0]), parsed[1]):
            found[ref] = sha
    return found


def prunable(
    listed: Mapping[str, str], state_of: Callable[[str], object], stream: str = st.REQUESTS
) -> dict[str, tuple[str | None, str]]:
    """The deletions (`Refs.push_leases` updates) of the listed claim refs of `stream` whose
    attempt is over on the branch. Each goes whatever it holds now (`ANY_VALUE`): nothing
    leaves an attempt that is over, and the branch only grows, so a claim ref of such an
    attempt guards nothing, whichever claim commit it names — also one another runner
    made since the listing, which finds the attempt taken when it re-reads the branch.
    `state_of`: a request's `RequestState`, or another stream's folded value of a subject."""
    requests = stream == st.REQUESTS
    done = over(listed, state_of) if requests else over_in(stream, listed, state_of)  # type: ignore[arg-type]
    return {ref: (None, ANY_VALUE) for ref in sorted(done)}


def prune(store: Refs, state_of: Callable[[str], object], stream: str = st.REQUESTS) -> int:
    """Delete the claim refs of `stream` whose attempt is over on the branch (`prunable`);
    how many went."""
    listed = store.claim_refs(PREFIXES[stream])
    if not listed:
        return 0
    results = store.push_leases(prunable(listed, state_of, stream))
    return [r == WON for r in results.values()].count(True)


def release(store: Refs, won: Won, refs: Sequence[str]) -> None:
    """Delete claim refs this runner won but will not use, each only if still its own."""
    if refs:
        deletions: dict[str, tuple[str | None, str]] = {ref: (None, won.sha) for ref in refs}
        store.push_leases(deletions)
