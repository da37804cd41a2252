"""The runner's checkpoint on the remote: read what it holds, fold only what came after.

`find` trusts a checkpoint only if the runner committed it and its commit C is in the
history of the commit being read; `since` folds onto it just the audit files added in
C..rev, and gives up (the caller reads everything) on anything else: a file modified or
deleted since C, an unreadable line, an event that does not extend its chain. `save`
writes a new checkpoint after the runner pushed: the buckets whose content changed, the
rest taken from the previous one; it replaces the remote ref only by compare-and-swap,
and only with a later commit of the branch (losing that race is fine).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import TypeVar

from remediate.core import checkpoint as cp
from remediate.core import streams as st
from remediate.core.audit import Event, RequestState, extend
from remediate.core.authorship import RunnerTrust, as_trust
from remediate.core.automation import Record
from remediate.core.chains import check_chains
from remediate.core.commits import ANY_VALUE, WON, Person
from remediate.core.decision import Execution
from remediate.core.lifecycle import SETTLED
from remediate.core.snapshot import (
    AUDIT_DIR,
    MAX_FILE_BYTES,
    AuditSnapshot,
    Layered,
    LayeredStreams,
    oversized,
    parse_all,
    split,
)
from remediate.core.streams import Key, StreamEvent, StreamState
from remediate.errors import RemediateError, UserError
from remediate.service.ports import AuditReader, Store

REQUESTS = "remediations"
Names = tuple[tuple[str, int], ...]
ReadFile = tuple[str, Names]  # a request file as read: its blob id, its (name, line)s
S = TypeVar("S")
T = TypeVar("T")

# What decoding a checkpoint file of another shape raises (`json.loads`: ValueError, and
# RecursionError for deep nesting; the decoders: a key missing, a value of another type).
UNDECODABLE = (ValueError, RecursionError, KeyError, TypeError, AttributeError, IndexError)


class Unreadable(UserError):
    """A checkpoint in the runner's name holds a file this version cannot decode: the
    command stops with what to do, never a traceback (`audit verify` reports it)."""

    def __init__(self, sha: str, path: str, exc: BaseException) -> None:
        self.sha, self.path = sha, path
        super().__init__(
            f"the runner's checkpoint {sha[:12]} ({cp.REF}) holds a {path} this version "
            f"cannot read ({type(exc).__name__}); delete that ref "
            f"(`git push origin :{cp.REF}`): the next run reads every event once and "
            "writes a new one"
        )


def decoded(sha: str, path: str, decode: Callable[[S], T], data: S) -> T:
    """`decode(data)`, read of file `path` of checkpoint `sha`; `Unreadable` when it is
    not what this version writes there."""
    try:
        return decode(data)
    except UNDECODABLE as exc:
        raise Unreadable(sha, path, exc) from None


@dataclass
class Stored:
    """A checkpoint as the store holds it, its buckets read on first use (`snapshot.Base`)."""

    store: AuditReader
    sha: str
    manifest: cp.Manifest
    blobs: dict[str, str]  # path in its tree → blob
    _buckets: dict[str, dict[str, RequestState]] = field(default_factory=dict)
    _files: dict[str, dict[str, cp.FileEntry]] = field(default_factory=dict)
    _months: dict[str, list[Execution]] = field(default_factory=dict)  # month file → rows
    _streams: dict[str, dict[str, StreamState]] = field(default_factory=dict)
    _prefetched: set[str] = field(default_factory=set)
    _settled: dict[str, ReadFile] | None = None
    _index: dict[str, cp.StreamIndex] | None = None

    @property
    def commit(self) -> str:
        return self.manifest.commit

    @property
    def active(self) -> tuple[str, ...]:
        return self.manifest.active

    def prefetch(self, prefix: str) -> None:
        """Read every blob under `prefix` not read yet in one pipelined pass (one
        `cat-file --batch` for all), into the store's blob cache."""
        if prefix not in self._prefetched:
            self._prefetched.add(prefix)
            self.store.prefetch([b for p, b in sorted(self.blobs.items()) if p.startswith(prefix)])

    def rows(self) -> dict[str, dict[str, object]]:
        """What `status` prints of every request (status, action type, environment, service,
        updated): from each bucket's summary while it summarises that bucket's blob (a tenth
        of the bucket's JSON to decode), else from the bucket's JSON; no state is decoded."""

        self.prefetch(cp.SUMMARIES)
        found: dict[str, dict[str, object]] = {}
        for path in sorted(p for p in self.blobs if p.startswith("requests/")):
            if path in self._buckets:
                found.update({n: {"status": s.status, "action_type": s.action_type,
                                  "environment": s.environment, "service_name": s.service_name,
                                  "updated_at": s.updated_at}
                              for n, s in self._buckets[path].items()})  # fmt: skip
                continue
            summary = self._summary_rows(path)
            if summary is not None:
                found.update(summary)
            else:
                self.prefetch("requests/")  # a checkpoint without summaries: read the buckets
                text = self.store.blob_text(self.blobs[path])
                found.update(decoded(self.sha, path, _rows_of, text))
        return found

    def _summary_rows(self, path: str) -> dict[str, dict[str, object]] | None:
        """`rows` of request bucket `path` from its summary (`core.stats.Summary.row`), or
        None when the checkpoint has none for the blob it holds, or one of another shape."""
        blob = self.blobs.get(cp.summary_path(path))
        if blob is None:
            return None
        try:
            rows = cp.read_summaries(self.store.blob_text(blob, keep=False), self.blobs[path])
            if rows is None:
                return None
            return {
                row[0]: {"status": row[1], "environment": row[2], "service_name": row[3],
                         "action_type": row[4], "updated_at": row[7]}
                for row in rows
                if len(row) == cp.SUMMARY_ROW and isinstance(row[0], str)
            }  # fmt: skip
        except UNDECODABLE:
            return None

    def bucket(self, path: str) -> dict[str, RequestState]:
        if path not in self._buckets:
            blob = self.blobs.get(path)
            self._buckets[path] = self._decoded(path, cp.read_states) if blob else {}
        return self._buckets[path]

    def state(self, request_id: str) -> RequestState | None:
        return self.bucket(cp.bucket("requests", request_id)).get(request_id)

    def every(self) -> dict[str, RequestState]:
        self.prefetch("requests/")
        found: dict[str, RequestState] = {}
        for path in sorted(p for p in self.blobs if p.startswith("requests/")):
            found.update(self.bucket(path))
        return found

    def stream_bucket(self, path: str) -> dict[str, StreamState]:
        if path not in self._streams:
            blob = self.blobs.get(path)
            read = partial(cp.read_stream, path)
            self._streams[path] = self._decoded(path, read) if blob else {}
        return self._streams[path]

    def stream_state(self, key: Key) -> StreamState | None:
        return self.stream_bucket(cp.stream_bucket(*key)).get(key[1])

    def streams(self) -> dict[Key, StreamState]:
        """Every subject of every other stream (`snapshot.Base`)."""
        found: dict[Key, StreamState] = {}
        for path in sorted(p for p in self.blobs if p.startswith(cp.STREAMS_DIR)):
            found.update({(s.stream, s.subject): s for s in self.stream_bucket(path).values()})
        return found

    def stream_states(self, stream: str) -> dict[Key, StreamState]:
        """Every subject of one stream: its buckets alone."""
        prefix = f"{cp.STREAMS_DIR}{stream}/"
        self.prefetch(prefix)
        found: dict[Key, StreamState] = {}
        for path in sorted(p for p in self.blobs if p.startswith(prefix)):
            found.update({(s.stream, s.subject): s for s in self.stream_bucket(path).values()})
        return found

    def index(self, stream: str) -> cp.StreamIndex | None:
        """The checkpoint's index of `stream` while it is of the buckets this checkpoint
        holds (`core.checkpoint.StreamIndex`); None without one, or a stale one."""
        if self._index is None:
            blob = self.blobs.get(cp.INDEX)
            try:
                self._index = cp.read_index(self.store.blob_text(blob)) if blob else {}
            except UNDECODABLE:
                self._index = {}
        entry = self._index.get(stream)
        if entry is None or entry.buckets != cp.buckets_digest(self.blobs, stream):
            return None
        return entry

    def executions(self, since: datetime | None = None) -> list[Execution]:
        """The execution starts of every month that may hold one later than `since` (all
        of them for None): a rate limit's window reads a month or two, not the history."""
        found: list[Execution] = []
        for path in cp.months_since(self.blobs, since):
            found += self.month(path)
        return found

    def month(self, path: str) -> list[Execution]:
        """The execution starts of one month file (`core.checkpoint.execution_month`)."""
        if path not in self._months:
            blob = self.blobs.get(path)
            self._months[path] = self._decoded(path, cp.read_executions) if blob else []
        return self._months[path]

    def month_text(self, path: str) -> str:
        blob = self.blobs.get(path)
        return self.store.blob_text(blob) if blob else ""

    def files(self, path: str) -> dict[str, cp.FileEntry]:
        if path not in self._files:
            blob = self.blobs.get(path)
            self._files[path] = self._decoded(path, cp.read_files) if blob else {}
        return self._files[path]

    def file(self, path: str) -> cp.FileEntry | None:
        return self.files(cp.bucket("files", path)).get(path)

    def settled_map(self) -> dict[str, ReadFile]:
        """path → (blob, names) of every file recorded settled (`FileEntry.blob` set and
        names), straight from the buckets' JSON (10,000 `FileEntry`s cost more than the
        read; a bucket decoded already is taken as it is). Built once per checkpoint: a
        load and the draft of the next checkpoint both look files up in it."""
        if self._settled is None:
            self.prefetch("files/")
            found: dict[str, ReadFile] = {}
            for path in sorted(p for p in self.blobs if p.startswith("files/")):
                if path in self._files:
                    found.update(
                        (p, (e.blob, e.names))
                        for p, e in self._files[path].items()
                        if e.blob and e.names
                    )
                else:
                    text = self.store.blob_text(self.blobs[path])
                    found.update(decoded(self.sha, path, cp.read_settled, text))
            self._settled = found
        return self._settled

    def every_file(self, keep: bool = True) -> Iterator[tuple[str, cp.FileEntry]]:
        """Every request file's entry, bucket by bucket; `keep=False`: the buckets not read
        yet are streamed through one `cat-file --batch` and kept by nobody (`audit verify`
        needs 50,000 entries one at a time, not all of them at once)."""
        paths = sorted(p for p in self.blobs if p.startswith("files/"))
        if keep:
            self.prefetch("files/")
            for path in paths:
                yield from self.files(path).items()
            return
        fresh = [p for p in paths if p not in self._files]
        texts = self.store.texts((self.blobs[p] for p in fresh), 1 << 30)
        for path in paths:
            if path in self._files:
                yield from self._files[path].items()
                continue
            _, _, text = next(texts, ("", -1, None))
            if text is None:  # not a blob this store holds: read as `files` would
                yield from self.files(path).items()
            else:
                yield from decoded(self.sha, path, cp.read_files, text).items()

    def _decoded(self, path: str, decode: Callable[[str], T]) -> T:
        """File `path` of this checkpoint, read and decoded (`decoded`)."""
        return decoded(self.sha, path, decode, self.store.blob_text(self.blobs[path]))


