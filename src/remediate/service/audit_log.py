"""The one audit reader and writer: snapshots of a commit's `audit/`, and pushed batches.

`read` folds `audit/` at a commit into request states (each file's size is checked
from git's tree listing before anything is read); `at_head` reads HEAD once per session;
`history` is what `plan` and `explain` know of the past. `write` commits and pushes what
a build makes of the latest snapshot; on rejection it fetches and rebuilds, so a batch's
`prev` links and `from` statuses always match the remote, and events whose ids are
already there (a push whose reply was lost) are not written again. Never forced: the
branch push itself is a compare-and-swap.
"""

from __future__ import annotations

import json
import random
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from remediate.core.audit import AnyEvent, parse_event
from remediate.core.authorship import RunnerTrust
from remediate.core.automation import Record
from remediate.core.checkpoint import REF as CHECKPOINT_REF
from remediate.core.commits import WON, Person, PushOutcome
from remediate.core.drafting import Batch, after, audit_files, message, new_id
from remediate.core.snapshot import (
    AUDIT_DIR,
    MAX_FILE_BYTES,
    AuditSnapshot,
    oversized,
    parse_all,
    parse_text,
    snapshot,
)
from remediate.core.streams import StreamEvent
from remediate.errors import RemediateError, UserError
from remediate.service import checkpoint
from remediate.service.ports import AuditReader, Store
from remediate.service.session import Session

if TYPE_CHECKING:
    from remediate.service.plan import History

_PARSED: dict[str, tuple[list[AnyEvent], list[str]]] = {}  # file text → its events (add-only)


def read_files(store: AuditReader, rev: str | None) -> dict[str, str]:
    """Every audit file at `rev` (path → text); each size is checked before anything is read."""
    blobs = store.tree_blobs(rev, AUDIT_DIR)
    for path, _, size in blobs:
        refused = oversized(path, size)
        if refused:
            raise UserError(refused)
    return {path: store.blob_text(blob) for path, blob, _ in blobs}


def read(
    store: AuditReader, rev: str | None, runner: RunnerTrust | str | None = None
) -> AuditSnapshot:
    """The audit at `rev`, folded: onto the runner's checkpoint when there is one `rev`
    holds (only the files added since are read), else every file. `runner`: who may have
    written the checkpoint (its identities and keys; an e-mail alone is one identity)."""
    key = (id(store), rev, runner)
    found = _read.get(key)
    if found is None:
        base = checkpoint.find(store, rev, runner)
        found = checkpoint.since(store, rev, base) if base is not None and rev else None
        found = found or read_all(store, rev)
        if len(_read) > 4:
            _read.clear()
        _read[key] = found
    return found


# Per store: a snapshot on a checkpoint reads its buckets through the store it came from
# on first use, and a store is not for several threads at once (two sessions, one process).
_read: dict[tuple[int, str | None, RunnerTrust | str | None], AuditSnapshot] = {}


def read_all(store: AuditReader, rev: str | None) -> AuditSnapshot:
    """Every audit file at `rev`, folded (files already parsed by this process are not again)."""
    files = read_files(store, rev)
    events: list[AnyEvent] = []
    problems: list[str] = []
    for path in sorted(files):
        key = path + "\0" + files[path]
        parsed = _PARSED.get(key)
        if parsed is None:
            parsed = _PARSED[key] = parse_all({path: files[path]})
        events += parsed[0]
        problems += parsed[1]
    return snapshot(events, rev, problems, len(files))


def in_order(
    store: AuditReader, rev: str, changed: Collection[str] = (), base: str | None = None
) -> Iterator[tuple[str, str]]:
    """(path, what to read) of every audit file of `rev` (added after `base`, if given) in
    the order commits added them (topological: a file after every file of the commits it
    descends from), streamed: the blob its commit added, or, for a path in `changed`
    (modified or deleted since: tampering the guard reports), whatever `rev` holds."""
    seen: set[str] = set()
    for path, blob in store.added_in_order(f"{base}..{rev}" if base else rev, AUDIT_DIR):
        if path not in changed:
            yield path, blob
        elif path not in seen:
            seen.add(path)
            yield path, f"{rev}:{path}"


