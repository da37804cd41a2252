"""The one fail-closed loader: documents through every layer, from a working tree or a commit.

`validate` reports every problem (YAML, schema, references, duplicate names, requests
edited after they started); `load_valid` and `load_valid_paths` return the documents or
raise `DocumentsInvalid` while any is invalid. `WorkTree` is the `service.ports.Documents`
adapter over them. Both it and `documents.commit.AtCommit` (a commit's blobs, for the
state-changing commands) run `validate_source` over a `Source`, so one layer stack gives
one set of `file:line` messages. The audit (for the "edited after it started" warnings)
arrives as a callable, so this layer never opens git.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from remediate.core.document import Document
from remediate.core.model import content_hash
from remediate.documents.loader import (
    PARALLEL_THRESHOLD,
    WHOLE_THRESHOLD,
    LoadResult,
    blob_id,
    discover,
    load_bytes,
    load_files,
    map_files,
    read_bytes,
)
from remediate.documents.references import (
    Index,
    NameRecord,
    build_index,
    check_documents,
    duplicate_names,
    name_record,
)
from remediate.errors import DocumentsInvalid, Problem, UsageError

if TYPE_CHECKING:
    from remediate.core.audit import RequestState

# The recorded state of each request, asked only when a request file needs comparing.
States = Callable[[], Mapping[str, "RequestState"]]
# The (name, line of metadata.name) of each request a file declares.
Names = tuple[tuple[str, int], ...]
# Request files that need not be parsed: path → (git blob id, the requests it declares).
# A file is skipped only while its bytes still have that blob id; its names still count
# for duplicate names. The service passes final requests' files (`service.checkpoint`).
Skip = Mapping[str, tuple[str, Names]]
# Path → blob id of the request files git's index holds unchanged in the work tree (an
# adapter's: `adapters.git_cli.unchanged_blobs`), asked only when something may be skipped.
Index_ = Callable[[], Mapping[str, str]]
_CASE_ACTION = re.compile(r"spec\.cases\[\d+\]\.request\.action\.type")

# What named files are checked against: the kinds other documents refer to.
CONTEXT = ("remediate.yaml", "remediate.yml", "actions", "policies")
BULK = "remediations/"
AUDIT_DIR = "audit"


@dataclass(frozen=True)
class ValidationReport:
    files: int
    count: int  # documents that passed their schema
    problems: list[Problem]
    documents: list[Document]  # empty unless asked for with keep_documents
    # Request files read (parsed or skipped) that hold only valid requests:
    # path → (blob id, names); what a checkpoint records of them.
    read: dict[str, tuple[str, Names]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def valid(self) -> bool:
        return not self.errors


def check_root(root: Path) -> Path:
    if not root.is_dir():
        raise UsageError(f"--repo {root}: not a directory")
    return root


def validate(
    root: Path,
    paths: Sequence[str] = (),
    keep_documents: bool = True,
    states: States | None = None,
    skip: Skip | None = None,
    index: Index_ | None = None,
) -> ValidationReport:
    """Load and check the documents under `paths` (default: the whole repository).

    Named files are checked against the repository's ActionTypes, policies and
    settings, which are loaded too, so that a pre-commit hook given one
    changed request still checks that its action type exists. Request files in
    `skip` whose bytes are unchanged are not parsed (their names still count); `index`
    gives the blob ids of files git's index holds unchanged, so that they are not read
    to be recognised (a fresh clone has no stat cache of its own).
    """
    check_root(root)
    files, problems = _files(root, paths)
    audited = (root / AUDIT_DIR).is_dir()
    tracked = index() if skip and index is not None else {}
    # the stat cache, where git's index cannot say (no index given, or not a repository)
    cache = BlobCache.open(root) if skip and not tracked else None
    source = _Files(root, cache.known if cache is not None else {}, tracked)
    report = validate_source(source, files, problems, keep_documents, states, skip, audited)
    if cache is not None:
        cache.save(report.read)
    return report


def validate_source(
    source: Source,
    files: list[str],
    problems: list[Problem],
    keep_documents: bool,
    states: States | None,
    skip: Skip | None,
    audited: bool,
    unchanged: Skip | None = None,
) -> ValidationReport:
    """Every layer over `files` as `source` holds them (a working tree, or a commit:
    `documents.commit`), and the request files of `unchanged`, set apart already: files
    of `skip` whose blob is known unchanged (path → blob, names), not among `files`."""
    # Requests are the bulk: check them in workers against an index of the rest,
    # so that only problems and names travel back between processes.
    bulk = [f for f in files if f.startswith(BULK)]
    loaded = LoadResult()
    whole = [f for f in files if not f.startswith(BULK)]  # their documents travel back whole
    jobs = 1 if len(whole) < WHOLE_THRESHOLD else None
    for part in map_files(source.base, whole, source.load, jobs):
        loaded.extend(part)
    index, index_problems = build_index(loaded.documents)
    problems += loaded.problems + index_problems + check_documents(loaded.documents, index)
    names = [name_record(d) for d in loaded.documents]
    documents = list(loaded.documents)
    checker = _BulkCheck(index, keep_documents, audited, skip or {}, source)
    hashes, read = _check_bulk(source.base, bulk, checker, problems, names, documents)
    count = len(names)
    if unchanged:
        read.update(unchanged)
        names, settled = _with_unchanged(names, len(loaded.documents), unchanged)
        count += settled
    problems += duplicate_names(names)
    if hashes and states is not None:
        problems += edited_after_start(states, hashes)
    problems.sort(key=lambda p: (p.file, p.line, p.path, p.message))
    kept_documents = documents if keep_documents else []
    files_read = len(files) + len(unchanged or ())
    return ValidationReport(files_read, count, problems, kept_documents, read)


def _with_unchanged(
    names: list[NameRecord], whole: int, unchanged: Skip
) -> tuple[list[NameRecord], int]:
    """`names` (the `whole` files' first, then the request files') with the names of the
    `unchanged` files, as `duplicate_names` needs them: when no (kind, name) repeats, the
    order does not matter and only the names read here are returned; else every record,
    the request files' in the files' order (the first of two equal names is the one
    kept), as if they had all been read. And how many names the unchanged files hold."""
    settled = {(REQUEST, name) for _, found in unchanged.values() for name, _ in found}
    read_here = {(kind, name) for kind, name, _, _ in names}
    total = sum(len(found) for _, found in unchanged.values())
    if len(settled) == total and not (settled & read_here):
        return names, total  # no name repeats: nothing for `duplicate_names` to find
    bulk = names[whole:] + [
        (REQUEST, name, rel, line) for rel, (_, found) in unchanged.items() for name, line in found
    ]
    bulk.sort(key=lambda record: record[2])  # stable: a file's own names keep their order
    return names[:whole] + bulk, total


def _files(root: Path, paths: Sequence[str]) -> tuple[list[str], list[Problem]]:
    """The files under `paths`, plus the context they are checked against (all when no paths)."""
    files, problems = discover(root, paths)
    return with_context(root, files, problems) if paths else (files, problems)


def with_context(
    root: Path, files: list[str], problems: list[Problem]
) -> tuple[list[str], list[Problem]]:
    """`files` plus the repository's settings, action types and policies, which others refer to."""
    where = [str(root / n) for n in CONTEXT if (root / n).exists() or (root / n).is_symlink()]
    if not where:
        return files, problems
    context, context_problems = discover(root, where)
    return sorted(set(files) | set(context)), problems + [
        p for p in context_problems if p not in problems
    ]