def _rows_of(text: str) -> dict[str, dict[str, object]]:
    """`Stored.rows` of a request bucket's JSON (the fields it prints of each state)."""
    import json

    data = json.loads(text)
    return {name: {key: data[name][key] for key in _ROW} for name in data}


_ROW = ("status", "action_type", "environment", "service_name", "updated_at")


def settled(base: Stored | None, keep: Collection[str] = ()) -> dict[str, tuple[str, Names]]:
    """Request files that need not be parsed: path → (blob, names) of each file whose
    requests were all settled when the runner last read it (none declared in `keep`).
    Settled statuses are left by no verb, so what a checkpoint of an ancestor says of
    them holds at every later commit; editing such a file changes nothing."""
    if base is None:
        return {}
    recorded = base.settled_map()
    if not keep:
        return dict(recorded)
    return {
        path: (blob, names)
        for path, (blob, names) in recorded.items()
        if not any(n in keep for n, _ in names)
    }


def stored(store: AuditReader, runner: RunnerTrust | str, sha: str | None = None) -> Stored | None:
    """The local checkpoint ref (or commit `sha`, what it held earlier), if the runner
    wrote it (one of its identities, signed by an allowed key when the settings list
    keys) and this version reads it."""
    import json

    sha = sha or store.resolve(cp.REF)
    if sha is None:
        return None
    trust = as_trust(runner)
    key = (id(store), sha, trust)  # a commit never changes: judged and listed once
    if key in _stored:
        return _stored[key]
    found = None
    if by_runner(store, sha, trust, cp.MANIFEST):
        blobs = {path: blob for path, blob, _ in store.tree_blobs(sha, "")}
        try:
            text = store.blob_text(blobs[cp.MANIFEST]) if cp.MANIFEST in blobs else ""
            manifest = cp.Manifest.from_json(json.loads(text)) if text else None
        except (ValueError, RecursionError):
            manifest = None
        found = Stored(store, sha, manifest, blobs) if manifest else None
    if len(_stored) > 8:
        _stored.clear()
    _stored[key] = found
    return found


