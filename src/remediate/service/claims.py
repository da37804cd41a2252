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
from dataclasses import dataclass, field
from typing import Protocol

from remediate.core import lifecycle
from remediate.core import streams as st
from remediate.core.audit import AnyEvent, RequestState, to_line
from remediate.core.commits import ANY_VALUE, UNKNOWN, WON, Person
from remediate.errors import UserError
from remediate.service.ports import AuditReader, AuditWriter, Refs

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


# Claims decided together (`claim_group`): one ref per group and attempt, `<prefix>@<group>/
# <attempt>` ("@" begins no subject: names begin with a letter or digit), instead of one
# per subject — git's client compares every refspec of a push with every ref of the remote,
# so a thousand claim refs in one push took most of a second to create and as long again
# to prune.
GROUP_MARK = "@"
GROUP_ROUNDS = 16  # racing runners each take one attempt per round: at most this many tries


def group_ref(stream: str, group: str, attempt: int) -> str:
    return f"{PREFIXES[stream]}{GROUP_MARK}{group}/{attempt}"


class GroupClaimStore(ClaimStore, AuditReader, Protocol):
    """What a group claim needs: claiming, and reading other runners' claim commits."""


@dataclass
class Grouped:
    """The claims a runner won in groups, and for each claim it lost, the claim commit
    that holds the winner's events (subject → sha), to adopt if never landed."""

    won: Won
    lost: dict[str, str]
    listed: dict[str, str] | None = None  # the stream's claim refs as this runner left them
    # subject → a ref that stops its group's claim ref from being created (`in_the_way`):
    # no claim, neither won nor lost; it waits until that ref is deleted
    blocked: dict[str, str] = field(default_factory=dict)


def claim_group(
    store: GroupClaimStore,
    runner: Person,
    claims: Sequence[Claim],
    group_of: Callable[[Claim], str],
    why: str,
) -> Grouped:
    """The batch form of `claim`, for claims of one stream decided together: the claims of
    a group (`group_of`, e.g. a fire time) share one ref per attempt, created only if
    absent. A group's attempts are taken in order: before taking attempt n, a runner reads
    the claim commits of attempts 1..n-1 and drops the claims they hold (lost: another
    runner holds them), so each subject is in at most one attempt's commit — once, like
    `claim`, however many runners race. Each group gets its own claim commit (a lost
    group's claims are never read from a commit whose ref this runner failed to create)."""
    if not claims:
        return Grouped(Won(), {})
    stream = _group_stream(claims)
    pending: dict[str, list[Claim]] = {}
    for c in claims:
        pending.setdefault(group_of(c), []).append(c)
    lost: dict[str, str] = {}
    won: list[Claim] = []
    blocked: dict[str, str] = {}
    read: dict[str, frozenset[str] | None] = {}  # claim commit → its subjects (None: unread)
    listed = store.claim_refs(PREFIXES[stream])  # the stream's: the caller may prune them
    if listed is None:
        raise UserError("the remote's claim refs cannot be read: nothing is claimed")
    refs: dict[str, str] = dict(listed)
    for _ in range(GROUP_ROUNDS):
        if not pending:
            break
        taken = {
            ref: sha
            for group in pending
            for attempt in _attempts(refs, stream, group)
            if (sha := refs[ref := group_ref(stream, group, attempt)]) not in read
        }
        if taken:
            store.fetch_refs(sorted(taken))
            for sha in set(taken.values()):
                text = store.show(sha, CLAIM_FILE)
                read[sha] = None if text is None else _subjects(text, stream)
        updates: dict[str, tuple[str | None, str]] = {}
        offered: dict[str, tuple[str, list[Claim]]] = {}
        for group, wanted in sorted(pending.items()):
            attempts = _attempts(refs, stream, group)
            for attempt in attempts:  # every attempt taken, gaps (pruned ones) too
                sha = refs[group_ref(stream, group, attempt)]
                holds = read[sha]  # unreadable: it may hold any of them, so all are lost
                for c in wanted:
                    if holds is None or c.subject in holds:
                        lost.setdefault(c.subject, sha)
                wanted = [c for c in wanted if holds is not None and c.subject not in holds]
            ref = group_ref(stream, group, max(attempts, default=0) + 1)
            if not wanted:
                continue
            text = "".join(to_line(e) + "\n" for c in wanted for e in c.events)
            sha = store.make_commit(None, {CLAIM_FILE: text}, f"remediate {why}\n", runner, runner)
            updates[ref] = (sha, "")
            offered[ref] = (group, wanted)
        pending = {}
        if not updates:
            break
        results = store.push_leases(updates)
        outcome = who_won(store, results, {ref: new for ref, (new, _) in updates.items()})
        again = []
        for ref, (group, wanted) in offered.items():
            if outcome.get(ref):
                won.extend(wanted)
                refs[ref] = updates[ref][0] or ""
                read[refs[ref]] = frozenset(c.subject for c in wanted)
            else:
                pending[group] = wanted
                again.append(ref)
        if again:  # another runner took these attempts first: read what it holds
            refs.update(store.refs_named(again))
        for ref in again:
            other = None if ref in refs else in_the_way(store, ref, refs)
            if other is not None:  # no attempt was taken: no round can create it
                group, wanted = offered[ref]
                blocked.update((c.subject, other) for c in pending.pop(group, wanted))
    order = {id(c): i for i, c in enumerate(claims)}
    return Grouped(Won(sorted(won, key=lambda c: order[id(c)])), lost, refs, blocked)