def stream(
    store: AuditReader, files: Iterable[tuple[str, str]]
) -> Iterator[tuple[str, Iterator[AnyEvent | str]]]:
    """The streaming reader: each audit file of `files` ((path, blob or `REV:PATH`), as
    `in_order` lists them) as (path, its events and problems (str) in line order), read
    through one `git cat-file --batch`; nothing is kept, so a caller that aggregates holds
    one file at a time. A file above the size limit stops the read (UserError) before its
    content is decoded; a path its revision does not hold is left out."""
    paths: deque[str] = deque()

    def names() -> Iterator[str]:
        for path, name in files:
            paths.append(path)
            yield name

    for _, size, text in store.texts(names(), MAX_FILE_BYTES):
        path = paths.popleft()
        if size < 0:
            continue  # deleted since: the guard reports it
        if text is None:
            raise UserError(oversized(path, size) or f"{path}: not a file")
        yield path, parse_text(path, text)


def stream_events(
    store: AuditReader,
    rev: str | None,
    stream: str,
    enough: Callable[[list[StreamEvent], str], bool] = lambda found, older: False,
) -> list[StreamEvent]:
    """The events of one stream (not `requests`) at `rev`, in path and line order (as
    `read_all` orders them), reading only what it must: files are read newest first (an
    audit file's name starts with the time of its batch), a file whose text does not
    hold the stream's marker is not parsed, nor is a line without it, and reading stops
    once `enough(found so far, the next file's time)` says no older file can matter.
    Unreadable lines and duplicate ids are left out (`audit verify` names them)."""
    marker = f'"stream":{json.dumps(stream)}'
    blobs = store.tree_blobs(rev, AUDIT_DIR)
    for path, _, size in blobs:
        refused = oversized(path, size)
        if refused:
            raise UserError(refused)
    undated = [b for b in blobs if not file_time(b[0])]  # read whatever their names
    ordered = undated + sorted((b for b in blobs if file_time(b[0])), reverse=True)
    per_file: list[tuple[str, list[StreamEvent]]] = []
    found: list[StreamEvent] = []

    texts = store.texts((blob for _, blob, _ in ordered), MAX_FILE_BYTES)
    for path, _, _ in ordered:
        if per_file and file_time(path) and enough(found, file_time(path)):
            break  # decided before its text is taken
        _, _, text = next(texts, ("", -1, None))
        mine: list[StreamEvent] = []
        if text is not None and marker in text:
            for line in text.splitlines():
                if marker not in line:
                    continue
                try:
                    event = parse_event(json.loads(line))
                except ValueError:
                    continue
                if isinstance(event, StreamEvent) and event.stream == stream:
                    mine.append(event)
        per_file.append((path, mine))
        found.extend(reversed(mine))  # newest first, as read
    close = getattr(texts, "close", None)
    if close is not None:
        close()  # stops `git cat-file` (what it had read ahead is never decoded)
    seen: set[str] = set()
    out: list[StreamEvent] = []
    for _, events in sorted(per_file, key=lambda f: f[0]):  # path order
        for event in events:
            if event.id not in seen:
                seen.add(event.id)
                out.append(event)
    return out


def file_time(path: str) -> str:
    """The time an audit file's name starts with, as an ISO 8601 UTC time ("" if none):
    `audit/2026/11/23/20261123T100000123Z-….jsonl` → `2026-11-23T10:00:00.123Z`."""
    stamp = path.rsplit("/", 1)[-1][:19]
    if len(stamp) != 19 or stamp[8] != "T" or stamp[18] != "Z":
        return ""
    d, t = stamp[:8], stamp[9:18]
    return f"{d[:4]}-{d[4:6]}-{d[6:]}T{t[:2]}:{t[2:4]}:{t[4:6]}.{t[6:9]}Z"


def at_head(session: Session, every: bool = False) -> AuditSnapshot:
    """The audit at HEAD, read once per session: on the runner's checkpoint (fetched
    first) when it can, or, with `every`, all events (what `history` and `actions` list)."""
    key = f"audit@HEAD/{every}"
    found = session.memo.get(key)
    if found is None:
        store = session.store
        trust = runner_trust(session)
        runner = None if every else trust
        if runner:
            refresh(session)
        head = store.head()
        # a checkout behind the runner's checkpoint: from it, less what came after HEAD
        found = checkpoint.rewound(store, head, runner) or read(store, head, runner)
        session.memo[key] = found
    assert isinstance(found, AuditSnapshot)
    return found