def undecodable(store: AuditReader, runner: RunnerTrust | str) -> str | None:
    """Why the checkpoint at the local ref, which the runner made, cannot be read: its
    `checkpoint.json` is no JSON (a manifest of another version is no problem: the next
    run replaces it). None when it can, or the runner did not make it."""
    import json

    sha = store.resolve(cp.REF)
    if sha is None or stored(store, runner) is not None:
        return None
    if not by_runner(store, sha, as_trust(runner), cp.MANIFEST):
        return None
    listed = {path: blob for path, blob, _ in store.tree_blobs(sha, cp.MANIFEST)}
    try:
        json.loads(store.blob_text(listed[cp.MANIFEST], keep=False))
    except KeyError:
        return f"{cp.REF} ({sha[:12]}) is in the runner's name and holds no {cp.MANIFEST}"
    except UNDECODABLE as exc:
        return str(Unreadable(sha, cp.MANIFEST, exc))
    return None


# (store, checkpoint commit, trust) → what `stored` made of it (`plan` asks three times);
# a Stored holds its store, so the store's id is not reused while it is here.
_stored: dict[tuple[int, str, RunnerTrust], Stored | None] = {}


RECORD_BYTES = 4 << 20  # a manifest or an automation record larger than this is not read


def automation(store: AuditReader) -> tuple[str, str, Record] | None:
    """(checkpoint commit, the commit its automation record is as of, the record) of the
    local checkpoint ref, whoever wrote it: the caller judges that (`at_commit.recorded`).
    The record may be older than the checkpoint (a writer that did not load the
    documents, such as a report run, carries the previous one over): the caller advances
    it from its own commit."""
    import json

    sha = store.resolve(cp.REF)
    if sha is None:
        return None
    listed = {path: (blob, size) for path, blob, size in store.tree_blobs(sha, "")}
    if cp.MANIFEST not in listed or cp.AUTOMATION not in listed:
        return None
    if any(listed[name][1] > RECORD_BYTES for name in (cp.MANIFEST, cp.AUTOMATION)):
        return None  # read before it is judged: anyone may push this ref
    try:
        manifest = cp.Manifest.from_json(json.loads(store.blob_text(listed[cp.MANIFEST][0])))
        data = json.loads(store.blob_text(listed[cp.AUTOMATION][0]))
    except (ValueError, RecursionError):
        return None
    if manifest is None or not isinstance(data, dict) or not isinstance(data.get("commit"), str):
        return None
    found = Record.from_json(data.get("record"))
    return (sha, data["commit"], found) if found is not None else None