def first_attempts(
    store: GroupClaimStore,
    runner: Person,
    claims: Sequence[Claim],
    group_of: Callable[[Claim], str],
    why: str,
) -> tuple[Grouped, dict[str, tuple[str | None, str]]] | None:
    """`claim_group` for a caller that pushes the claims together with other ref updates,
    all or none (`Refs.push_leases(atomic=True)`): when no group of `claims` has an
    attempt on the remote yet, the updates creating each group's first attempt (one
    claim commit each, created only if absent) and what winning them all is; else None
    (earlier attempts must be read first: `claim_group`). The claims are this runner's
    only once that push landed; if it did not, none of them is, and `claim_group` starts
    again from the remote's refs."""
    if not claims:
        return None
    stream = _group_stream(claims)
    listed = store.claim_refs(PREFIXES[stream])
    if listed is None:
        raise UserError("the remote's claim refs cannot be read: nothing is claimed")
    pending: dict[str, list[Claim]] = {}
    for c in claims:
        pending.setdefault(group_of(c), []).append(c)
    if any(_attempts(listed, stream, group) for group in pending):
        return None
    updates: dict[str, tuple[str | None, str]] = {}
    refs = dict(listed)
    for group, wanted in sorted(pending.items()):
        text = "".join(to_line(e) + "\n" for c in wanted for e in c.events)
        sha = store.make_commit(None, {CLAIM_FILE: text}, f"remediate {why}\n", runner, runner)
        ref = group_ref(stream, group, 1)
        updates[ref] = (sha, "")
        refs[ref] = sha
    return Grouped(Won(claims), {}, refs), updates


def _group_stream(claims: Sequence[Claim]) -> str:
    """The one stream of a group claim's first attempts (ValueError for anything else)."""
    streams = {c.stream for c in claims}
    if len(streams) != 1 or any(c.attempt != 1 for c in claims):
        raise ValueError("a group claim holds first attempts of one stream")
    for c in claims:
        if any(e.key != (c.stream, c.subject) for e in c.events):
            raise ValueError(f"a claim of {c.stream} {c.subject} holds another subject's event")
    return next(iter(streams))


def _subjects(text: str, stream: str) -> frozenset[str]:
    """The subjects of `stream` whose events a claim commit's file holds."""
    import json

    found = set()
    for line in text.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("stream", st.REQUESTS) == stream:
            found.add(str(data.get("subject", data.get("requestId"))))
    return frozenset(found)


def _attempts(refs: Mapping[str, str], stream: str, group: str) -> list[int]:
    """The attempts of a group that have a ref (in order)."""
    prefix = f"{PREFIXES[stream]}{GROUP_MARK}{group}/"
    return sorted(
        int(r[len(prefix) :]) for r in refs if r.startswith(prefix) and r[len(prefix) :].isdigit()
    )


def prune_groups(
    store: GroupClaimStore,
    stream: str,
    listed: Mapping[str, str],
    landed: Callable[[str], bool],
    at_least: int = 1,
) -> int:
    """Delete the group claim refs of `stream` among `listed` (ref → sha) whose every
    subject is `landed` on the branch — nothing leaves those claims again (a runner that
    takes such a subject anew finds it recorded when it lands) — once there are
    `at_least` of them, in one push, each only if it still holds what was listed; how
    many went."""
    mark = f"{PREFIXES[stream]}{GROUP_MARK}"
    groups = {ref: sha for ref, sha in listed.items() if ref.startswith(mark)}
    if len(groups) < at_least:
        return 0
    store.fetch_refs(sorted(groups))
    done: dict[str, tuple[str | None, str]] = {}
    for ref, sha in groups.items():
        text = store.show(sha, CLAIM_FILE)
        if text is not None and all(landed(s) for s in _subjects(text, stream)):
            done[ref] = (None, sha)
    return [r == WON for r in store.push_leases(done).values()].count(True) if done else 0


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


def in_the_way(refs: Refs, ref: str, listed: Mapping[str, str] | None = None) -> str | None:
    """A ref on the remote that stops the absent `ref` from being created, or None: git
    keeps refs as paths, so none can be both a file and a directory — one where a
    directory of `ref`'s path goes (`refs/claims/r2` for `refs/claims/r2/1`), or one
    inside `ref` (`refs/claims/r2/1/x`). `listed`: what the caller listed of the remote's
    refs around it (the rest is asked for: a lost create is rare)."""
    parts = ref.split("/")
    above = ["/".join(parts[:i]) for i in range(2, len(parts))]  # refs/claims, refs/claims/r2
    known = listed or {}
    found = [r for r in above if r in known] or sorted(r for r in known if r.startswith(ref + "/"))
    if not found and listed is None:
        found = sorted(refs.claim_refs(ref + "/") or {})
    return found[0] if found else min(refs.refs_named(above), default=None)


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