def refresh(session: Session) -> None:
    """The remote's `refs/remediate/checkpoint` (the runner's checkpoint), fetched once per command
    (`plan` asks for them twice: the checkpoint ahead of HEAD, then HEAD's audit)."""
    if not session.memo.get(REFRESHED):
        session.memo[REFRESHED] = True
        session.store.refresh()


REFRESHED = "refs/remediate@refreshed"


def checked_at_head(session: Session, every: bool = False) -> AuditSnapshot:
    """`at_head` for what a read command shows: with a warning (once) when it rests on an
    audit log that fails verification."""
    from remediate.service.verify import unverified

    snap = at_head(session, every)
    if not session.memo.get(CHECKED):
        session.memo[CHECKED] = True
        unverified(session, snap, runner_trust(session))
    return snap


CHECKED = "audit@HEAD/checked"


def runner_trust(session: Session) -> RunnerTrust | None:
    """The runner's identities and keys: set by `runtime.load`, else from the settings;
    None while they are invalid."""
    from remediate.core.model import build_repository

    found = session.memo.get(TRUST)
    if isinstance(found, RunnerTrust):
        return found
    try:
        trust = build_repository(session.documents.load_paths(())).settings.runner_trust
    except RemediateError:
        return None
    session.memo[TRUST] = trust
    return trust


TRUST = "runner@trust"  # memo: the runner's `RunnerTrust` this command judges by


def _trust(session: Session, committer: Person) -> RunnerTrust:
    found = session.memo.get(TRUST)
    return found if isinstance(found, RunnerTrust) else RunnerTrust.of(committer.email)


def history(session: Session) -> History:
    """The recorded statuses, approvals, executions and requesters (for plan and explain).

    Outside a git repository, before the first commit or without `audit/`, nothing is
    recorded: every request is NEW, with no approvals to screen, so neither the audit
    nor the requesters need git (and `plan --base` stays fast).
    """
    from remediate.service.plan import History

    root = session.root
    if not (root / ".git").exists() or not (root / AUDIT_DIR).is_dir():
        return History()
    try:
        snap = _ahead(session) or checked_at_head(session)
        head = session.store.head()
        found = checkpoint.requesters(session.store, head, checkpoint.of(snap))
        return History(states=snap.states, requesters=found)
    except RemediateError:
        return History()


def _ahead(session: Session) -> AuditSnapshot | None:
    """The audit at the runner's checkpoint when HEAD is behind it or beside it (a pull
    request's branch, a checkout not pulled since the last run) and holds no audit file
    it lacks: what the runner will decide on, and read from the checkpoint alone, where
    HEAD's own audit would have no checkpoint to rest on (every event read again)."""
    from remediate.service.verify import unverified

    store, trust = session.store, runner_trust(session)
    if trust is None:
        return None
    refresh(session)
    base = checkpoint.stored(store, trust)
    head = store.head()
    if base is None or head is None:
        return None
    if store.resolve(base.commit) is None:  # the branch moved since this clone fetched it
        try:
            store.fetch()
        except RemediateError:
            return None  # offline: HEAD's own audit, read in full
        if store.resolve(base.commit) is None:
            return None
    if store.is_ancestor(base.commit, head):
        return None
    fork = store.merge_base(base.commit, head)
    if fork is None or store.added(fork, head, AUDIT_DIR):
        return None  # HEAD's side changed the audit itself: HEAD's own, read and verified
    snap = read(store, base.commit, trust)
    if not session.memo.get(CHECKED):
        session.memo[CHECKED] = True
        unverified(session, snap, trust)
    return snap


@dataclass
class PushStats:
    commits: int = 0
    pushes: int = 0
    rejected: int = 0
    ambiguous: int = 0