def by_runner(store: AuditReader, sha: str, trust: RunnerTrust, path: str) -> bool:
    """Did the runner make the parentless commit `sha` that adds `path` (a checkpoint's
    manifest, a claim's events): one of its identities, signed by an allowed key when
    the settings list keys?"""
    if not trust.signing:
        return (store.committer(sha) or "").casefold() in trust.identities
    key = (id(store), sha, trust)
    if key not in _judged:
        found = store.audit_history(sha, path, trust.keys)
        _judged[key] = len(found) == 1 and found[0].sha == sha and trust.is_runner(found[0])
    return _judged[key]


_judged: dict[tuple[int, str, RunnerTrust], bool] = {}  # a commit's signature never changes


def find(store: AuditReader, rev: str | None, runner: RunnerTrust | str | None) -> Stored | None:
    """A checkpoint the state at `rev` may rest on: the runner's, of a commit `rev` holds."""
    if rev is None or not runner:
        return None
    found = stored(store, runner)
    if found is None or not store.is_ancestor(found.commit, rev):
        return None
    return found


def _added_events(
    store: AuditReader, old: str, new: str
) -> tuple[list[Event], list[StreamEvent], int] | None:
    """The request events, the other streams' events and the number of the audit files
    `new` adds to `old` (an oversized one refused); None when `new` also modifies or
    deletes a file, or a line does not parse: then only a full read can say."""
    changes = store.added(old, new, AUDIT_DIR)
    if any(letter != "A" for letter, *_ in changes):
        return None
    for _, path, _, size in changes:
        refused = oversized(path, size)
        if refused:
            raise UserError(refused)
    every, problems = parse_all({path: store.blob_text(blob) for _, path, blob, _ in changes})
    if problems:
        return None
    events, others = split(every)
    return events, others, len(changes)


