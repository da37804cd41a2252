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
) -> ValidationReport:
    """Load and check the documents under `paths` (default: the whole repository).

    Named files are checked against the repository's ActionTypes, policies and
    settings, which are loaded too, so that a pre-commit hook given one
    changed request still checks that its action type exists. Request files in
    `skip` whose bytes are unchanged are not parsed (their names still count).
    """
    check_root(root)
    files, problems = _files(root, paths)
    audited = (root / AUDIT_DIR).is_dir()
    return validate_source(_Files(root), files, problems, keep_documents, states, skip, audited)


def validate_source(
    source: Source,
    files: list[str],
    problems: list[Problem],
    keep_documents: bool,
    states: States | None,
    skip: Skip | None,
    audited: bool,
) -> ValidationReport:
    """Every layer over `files` as `source` holds them (a working tree, or a commit:
    `documents.commit`)."""
    # Requests are the bulk: check them in workers against an index of the rest,
    # so that only problems and names travel back between processes.
    bulk = [f for f in files if f.startswith(BULK)]
    loaded = LoadResult()
    for part in map_files(source.base, [f for f in files if not f.startswith(BULK)], source.load):
        loaded.extend(part)
    index, index_problems = build_index(loaded.documents)
    problems += loaded.problems + index_problems + check_documents(loaded.documents, index)
    names = [name_record(d) for d in loaded.documents]
    documents = list(loaded.documents)
    checker = _BulkCheck(index, keep_documents, audited, skip or {}, source)
    hashes, read = _check_bulk(source.base, bulk, checker, problems, names, documents)
    problems += duplicate_names(names)
    if hashes and states is not None:
        problems += edited_after_start(states, hashes)
    problems.sort(key=lambda p: (p.file, p.line, p.path, p.message))
    kept_documents = documents if keep_documents else []
    return ValidationReport(len(files), len(names), problems, kept_documents, read)


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
    # Skipping costs a read and a hash: workers pay only for the files to parse.
    parsed = len(bulk) - len(checker.skip.keys() & set(bulk))
    jobs = 1 if parsed < PARALLEL_THRESHOLD else None
    for rel, (found, records, kept, hashed, blob) in zip(
        bulk, map_files(root, bulk, checker, jobs), strict=True
    ):
        problems += found
        names += records
        documents += kept
        hashes += hashed
        if blob is not None and not found and all(r[0] == REQUEST for r in records):
            read[rel] = (blob, tuple((r[1], r[3]) for r in records))
    return hashes, read


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
    root: Path, states: States | None = None, skip: Skip | None = None
) -> ValidationReport:
    """Every document but the unchanged files in `skip`, as a report, or `DocumentsInvalid`
    while any document read is invalid (fail closed)."""
    report = validate(root, states=states, skip=skip)
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

    def __init__(self, root: Path, states: States | None = None) -> None:
        self._root = root
        self._states = states

    @property
    def root(self) -> Path:
        return self._root

    def validate(
        self, paths: Sequence[str] = (), keep_documents: bool = True, skip: Skip | None = None
    ) -> ValidationReport:
        return validate(self._root, paths, keep_documents, self._states, skip)

    def load(self) -> list[Document]:
        return load_valid(self._root, self._states)

    def load_report(self, skip: Skip | None = None) -> ValidationReport:
        return load_report(self._root, self._states, skip)

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

    def read(self, rel: str) -> bytes | Problem:
        return read_bytes(self.base, rel)

    def blob(self, rel: str) -> str | None:
        return None

    def parse(self, rel: str, raw: bytes, blob: str | None) -> LoadResult:
        return load_bytes(rel, raw)

    def load(self, base: Path, rel: str) -> LoadResult:
        raw = self.read(rel)
        return LoadResult(problems=[raw]) if isinstance(raw, Problem) else load_bytes(rel, raw)