def write(
    session: Session,
    build: Callable[[AuditSnapshot], Batch | None],
    now: datetime,
    author: Person,
    committer: Person,
    stats: PushStats | None = None,
) -> AuditSnapshot:
    """Commit and push what `build` makes of the latest snapshot; the snapshot written on."""
    store = session.store
    stats = stats or PushStats()
    last = ""
    attempts = session.env.push_attempts()
    for attempt in range(attempts):
        tip = store.fetch()
        snap = _known.get((id(store), tip or "")) or read(store, tip, _trust(session, committer))
        session.memo["audit@tip"] = snap
        batch = build(snap)
        if batch is None or not batch.every:
            if tip is not None:
                _forward(session, tip)  # the checkout shows what the remote knows
            return snap
        files = audit_files(now, new_id(), batch.every)
        if batch.removed:  # retention: the one commit that deletes audit files
            sha = store.make_commit(
                tip, files, message(batch), author, committer, remove=batch.removed
            )
        else:
            sha = store.make_commit(tip, files, message(batch), author, committer)
        stats.commits += 1
        if not store.has_upstream:
            store.fast_forward(sha)
            return _written(session, snap, sha, batch, _trust(session, committer), len(files), tip)
        stats.pushes += 1
        outcome, why = store.push_branch(sha)
        if outcome == PushOutcome.OK:
            _forward(session, sha)
            return _written(session, snap, sha, batch, _trust(session, committer), len(files), tip)
        if outcome == PushOutcome.REJECTED:
            stats.rejected += 1
        else:
            stats.ambiguous += 1  # the next fetch shows whether it landed: its ids are skipped
        time.sleep(random.uniform(0.01, 0.05) * min(2**attempt, 16))
        last = why
    raise UserError(f"could not push the audit after {attempts} attempts: {last}")


def write_at_once(
    session: Session,
    tip: str,
    build: Callable[[AuditSnapshot], Batch | None],
    now: datetime,
    runner: Person,
    branch: str,
    also: dict[str, tuple[str | None, str]],
) -> AuditSnapshot | None:
    """`write` of the runner's own batch on `tip` (the tip this command fetched, not
    fetched again), pushed in one atomic push with the ref updates `also` (claims) and
    the checkpoint of what it writes: the branch moves from `tip` to the new commit only
    if every update lands, and none lands otherwise. The snapshot written on, or None
    when the push did not land — then nothing of it did (a lost reply is asked of the
    remote: the first update of `also` holds what was pushed, or none landed), and the
    caller goes the usual way (claim, `write`, `save_checkpoint`). None also when there is
    no remote, nothing to write, or a batch that does not carry its states."""
    store = session.store
    if not store.has_upstream or not also:
        return None
    trust = _trust(session, runner)
    snap = _known.get((id(store), tip)) or read(store, tip, trust)
    batch = build(snap)
    if batch is None or not batch.every or batch.removed:
        return None
    files = audit_files(now, new_id(), batch.every)
    sha = store.make_commit(tip, files, message(batch), runner, runner)
    written = after(snap, sha, batch, len(files))
    if written is None:
        return None
    updates = {**also, f"refs/heads/{branch}": (sha, tip)}
    known = _carry_automation(session, tip, sha)
    saved = _draft(session, runner, written)
    updates.update(saved)
    if not _atomically(store, updates, next(iter(also))):
        if known is not None:
            session.memo[AUTOMATION] = known
        return None
    _forward(session, sha)
    if saved:
        session.memo[CHECKPOINTED] = sha
    return _landed(session, sha, written, tip)


CHECKPOINTED = "checkpoint@pushed"  # memo: the commit whose checkpoint this command pushed


def _atomically(store: Store, updates: dict[str, tuple[str | None, str]], probe: str) -> bool:
    """Push `updates` all or none: did they land? A lost reply is asked of the remote:
    the push was atomic, so whether `probe` holds what was pushed decides for all."""
    results = store.push_leases(updates, atomic=True)
    if "unknown" in results.values():
        return store.refs_named([probe]).get(probe) == updates[probe][0]
    return all(result == WON for result in results.values())


FORWARD = "audit@forward"  # memo: the tip the checkout is to be fast-forwarded to


def _forward(session: Session, sha: str) -> None:
    """Fast-forward the checkout to `sha` once, when the command is done (`settle`): each
    fast-forward rewrites the whole index (40,000 entries at 10,000 requests), and apply
    pushes three times. Builds never read the checkout: they start from the fetched tip."""
    session.memo[FORWARD] = sha


def settle(session: Session) -> None:
    """The checkout shows what the remote knows: the pending fast-forward, if any."""
    sha = session.memo.pop(FORWARD, None)
    if isinstance(sha, str):
        session.store.fast_forward(sha)


# A commit's audit is fixed by its hash: snapshots this process wrote need no re-reading.
_known: dict[tuple[int, str], AuditSnapshot] = {}  # per store, as `_read`