def since(store: AuditReader, rev: str, base: Stored) -> AuditSnapshot | None:
    """The audit at `rev`: `base` plus the files added since its commit; None when only
    a full read can say (a file modified or deleted since, an unreadable line, a chain
    that the new events do not simply extend)."""
    added = _added_events(store, base.commit, rev)
    if added is None:
        return None
    events, others, count = added
    top = extend(lambda name: base.state(name) or RequestState(name), events)
    more = st.extend(lambda key: base.stream_state(key) or st.start(*key), others)
    if top is None or more is None:
        return None
    return AuditSnapshot(
        rev,
        events,
        [],
        base.manifest.files + count,
        Layered(base, top),
        base=base.commit,
        checkpoint=base.sha,
        others=others,
        streams=LayeredStreams(base, more),
    )


def rewound(
    store: AuditReader, rev: str | None, runner: RunnerTrust | str | None
) -> AuditSnapshot | None:
    """The audit at `rev` from the runner's checkpoint when `rev` is behind its commit
    (`behind`; the branch is fetched when this clone lacks that commit), else None."""
    if rev is None or not runner:
        return None
    base = stored(store, runner)
    if base is None or base.commit == rev:
        return None
    if store.resolve(base.commit) is None:  # the branch moved since this clone fetched it
        try:
            store.fetch()
        except RemediateError:
            return None
        if store.resolve(base.commit) is None:
            return None
    if store.is_ancestor(base.commit, rev) or not store.is_ancestor(rev, base.commit):
        return None  # on or ahead of the checkpoint (the usual case: `find` reads on it)
    return behind(store, rev, base)


def behind(store: AuditReader, rev: str, base: Stored) -> AuditSnapshot | None:
    """The audit at `rev`, a commit behind `base`'s (a checkout not pulled since the
    runner's last run), from `base` and what came after `rev`, or None when only a full
    read can say. Every audit file of `rev` must be one of `base`'s commit, unchanged (the
    files that differ are all added after `rev`): then a subject no later event names has
    its checkpoint state, and one that a later event names is folded from its events at
    `rev` (the files holding its name: `git grep`), which must give exactly the
    checkpoint's state once the later events are added to it (`extend`: the chain's head,
    every event id, every field), so no event at `rev` can be missed or invented. A
    subject with no event at `rev` is gone from the snapshot."""
    from remediate.core.audit import fold

    added = _added_events(store, rev, base.commit)
    if added is None:
        return None
    events, others, count = added
    touched = {e.request_id for e in events}
    keys = {(o.stream, o.subject) for o in others}
    paths = store.containing(rev, AUDIT_DIR, touched | {subject for _, subject in keys})
    if paths is None:
        return None
    texts: dict[str, str] = {}
    for path, (_, size, text) in zip(
        paths, store.texts((f"{rev}:{p}" for p in paths), MAX_FILE_BYTES), strict=False
    ):
        if text is None:
            raise UserError(oversized(path, size) or f"{path}: not a file")
        texts[path] = text
    earlier, problems = parse_all(texts)
    if problems or len(texts) != len(paths):
        return None
    mine, theirs = split(earlier)
    states = fold([e for e in mine if e.request_id in touched])
    streams = st.fold([o for o in theirs if (o.stream, o.subject) in keys])
    redone = extend(lambda name: states.get(name) or RequestState(name), events)
    more = st.extend(lambda key: streams.get(key) or st.start(*key), others)
    if redone is None or more is None:
        return None
    if any(redone[name] != base.state(name) for name in touched):
        return None  # not the checkpoint's chain: read everything
    if any(more[key] != base.stream_state(key) for key in keys):
        return None
    gone = frozenset(touched - states.keys())
    return AuditSnapshot(
        rev,
        [e for e in mine if e.request_id in touched],
        [],
        base.manifest.files - count,
        Layered(base, {n: states[n] for n in touched if n in states}, gone),
        base=None,
        checkpoint=base.sha,
        others=[o for o in theirs if (o.stream, o.subject) in keys],
        streams=LayeredStreams(base, streams, frozenset(keys - streams.keys())),
        ahead=base.commit,
    )