def _check_bulk(
    root: Path,
    bulk: list[str],
    checker: _BulkCheck,
    problems: list[Problem],
    names: list[NameRecord],
    documents: list[Document],
) -> tuple[list[HashRecord], dict[str, tuple[str, Names]]]:
    """Check the request files (adding to `problems`, `names`, `documents`); their hash
    records and the files read whole and valid (path → blob, names)."""
    hashes: list[HashRecord] = []
    read: dict[str, tuple[str, Names]] = {}
    # Files whose blob id is known without reading them (a commit's listing, git's index,
    # the stat cache) and is the one skipped: their names here, without a job each.
    skip, blob_of = checker.skip, checker.source.blob
    known: dict[str, tuple[str, Names]] = {}
    for rel in bulk:
        entry = skip.get(rel)
        if entry is not None and entry[1] and blob_of(rel) == entry[0]:
            known[rel] = entry
    rest = [rel for rel in bulk if rel not in known]
    # Skipping costs a read and a hash: workers pay only for the files to parse.
    parsed = len(rest) - len(skip.keys() & set(rest))
    jobs = 1 if parsed < PARALLEL_THRESHOLD else None
    results = iter(map_files(root, rest, checker, jobs))
    for rel in bulk:  # in the files' order: the first of two equal names is the one kept
        entry = known.get(rel)
        if entry is not None:
            names += [(REQUEST, name, rel, line) for name, line in entry[1]]
            read[rel] = entry
            continue
        found, records, kept, hashed, blob = next(results)
        problems += found
        names += records
        documents += kept
        hashes += hashed
        if blob is not None and not found and all(r[0] == REQUEST for r in records):
            read[rel] = (blob, tuple((r[1], r[3]) for r in records))
    return hashes, read