def _written(
    session: Session,
    snap: AuditSnapshot,
    sha: str,
    batch: Batch,
    runner: RunnerTrust,
    files: int | None = None,
    parent: str | None = None,
) -> AuditSnapshot:
    """The snapshot after `batch` landed on `snap` as commit `sha` (in `files` audit
    files, on commit `parent`), without re-reading it."""
    found = after(snap, sha, batch, files)
    if found is None:  # a batch that does not carry its states
        found = read(session.store, sha, runner)
    return _landed(session, sha, found, parent)


def _landed(session: Session, sha: str, found: AuditSnapshot, parent: str | None) -> AuditSnapshot:
    """`found`, the audit at `sha` this command wrote on `parent`: the tip from now on.
    The automation record as of `parent` holds as of `sha` too (a runner commit adds
    audit files only), so the checkpoint need not ask git what changed in between."""
    _known.clear()  # keep one: the latest
    _known[(id(session.store), sha)] = found
    session.memo["audit@tip"] = found
    _carry_automation(session, parent, sha)
    return found


def _carry_automation(session: Session, parent: str | None, sha: str) -> object:
    """The automation record as of `parent` (`runtime.load`'s) as of the runner's commit
    `sha` on it, which adds audit files only; what the memo held before."""
    known = session.memo.get(AUTOMATION)
    if isinstance(known, tuple) and parent is not None and known[0] == parent:
        session.memo[AUTOMATION] = (sha, known[1])
    return known


def save_checkpoint(session: Session, runner: Person) -> bool:
    """After the runner wrote (or read) the tip: the checkout fast-forwarded to it, and its
    checkpoint, if newer than the remote's, recording the request files this command read
    (`runtime.load`) that are settled."""
    update = checkpoint_update(session, runner)
    return bool(update) and checkpoint_pushed(session, runner, session.store.push_leases(update))


def checkpoint_pushed(session: Session, runner: Person, results: Mapping[str, str]) -> bool:
    """Did the checkpoint of a push (`results`: ref → outcome) land? Losing to another
    runner's newer checkpoint is fine; losing to anything else (a ref below
    `refs/remediate/checkpoint/` in the way, a remote that refuses it) would be lost on
    every run, each reading the whole audit, so it is said (once)."""
    outcome = results.get(CHECKPOINT_REF)
    if outcome is None or outcome == WON:
        return outcome == WON
    session.store.refresh()
    if checkpoint.stored(session.store, _trust(session, runner)) is None:
        session.warn(
            f"the runner's checkpoint was not pushed ({outcome}): the remote's "
            f"{CHECKPOINT_REF} is not the runner's and could not be replaced (a ref "
            f"below {CHECKPOINT_REF}/ is in the way, or the remote refuses it); until it "
            "can be, every run reads the whole audit (`git ls-remote origin "
            f"'{CHECKPOINT_REF}*'` shows what is there)"
        )
    return False


def checkpoint_update(session: Session, runner: Person) -> dict[str, tuple[str | None, str]]:
    """`save_checkpoint` without the push: the ref update to push ({} for none)."""
    settle(session)
    snap = session.memo.get("audit@tip")
    if not isinstance(snap, AuditSnapshot) or snap.rev == session.memo.get(CHECKPOINTED):
        return {}  # nothing, or pushed with the events already (`write_at_once`)
    return _draft(session, runner, snap)


def _draft(
    session: Session, runner: Person, snap: AuditSnapshot
) -> dict[str, tuple[str | None, str]]:
    """The checkpoint update of `snap` (`checkpoint.draft`), with the request files this
    command read and the automation record as of `snap`."""
    read = session.memo.get(READ_FILES, {})
    trust, automation = _trust(session, runner), _automation(session, snap)
    return checkpoint.draft(session.store, snap, runner, read, trust, automation)


def _automation(session: Session, snap: AuditSnapshot) -> Record | None:
    """The automation record as of the snapshot's commit: the one `runtime.load` chose
    from, advanced over the commits made since (the runner's own touch no automation)."""
    from remediate.service import at_commit

    known = session.memo.get(AUTOMATION)
    if known is None or snap.rev is None or session.commits is None:
        return None
    return at_commit.advanced(session.commits, snap.rev, known)


READ_FILES = "documents@read"  # memo: the request files `runtime.load` read (path → blob, names)
AUTOMATION = "automation@read"  # memo: (commit, `core.automation.Record` as of it)