def requesters(
    store: AuditReader, rev: str | None, base: Stored | None
) -> Mapping[str, tuple[str, ...]]:
    """File → who added it (`AuditReader.requesters`), as of `rev`: the checkpoint's, with
    the history after its commit on top, or the whole history without one."""
    if base is None:
        return store.requesters(REQUESTS, rev=rev)
    return Requesters(
        base, store.requesters(REQUESTS, rev=rev, since=base.commit, known=Known(base))
    )


class Known(Mapping[str, tuple[str, ...]]):
    """The checkpoint's requesters of each file, read by bucket on first use."""

    def __init__(self, base: Stored) -> None:
        self.base = base

    def __getitem__(self, path: str) -> tuple[str, ...]:
        entry = self.base.file(path)
        if entry is None:
            raise KeyError(path)
        return entry.requesters

    def __iter__(self) -> Iterator[str]:
        for path in sorted(p for p in self.base.blobs if p.startswith("files/")):
            yield from self.base.files(path)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Requesters(Known):
    """The checkpoint's requesters with those of files added since on top."""

    def __init__(self, base: Stored, top: dict[str, tuple[str, ...]]) -> None:
        super().__init__(base)
        self.top = top

    def __getitem__(self, path: str) -> tuple[str, ...]:
        return self.top[path] if path in self.top else super().__getitem__(path)

    def __iter__(self) -> Iterator[str]:
        yield from self.top
        yield from (p for p in super().__iter__() if p not in self.top)


def of(snap: AuditSnapshot) -> Stored | None:
    """The checkpoint a snapshot's states rest on."""
    if isinstance(snap.states, Layered) and isinstance(snap.states.base, Stored):
        return snap.states.base
    return None


def save(
    store: Store,
    snap: AuditSnapshot,
    runner: Person,
    read: Mapping[str, ReadFile] | None = None,
    trust: RunnerTrust | None = None,
    automation: Record | None = None,
) -> bool:
    """`draft` the checkpoint of `snap` and push it; True when it landed (losing the race
    is fine)."""
    update = draft(store, snap, runner, read, trust, automation)
    return bool(update) and store.push_leases(update).get(cp.REF) == WON


