"""`audit verify` and the guard of every acting command: every chain intact, and every
audit file at the tip what a runner commit added (`core.authorship` holds the rules).

A full check streams (`audit_log.stream`): files in commit order, one at a time, folded
by `core.folding.Folder`, which keeps one state per subject (a settled request as a
digest of its state) and never the events; it then compares the runner's checkpoint
with that fold. The guard streams the history past too (`authorship`). `--since REF`
checks only what was added after REF, against the state as of REF (`audit_log.read`: on
the runner's checkpoint when one of REF or an ancestor exists, else a streamed fold of
REF).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from remediate.core import checkpoint as cp
from remediate.core.audit import AnyEvent, RequestState
from remediate.core.authorship import (
    Ledger,
    Problem,
    RunnerTrust,
    as_trust,
    judge,
    judged,
    retention_paths,
)
from remediate.core.commits import AuditCommit
from remediate.core.folding import Folder, Lines, Settled, execution_rows, state_digest
from remediate.core.lifecycle import FINAL, SETTLED
from remediate.core.model import build_repository
from remediate.core.snapshot import AUDIT_DIR, MAX_FILE_BYTES, AuditSnapshot, parse_text
from remediate.core.streams import StreamEvent, StreamState
from remediate.errors import RemediateError, UserError
from remediate.service import audit_log, checkpoint
from remediate.service.ports import AuditReader, CommitDocuments
from remediate.service.session import Session


@dataclass
class VerifyReport:
    events: int = 0
    files: int = 0
    commits: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "files": self.files,
            "commits": self.commits,
            "problems": self.problems,
        }


def verify(session: Session, since: str | None = None) -> VerifyReport:
    """Every chain at HEAD (or only what came after `since`), and who changed `audit/`:
    the runner's identities and keys come from the settings, loaded fail closed (an
    invalid `remediate.yaml` is reported as such, never read as "no runner identity")."""
    runner = build_repository(session.documents.load_paths(())).settings.runner_trust
    store = session.store
    rev = store.head()
    store.refresh()  # the remote's checkpoint, to compare (quietly: offline reads what it has)
    if since is not None:
        return verify_since(store, rev, since, runner)
    return verify_all(store, rev, runner, session.commits)


def _guarded(report: VerifyReport, store: AuditReader, span: str) -> set[str]:
    """Every commit of `span` that touched `audit/`, streamed past (each counted); the
    paths some commit modified or deleted (the guard's rules: `authorship`)."""
    changed: set[str] = set()
    for commit in store.walk_history(span, AUDIT_DIR):
        report.commits += 1
        changed.update(path for letter, path, _ in commit.changes if letter != "A")
    return changed


def _fold(
    report: VerifyReport, folder: Folder, store: AuditReader, files: Iterable[tuple[str, str]]
) -> None:
    for _, items in audit_log.stream(store, files):
        report.files += 1
        for item in items:
            if isinstance(item, str):
                report.problems.append(item)
            else:
                folder.add(item)


def verify_all(
    store: AuditReader,
    rev: str | None,
    runner: RunnerTrust,
    commits: CommitDocuments | None = None,
) -> VerifyReport:
    """Every chain at `rev` and the guard over its whole history, streamed; then the
    runner's checkpoint compared with the full fold (as of the commit it summarises)."""
    report = VerifyReport()
    if rev is None:
        return report
    changed = _guarded(report, store, rev)
    report.problems += [str(p) for p in authorship(store, rev, runner)[0]]
    base = checkpoint.find(store, rev, runner)
    later: set[str] = set()
    if base is not None:
        added = store.added(base.commit, rev, AUDIT_DIR)  # a file modified since was there
        later = {path for letter, path, _, _ in added if letter == "A"}
    after: list[tuple[str, str]] = []  # the files added since the checkpoint: few

    def first() -> Iterator[tuple[str, str]]:
        for path, name in audit_log.in_order(store, rev, changed):
            if path in later:
                after.append((path, name))
            else:
                yield path, name

    folder = Folder(compact=True)  # settled requests as digests: memory follows the active
    _fold(report, folder, store, first())
    folder.flush()  # events held for a retention checkpoint that did not come: irregular
    mismatches = _compared(store, base, folder, report.files, runner, commits)
    _fold(report, folder, store, after)
    folder.flush()
    if folder.irregular:  # read again just those chains' events: judged exactly
        folder.settle(_events_of(store, rev, changed, folder))
    report.events = folder.events
    report.problems += folder.report() + mismatches
    return report


def _events_of(
    store: AuditReader, rev: str, changed: set[str], folder: Folder
) -> Iterator[AnyEvent]:
    for _, items in audit_log.stream(store, audit_log.in_order(store, rev, changed)):
        for item in items:
            if not isinstance(item, str) and item.key in folder.irregular:
                yield item


def verify_since(
    store: AuditReader, rev: str | None, since: str, runner: RunnerTrust
) -> VerifyReport:
    """What was added to `audit/` after `since`: the guard over those commits, and every
    new event checked against its chain as of `since` (one unbroken line from its head)."""
    base = store.resolve(since)
    if base is None:
        raise UserError(f"--since {since}: no such commit")
    if rev is None or not store.is_ancestor(base, rev):
        raise UserError(f"--since {since}: {base[:12]} is not in the history of HEAD")
    report = VerifyReport()
    changed = _guarded(report, store, f"{base}..{rev}")
    report.problems += [str(p) for p in authorship(store, rev, runner, since=base)[0]]
    known = state_at(store, base, runner)
    folder = Folder(known_request=known.request, known_stream=known.stream)
    _fold(report, folder, store, audit_log.in_order(store, rev, changed, base=base))
    folder.flush()
    report.events = folder.events
    report.problems += folder.report() + folder.unsettled()
    return report


@dataclass
class _Known:
    requests: Any
    streams: Any

    def request(self, name: str) -> RequestState:
        return self.requests.get(name) or RequestState(name)

    def stream(self, key: tuple[str, str]) -> StreamState:
        from remediate.core import streams as st

        return self.streams.get(key) or st.start(*key)


def state_at(store: AuditReader, rev: str, runner: RunnerTrust) -> _Known:
    """The folded state as of `rev`: on the runner's checkpoint of `rev` or an ancestor
    (only the files added since are read), else every file of `rev`, streamed."""
    base = checkpoint.find(store, rev, runner)
    snap = checkpoint.since(store, rev, base) if base is not None else None
    if snap is not None:
        return _Known(snap.states, snap.streams)
    folder = Folder()
    ignored = VerifyReport()
    changed = _guarded(ignored, store, rev)
    _fold(ignored, folder, store, audit_log.in_order(store, rev, changed))
    folder.flush()
    if folder.irregular:
        folder.settle(_events_of(store, rev, changed, folder))
    return _Known(folder.states, folder.streams)


def _compared(
    store: AuditReader,
    base: checkpoint.Stored | None,
    folder: Folder,
    files: int,
    runner: RunnerTrust,
    commits: CommitDocuments | None,
) -> list[str]:
    """`compare`, then what a reader skips on the checkpoint's word (its settled files, its
    streams index); a checkpoint in the runner's name that cannot be read is a problem."""
    if base is None:
        why = checkpoint.undecodable(store, runner)
        return [why] if why else []
    try:
        found = compare(store, base, folder, files)
    except checkpoint.Unreadable as exc:
        return [str(exc)]
    try:
        more = _index_differs(base, folder) + _settled_differ(store, commits, base, folder)
    except checkpoint.Unreadable as exc:
        return [*found, str(exc)]
    head = f"checkpoint {base.sha[:12]} (of {base.commit[:12]}) does not match the audit: "
    shown = [head + text for text in more[:20]]
    if len(more) > 20:
        shown.append(head + f"… and {len(more) - 20} more")
    return found + shown


def _settled_differ(
    store: AuditReader, commits: CommitDocuments | None, base: checkpoint.Stored, folder: Folder
) -> list[str]:
    """The request files the checkpoint records settled (a reader then neither parses nor
    decides them) that are not: the blob it names must be the file's at its commit C, the
    (name, line)s exactly what that blob declares, each of those requests settled in the
    full fold. Bucket by bucket: one bucket's files are read at a time, then dropped."""
    found: list[str] = []
    paths = sorted(p for p in base.blobs if p.startswith("files/"))
    for bucket in paths:
        text = store.blob_text(base.blobs[bucket], keep=False)
        entries = checkpoint.decoded(base.sha, bucket, cp.read_files, text)
        pending = sorted((p, e) for p, e in entries.items() if e.blob is not None and e.names)
        while pending:  # an object not a blob, or too large, ends a `texts` stream: go on after it
            named = (f"{base.commit}:{path}" for path, _ in pending)
            done = 0
            for (path, entry), (_, size, held) in zip(
                pending, store.texts(named, MAX_FILE_BYTES), strict=False
            ):
                done += 1
                found += _settled_entry(commits, folder, path, entry, held)
                if held is None and size != -1:
                    break
            pending = pending[max(done, 1) :]
    return found


def _settled_entry(
    commits: CommitDocuments | None,
    folder: Folder,
    path: str,
    entry: cp.FileEntry,
    held: str | None,
) -> list[str]:
    """What is wrong with one settled entry, given the text of its file at C (`_settled_differ`)."""
    if held is None or cp.blob_id(held) != entry.blob:
        return [f"{path}: recorded settled as a blob the commit does not hold"]
    if commits is not None:
        declared = [
            (d.name, d.line("metadata.name"))
            for d in commits.documents_in(path, held.encode("utf-8"))
            if d.kind == "RemediationRequest"
        ]
        if sorted(declared) != sorted(entry.names):
            return [f"{path}: recorded settled with requests it does not declare"]
    found = []
    for name, _ in entry.names:
        if ("requests", name) in folder.irregular:
            continue
        if folder.status(name) not in SETTLED:
            found.append(f"{path}: recorded settled, but request {name} is not")
    return found


def _index_differs(base: checkpoint.Stored, folder: Folder) -> list[str]:
    """Each entry of `streams.json` a reader uses (one of the checkpoint's buckets) that is
    not what the full fold indexes (`core.checkpoint.index_of` of every subject): each
    schedule's last fire, and every subject that lists a request not settled."""

    def settled(name: str) -> bool:
        return folder.status(name) in SETTLED

    found = []
    names = {
        p[len(cp.STREAMS_DIR) :].partition("/")[0]
        for p in base.blobs
        if p.startswith(cp.STREAMS_DIR)
    }
    for stream in sorted(names):
        entry = base.index(stream)
        if entry is None or any(key[0] == stream for key in folder.irregular):
            continue
        states = [state for key, state in folder.streams.items() if key[0] == stream]
        full = cp.index_of(stream, entry.buckets, states, settled)
        # `requesting` may hold more (a subject whose requests settled since stays listed
        # while its buckets do not change: a reader reads it again); never fewer
        if full.last != entry.last or not set(full.requesting) <= set(entry.requesting):
            found.append(f"{cp.INDEX}: its index of stream {stream} is not the audit's")
    return found


def compare(store: AuditReader, base: checkpoint.Stored, folder: Folder, files: int) -> list[str]:
    """Where the runner's checkpoint disagrees with the full fold as of its commit (the
    states of every stream, the executions, the requesters, the manifest); chains the
    audit itself calls broken are left to their own problems."""
    found: list[str] = []
    skip = set(folder.irregular)
    seen: set[str] = set()
    buckets = sorted(p for p in base.blobs if p.startswith("requests/"))
    texts = store.texts((base.blobs[p] for p in buckets), MAX_FILE_BYTES * 4)
    for path, (_, _, text) in zip(buckets, texts, strict=False):
        for name, state in checkpoint.decoded(base.sha, path, cp.read_states, text or "{}").items():
            seen.add(name)
            if ("requests", name) in skip:
                continue
            full = folder.states.get(name) or folder.settled.get(name)
            if full is None:
                found.append(f"request {name}: in the checkpoint, not in the audit")
            elif not _same(full, state):
                found.append(
                    f"request {name}: the checkpoint says {state.status} after "
                    f"{state.events} event(s), the audit folds to {full.status} after "
                    f"{full.events}"
                    + (
                        " (and more differs)"
                        if full.status == state.status and full.events == state.events
                        else ""
                    )
                )
    for name in sorted(folder.requests()):  # by name: the first 20 shown are always the same
        if name not in seen and ("requests", name) not in skip:
            found.append(f"request {name}: in the audit, not in the checkpoint")
    found += _summaries_differ(store, base)
    seen_keys: set[tuple[str, str]] = set()
    for path in sorted(p for p in base.blobs if p.startswith(cp.STREAMS_DIR)):
        for other in base.stream_bucket(path).values():
            key = (other.stream, other.subject)
            seen_keys.add(key)
            if key not in skip and folder.streams.get(key) != other:
                found.append(f"{key[0]} {key[1]}: the checkpoint's state is not the audit's")
    for key in folder.streams:
        if key not in seen_keys and key not in skip:
            found.append(f"{key[0]} {key[1]}: in the audit, not in the checkpoint")
    if not skip:
        rows = dict(folder.rows)  # month file → the lines the full fold gives it
        live: dict[str, Lines] = {}
        for state in folder.states.values():
            execution_rows(state, live)
        for month, lines in live.items():
            rows[month] = rows[month].merged(lines) if month in rows else lines
        held = {
            path: Lines.of(store.blob_text(base.blobs[path], keep=False))
            for path in cp.months_since(base.blobs, None)
        }
        if {path: lines for path, lines in held.items() if lines.count} != rows:
            found.append("the checkpoint's executions are not those the audit records")
    active = sorted(n for n, s in folder.states.items() if s.status not in FINAL)  # settled: final
    if not skip and tuple(active) != base.manifest.active:
        found.append("the checkpoint's list of requests that are not final is not the audit's")
    if base.manifest.files != files:
        found.append(
            f"the checkpoint counts {base.manifest.files} audit file(s), "
            f"the commit it summarises holds {files}"
        )
    who = store.requesters(checkpoint.REQUESTS, rev=base.commit)
    for path, entry in base.every_file(keep=False):
        if path in who and who.pop(path) != entry.requesters:
            found.append(f"{path}: the checkpoint's requesters are not who added it")
    found += [f"{path}: added, not in the checkpoint" for path in sorted(who)]
    if not found:
        return []
    head = f"checkpoint {base.sha[:12]} (of {base.commit[:12]}) does not match the audit: "
    shown = [head + text for text in found[:20]]
    if len(found) > 20:
        shown.append(head + f"… and {len(found) - 20} more")
    return shown


def _same(full: RequestState | Settled, state: RequestState) -> bool:
    """Is the full fold's state of a request (a settled one as its digest) `state`?"""
    if isinstance(full, Settled):
        return full.digest == state_digest(state)
    return full == state


def _summaries_differ(store: AuditReader, base: checkpoint.Stored) -> list[str]:
    """The checkpoint's `summaries/` buckets (what `stats` and `report` read) that are not
    their request bucket's states; one naming another bucket is not read, so not wrong."""
    from remediate.core.stats import Summary

    found = []
    paths = sorted(p for p in base.blobs if p.startswith(cp.SUMMARIES))
    for path in paths:
        bucket = "requests/" + path.removeprefix(cp.SUMMARIES)
        blob = base.blobs.get(bucket)
        text = store.blob_text(base.blobs[path], keep=False)
        read = partial(cp.read_summaries, bucket_blob=blob or "")
        rows = checkpoint.decoded(base.sha, path, read, text)
        if rows is None:
            continue
        text = store.blob_text(blob, keep=False) if blob else "{}"
        states = checkpoint.decoded(base.sha, bucket, cp.read_states, text)
        if rows != [Summary.of(states[n]).row() for n in sorted(states)]:
            found.append(f"{path}: the summary is not its bucket's states")
    return found


# -- the guard's rules: who may have written audit/ (core.authorship) ---------------------


def authorship(
    store: AuditReader, rev: str | None, trust: RunnerTrust | str, since: str | None = None
) -> tuple[list[Problem], int]:
    """Every audit file at `rev` that is not what a runner commit added (or a runner's file
    that is gone), judged on what changed after `since` (a commit already judged: the
    runner's checkpoint), else on everything; and how many commits were looked at.
    Without `since`, the whole history streams past, never held: it is read again only
    to name a culprit."""
    trust = before_signing(store, as_trust(trust))
    if rev is None:
        return [], 0
    if not since:
        ledger, deleting = Ledger(trust), []
        for commit in store.stream_history(rev, AUDIT_DIR, trust.keys):
            ledger.add(commit)
            if any(letter == "D" for letter, _, _ in commit.changes):
                deleting.append(commit)
        every = (("A", path, blob) for path, blob, _ in store.walk_tree(rev, AUDIT_DIR))
        again = partial(store.audit_history, rev, AUDIT_DIR, trust.keys)
        found = judged(every, ledger, None, retired(store, deleting, trust), again)
        return found, ledger.commits
    changed = [(letter, path, blob) for letter, path, blob, _ in store.added(since, rev, AUDIT_DIR)]
    span = f"{since}..{rev}"
    history = store.audit_history(span, AUDIT_DIR, trust.keys)
    at_tip = {path for letter, path, _ in changed if letter != "D"}
    # a runner file added after `since` and not in the diff: is it still there?
    added = {
        p for c in history if trust.is_runner(c) for letter, p, _ in c.changes if letter == "A"
    }
    for path in sorted(added - at_tip):
        at_tip.update(found for found, _, _ in store.tree_blobs(rev, path))
    return judge(changed, history, trust, at_tip, retired(store, history, trust)), len(history)


def before_signing(store: AuditReader, trust: RunnerTrust) -> RunnerTrust:
    """`trust` knowing which audit commits predate signing: `runner.signingSince` and its
    ancestors (a commit id fixes its whole history, so none can be added later). A
    commit this clone does not have exempts nothing (fail closed: they are refused)."""
    if not trust.signing or not trust.since or trust.unsigned:
        return trust
    key = (id(store), trust.since)
    if key not in _unsigned:
        sha = store.resolve(trust.since)
        history = store.audit_history(sha, AUDIT_DIR) if sha else []
        _unsigned[key] = frozenset(c.sha for c in history)
    return replace(trust, unsigned=_unsigned[key])


_unsigned: dict[tuple[int, str], frozenset[str]] = {}  # per store: signingSince's history


def retired(
    store: AuditReader, history: Iterable[AuditCommit], trust: RunnerTrust
) -> frozenset[str]:
    """Audit files a retention commit of the runner removed, whose absence is no problem:
    a runner commit that deletes audit files is one only when its deletions are exactly
    what the `enforce` event it adds records (`core.authorship.retention_paths`)."""
    found: set[str] = set()
    for commit in history:
        if not any(letter == "D" for letter, _, _ in commit.changes):
            continue
        if not trust.is_runner(commit):
            continue
        found |= retention_paths(commit, _retention_record(store, commit))
    return frozenset(found)


def _retention_record(store: AuditReader, commit: AuditCommit) -> dict[str, Any] | None:
    """The `enforce` event's details among the files `commit` added (None: none)."""
    from remediate.core import retention

    added = [blob for letter, _, blob in commit.changes if letter == "A"]
    for _, _, text in store.texts(added, MAX_FILE_BYTES):
        for item in parse_text("", text or ""):
            if (
                isinstance(item, StreamEvent)
                and item.stream == retention.STREAM
                and item.verb == retention.ENFORCE
            ):
                return dict(item.details)
    return None


def require_runner_only(
    store: AuditReader, rev: str | None, runner: RunnerTrust | str, since: str | None = None
) -> None:
    """Refuse to act on an audit log holding files the runner did not write as they are.

    State is a fold over the events; an event someone else wrote (a forged approval, an
    edited status) must never queue or run anything. With `since` (the commit of the
    runner's checkpoint the state rests on), only what changed after it is judged: what
    came before was judged when the runner wrote the checkpoint.
    """
    found, _ = authorship(store, rev, runner, since)
    if found:
        shown = "\n  ".join(str(p) for p in found[:10]) + (
            f"\n  … and {len(found) - 10} more" if len(found) > 10 else ""
        )
        raise UserError(
            "the audit log holds changes the runner did not make; nothing was done "
            f"(`remediate audit verify` lists them):\n  {shown}"
        )


def foreign_changes_since(store: AuditReader, base: str, runner: RunnerTrust | str) -> list[str]:
    """What HEAD (a pull request) brings to `audit/` that the runner did not write."""
    head = store.head()
    return foreign_changes(store, base, head, runner) if head else []


def foreign_changes(
    store: AuditReader, base: str, head: str, runner: RunnerTrust | str
) -> list[str]:
    """What `head` brings to `audit/` that the runner did not write, judged from where it
    left `base` (their merge base), so newer runner files on `base` are no "deletion"."""
    fork = store.merge_base(base, head)
    found, _ = authorship(store, head, runner, since=fork or base)
    return [str(p) for p in found]


def unverified(session: Session, snap: AuditSnapshot, trust: RunnerTrust | None) -> None:
    """Warn (once) when what a read command shows rests on an audit log that fails
    verification: a file the runner did not write, or an unreadable line."""
    if trust is None or snap.rev is None:
        return
    if snap.ahead is not None:
        # behind the checkpoint's commit, every audit file of HEAD is one of that commit,
        # unchanged (`checkpoint.behind`), and the runner judged it before writing it
        return
    try:  # judged from the runner's checkpoint even when every event was read
        base = snap.base or getattr(checkpoint.find(session.store, snap.rev, trust), "commit", None)
        found, _ = authorship(session.store, snap.rev, trust, base)
    except RemediateError:
        return
    count = len(found) + len(snap.problems)
    if count:
        session.warn(
            f"what this shows rests on an audit log that fails verification ({count} "
            "problem(s)): `remediate audit verify` names them and how to undo them"
        )