class BlobCache:
    """The blob ids of request files as last hashed, by their stat (like git's index:
    size, modification and change time in nanoseconds, inode), in `.git/remediate/`: a
    settled file whose stat is unchanged is not read again to find its blob id. A file
    changed within a second of being hashed is not recorded (its stat could repeat)."""

    NAME = "blobs.json"

    def __init__(self, path: Path | None, known: dict[str, tuple[tuple[int, ...], str]]) -> None:
        self.path, self.known = path, known

    @classmethod
    def open(cls, root: Path) -> BlobCache:
        import json

        git = root / ".git"
        if not git.is_dir():
            return cls(None, {})
        path = git / "remediate" / cls.NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {rel: (tuple(v[0]), v[1]) for rel, v in data.items()}
        except (OSError, ValueError, TypeError, IndexError, AttributeError):
            known = {}
        return cls(path, known)

    @staticmethod
    def key(root: Path, rel: str) -> tuple[int, ...] | None:
        import os
        import stat

        try:
            st = os.lstat(os.path.join(root, rel))
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)

    def save(self, read: Mapping[str, tuple[str, Names]]) -> None:
        """Record the blob of each file read (hashed or recognised), if anything changed."""
        import json
        import os
        import time

        if self.path is None:
            return
        root = self.path.parent.parent.parent
        recent = (time.time() - 1) * 1e9
        found = dict(self.known)
        for rel, (blob, _) in read.items():
            if rel in self.known and self.known[rel][1] == blob:
                continue  # recognised by its stat (or hashed again to the same blob)
            key = self.key(root, rel)
            if key is not None and max(key[1], key[2]) < recent:
                found[rel] = (key, blob)
            else:
                found.pop(rel, None)
        if found == self.known:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp = self.path.with_suffix(f".{os.getpid()}.tmp")
            temp.write_text(json.dumps({r: [list(k), b] for r, (k, b) in found.items()}))
            os.replace(temp, self.path)
        except OSError:
            pass  # a cache: the next run hashes again


REQUEST = "RemediationRequest"
# What one request file yields: problems, names, documents, hash records, its blob id.
Checked = tuple[list[Problem], list[NameRecord], list[Document], list["HashRecord"], str | None]


@dataclass(frozen=True)
class _BulkCheck:
    """What a worker does with one request file; inherited by forked workers, not pickled."""

    index: Index
    keep_documents: bool
    audited: bool
    skip: Skip
    source: Source

    def __call__(self, base: Path, rel: str) -> Checked:
        known = self.skip.get(rel)
        listed = self.source.blob(rel)  # a commit's listing names it before anything is read
        if listed is not None and known is not None and known[0] == listed:
            return [], [(REQUEST, name, rel, line) for name, line in known[1]], [], [], listed
        raw = self.source.read(rel)
        if isinstance(raw, Problem):
            return [raw], [], [], [], None
        blob = listed or blob_id(raw)
        if known is not None and known[0] == blob:
            return [], [(REQUEST, name, rel, line) for name, line in known[1]], [], [], blob
        result = self.source.parse(rel, raw, blob)
        found = result.problems + check_documents(result.documents, self.index)
        kept = result.documents if self.keep_documents else []
        requests = [d for d in result.documents if d.kind == REQUEST]
        hashed = [_hash_record(d) for d in requests] if self.audited else []
        return found, [name_record(d) for d in result.documents], kept, hashed, blob


# (request name, file, line of spec, content hash)
HashRecord = tuple[str, str, int, str]


def _hash_record(doc: Document) -> HashRecord:
    return (doc.name, doc.file, doc.line("spec"), content_hash(doc.name, doc.spec))


def edited_after_start(read_states: States, hashes: list[HashRecord]) -> list[Problem]:
    """Warn about requests edited after they started: the edit changes nothing."""
    from remediate.core.lifecycle import NOT_STARTED
    from remediate.errors import RemediateError

    try:
        states = read_states()
    except RemediateError:
        return []  # not a git repository: no audit to compare with
    out = []
    for name, file, line, digest in hashes:
        state = states.get(name)
        if state is None or state.status in NOT_STARTED or state.content_hash in (None, digest):
            continue
        out.append(
            Problem(
                file,
                line,
                "spec",
                f"request {name} has already started ({state.status}); "
                "editing it changes nothing: a new action needs a new request",
                "warning",
            )
        )
    return out