def draft(
    store: Store,
    snap: AuditSnapshot,
    runner: Person,
    read: Mapping[str, ReadFile] | None = None,
    trust: RunnerTrust | None = None,
    automation: Record | None = None,
) -> dict[str, tuple[str | None, str]]:
    """The checkpoint of `snap`, committed, as the compare-and-swap update of its ref
    (`Refs.push_leases`) that the caller pushes (alone, or with its other ref updates),
    if its commit is later than the current one's; {} when there is none to write. `read`:
    the request files this command read (path → blob, names), whose settled ones it records.
    Only an audit log the guard passes is summarised: a checkpoint's commit is what later
    runs judge from, so what came before it must have been judged (`trust`: the runner's
    identities and keys; its e-mail alone without)."""
    from remediate.service.verify import authorship

    trust = trust or as_trust(runner.email)
    if snap.rev is None or snap.problems:
        return {}
    current = stored(store, trust)
    if current is not None and (
        current.commit == snap.rev or not store.is_ancestor(current.commit, snap.rev)
    ):
        return {}
    base = of(snap)
    if base is None and check_chains([*snap.events, *snap.others]):
        return {}  # a full read with problems: `audit verify` names them; no summary
    judged_from = current.commit if current is not None else base.commit if base else None
    if authorship(store, snap.rev, trust, judged_from)[0]:
        return {}  # files the runner did not write: the guard refuses them next run
    files = _state_files(snap, base)
    files.update(_stream_files(snap, base))
    files.update(_index_file(snap, base, files))
    files.update(_file_entries(store, snap, base, read or {}))
    files.update(_execution_files(snap, base))
    if automation is not None:  # as of `snap.rev` (else the previous one stays, as of its own)
        record = {"commit": snap.rev, "record": automation.as_json()}
        files[cp.AUTOMATION] = cp.dumps(record)
    active = sorted(s.request_id for s in snap.active())
    files[cp.MANIFEST] = cp.dumps(cp.Manifest(snap.rev, snap.files, tuple(active)).as_json())
    message = f"remediate checkpoint\n\nCheckpoint-Of: {snap.rev}\n"
    tree_from = base.sha if base is not None else None
    sha = store.make_commit(None, files, message, runner, runner, tree_from=tree_from)
    if current is None:
        # Whatever the ref holds that this version does not read (an older version's
        # checkpoint, a commit anyone pushed there, a tag or a blob) is replaced, on a lease
        # of the object this clone fetched (not peeled: a tag's own id is what the remote
        # compares): expecting the ref absent, the push was refused for ever and every
        # later run read the whole history. No carrier on top of a commit not the runner's.
        return {cp.REF: (sha, store.object_at(cp.REF) or "")}
    # The carrier: the same tree on top of the checkpoint it replaces. Git sends what the
    # other side lacks by walking from the parents of what it sends; the checkpoint has
    # none, so without it the whole tree went on every push (776 objects, 16 MB at
    # 10,000 requests), and to every fetch of a new checkpoint.
    carrier = store.make_commit(current.sha, {}, CARRIER_MESSAGE, runner, runner, tree_from=sha)
    return {cp.REF: (sha, current.sha), cp.CARRIER: (carrier, ANY_VALUE)}


CARRIER_MESSAGE = (
    "remediate checkpoint carrier\n\nThe tree of the runner's checkpoint on top of the one "
    "it replaced, so that git sends only the buckets that changed. Nothing reads it.\n"
)


def _state_files(snap: AuditSnapshot, base: Stored | None) -> dict[str, str]:
    """The request buckets to write: those holding a state changed since `base` (all without)."""
    changed = snap.states.top if isinstance(snap.states, Layered) else snap.states
    grouped: dict[str, dict[str, RequestState]] = {}
    for name, state in changed.items():
        grouped.setdefault(cp.bucket("requests", name), {})[name] = state
    out = {}
    for path, states in grouped.items():
        merged = {**(base.bucket(path) if base is not None else {}), **states}
        out[path] = cp.states_text(dict(sorted(merged.items())))
        out[cp.summary_path(path)] = cp.summary_text(out[path], merged)  # what stats read
    return out


def _stream_files(snap: AuditSnapshot, base: Stored | None) -> dict[str, str]:
    """The stream buckets to write: those holding a subject changed since `base`."""
    changed = snap.streams.top if isinstance(snap.streams, LayeredStreams) else snap.streams
    grouped: dict[str, dict[str, StreamState]] = {}
    for key, state in changed.items():
        grouped.setdefault(cp.stream_bucket(*key), {})[key[1]] = state
    return {
        path: cp.stream_text({**(base.stream_bucket(path) if base is not None else {}), **states})
        for path, states in grouped.items()
    }


def _index_file(
    snap: AuditSnapshot, base: Stored | None, files: Mapping[str, str]
) -> dict[str, str]:
    """`streams.json` (`core.checkpoint.StreamIndex` of each stream) when it changed: an
    entry whose buckets are unchanged is kept; one of a stream that changed is made from
    the previous entry and the subjects changed since (its requesting ones re-read), or,
    without a previous entry of these buckets, from every subject of the stream."""
    layered = isinstance(snap.streams, LayeredStreams)
    changed = snap.streams.top if isinstance(snap.streams, LayeredStreams) else snap.streams
    blobs = {**(base.blobs if base is not None else {})}
    blobs.update({path: cp.blob_id(text) for path, text in files.items()})
    names = {
        p[len(cp.STREAMS_DIR) :].partition("/")[0] for p in blobs if p.startswith(cp.STREAMS_DIR)
    }

    def settled(name: str) -> bool:
        return snap.state(name).status in SETTLED

    entries: dict[str, cp.StreamIndex] = {}
    for stream in sorted(names):
        digest = cp.buckets_digest(blobs, stream)
        before = base.index(stream) if base is not None and layered else None
        if before is not None and before.buckets == digest:
            entries[stream] = before  # none of its buckets changed
            continue
        if before is None:
            states = list(snap.stream(stream).values())
        else:
            mine = {key[1]: state for key, state in changed.items() if key[0] == stream}
            again = [snap.subject(stream, s) for s in before.requesting if s not in mine]
            states = [*mine.values(), *again]
        entries[stream] = cp.index_of(stream, digest, states, settled, before)
    text = cp.index_text(entries)
    if base is not None and base.blobs.get(cp.INDEX) == cp.blob_id(text):
        return {}
    return {cp.INDEX: text}


def _file_entries(
    store: AuditReader, snap: AuditSnapshot, base: Stored | None, read: Mapping[str, ReadFile]
) -> dict[str, str]:
    """The file buckets to write: who added each request file added since `base`, and the
    files read whose settled blob changed."""
    known = Known(base) if base is not None else None
    since_base = base.commit if base else None
    found = store.requesters(REQUESTS, rev=snap.rev, since=since_base, known=known)
    entries = {path: cp.FileEntry(who) for path, who in found.items()}
    recorded = base.settled_map() if base is not None else {}
    for path, (blob, names) in read.items():
        if path not in entries and recorded.get(path) == (blob, names):
            continue  # recorded settled already, and skipped: still so (no entry decoded)
        old = entries.get(path) or (base.file(path) if base is not None else None)
        if old is None:
            continue  # not a file of the branch's history
        if path not in entries and old.blob == blob and old.names == names:
            continue  # recorded settled already (the file was skipped): still so
        done = bool(names) and all(snap.state(name).status in SETTLED for name, _ in names)
        new = replace(old, blob=blob, names=names) if done else replace(old, blob=None, names=())
        if new != old or path in entries:
            entries[path] = new
    grouped: dict[str, dict[str, cp.FileEntry]] = {}
    for path, entry in entries.items():
        grouped.setdefault(cp.bucket("files", path), {})[path] = entry
    out = {}
    for bucket, changed in grouped.items():
        merged = {**(base.files(bucket) if base is not None else {}), **changed}
        out[bucket] = cp.files_text(dict(sorted(merged.items())))
    return out


def _execution_files(snap: AuditSnapshot, base: Stored | None) -> dict[str, str]:
    """The month files of executions to write: each month a start was added to since `base`
    (the previous text with the new rows appended when they sort after it, the usual case;
    else that month rewritten sorted), or every month when a request's starts are not those
    of `base` and more (each month of `base` no start is left in written empty)."""
    top = snap.states.top if isinstance(snap.states, Layered) else None
    if base is None or top is None:
        return cp.execution_months(snap.executions())
    added: dict[str, list[Execution]] = {}
    for name, state in top.items():
        before = (base.state(name) or RequestState(name)).executions
        if state.executions[: len(before)] != before:
            every = cp.execution_months(snap.executions())
            stale = cp.months_since(base.blobs, None)
            return {**{p: "" for p in stale if p not in every}, **every}
        for execution in state.executions[len(before) :]:
            added.setdefault(cp.execution_month(execution.at), []).append(execution)
    out = {}
    for path, rows in added.items():
        old = base.month(path)
        if old and min(_order(x) for x in rows) < _order(old[-1]):
            out[path] = cp.executions_text([*old, *rows])
        else:
            out[path] = base.month_text(path) + cp.executions_text(rows)
    return out


def _order(execution: Execution) -> tuple[object, ...]:
    return (execution.at, execution.request_id)