def load_valid(root: Path, states: States | None = None) -> list[Document]:
    """Every document of the repository, or `DocumentsInvalid` (fail closed)."""
    return load_report(root, states).documents


def load_report(
    root: Path, states: States | None = None, skip: Skip | None = None, index: Index_ | None = None
) -> ValidationReport:
    """Every document but the unchanged files in `skip`, as a report, or `DocumentsInvalid`
    while any document read is invalid (fail closed)."""
    report = validate(root, states=states, skip=skip, index=index)
    if not report.valid:
        raise DocumentsInvalid(report.errors)
    return report


def load_valid_paths(root: Path, paths: Sequence[str], library: bool = False) -> list[Document]:
    """The documents under `paths` and the repository's settings, action types and policies.

    Fails closed (`DocumentsInvalid`) on any problem among them; requests
    elsewhere in the repository are neither loaded nor checked. With
    `library`, a repository without any ActionType (a policy library such as
    this project's own `policies/`) may name action types in its PolicyTest
    cases that it does not define.
    """
    from remediate.documents.references import check_references

    check_root(root)
    files, problems = with_context(root, *(discover(root, paths) if paths else ([], [])))
    loaded = load_files(root, files)
    problems += loaded.problems + check_references(loaded.documents)
    if library and not any(d.kind == "ActionType" for d in loaded.documents):
        tests = {d.file for d in loaded.documents if d.kind == "PolicyTest"}
        problems = [p for p in problems if not (p.file in tests and _CASE_ACTION.fullmatch(p.path))]
    errors = sorted(p for p in problems if p.severity == "error")
    if errors:
        raise DocumentsInvalid(errors)
    return loaded.documents


class WorkTree:
    """The `Documents` port over a working tree (`root`), with the audit's states for
    the warnings about requests edited after they started."""

    def __init__(
        self, root: Path, states: States | None = None, index: Index_ | None = None
    ) -> None:
        self._root = root
        self._states = states
        self._index = index

    @property
    def root(self) -> Path:
        return self._root

    def validate(
        self, paths: Sequence[str] = (), keep_documents: bool = True, skip: Skip | None = None
    ) -> ValidationReport:
        return validate(self._root, paths, keep_documents, self._states, skip, self._index)

    def load(self) -> list[Document]:
        return load_valid(self._root, self._states)

    def load_report(self, skip: Skip | None = None) -> ValidationReport:
        return load_report(self._root, self._states, skip, self._index)

    def load_paths(self, paths: Sequence[str], library: bool = False) -> list[Document]:
        return load_valid_paths(self._root, paths, library)


# --- where the bytes come from: a working tree, or a commit ----------------------------


class Source(Protocol):
    """The files of one load: their bytes, and their blob ids when known without reading."""

    @property
    def base(self) -> Path: ...

    def read(self, rel: str) -> bytes | Problem: ...

    def blob(self, rel: str) -> str | None: ...

    def parse(self, rel: str, raw: bytes, blob: str | None) -> LoadResult: ...

    def load(self, base: Path, rel: str) -> LoadResult: ...


@dataclass(frozen=True)
class _Files:
    """A working tree's files (read on use; their blob ids computed from their bytes)."""

    base: Path
    stats: Mapping[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)  # BlobCache
    tracked: Mapping[str, str] = field(default_factory=dict)  # git's index: unchanged files

    def read(self, rel: str) -> bytes | Problem:
        return read_bytes(self.base, rel)

    def blob(self, rel: str) -> str | None:
        """The blob id of an unchanged file as git's index or the stat cache holds it, else
        None: the bytes are read and hashed."""
        known = self.tracked.get(rel)
        if known is not None:
            return known
        cached = self.stats.get(rel)
        if cached is not None and BlobCache.key(self.base, rel) == cached[0]:
            return cached[1]
        return None

    def parse(self, rel: str, raw: bytes, blob: str | None) -> LoadResult:
        return load_bytes(rel, raw)

    def load(self, base: Path, rel: str) -> LoadResult:
        raw = self.read(rel)
        return LoadResult(problems=[raw]) if isinstance(raw, Problem) else load_bytes(rel, raw)
