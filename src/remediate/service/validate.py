"""Validate a remediation repository: every layer, every file, every reference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from remediate.core.document import Document
from remediate.core.model import content_hash
from remediate.documents.loader import discover, load_file, load_files, map_files
from remediate.documents.references import (
    Index,
    NameRecord,
    build_index,
    check_documents,
    duplicate_names,
    name_record,
)
from remediate.errors import DocumentsInvalid, Problem, UsageError

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
    root: Path, paths: Sequence[str] = (), keep_documents: bool = True
) -> ValidationReport:
    """Load and check the documents under `paths` (default: the whole repository).

    Named files are checked against the repository's ActionTypes, policies and
    settings, which are loaded too, so that a pre-commit hook given one
    changed request still checks that its action type exists.
    """
    check_root(root)
    files, problems = _files(root, paths)
    # Requests are the bulk: check them in workers against an index of the rest,
    # so that only problems and names travel back between processes.
    bulk = [f for f in files if f.startswith(BULK)]
    loaded = load_files(root, [f for f in files if not f.startswith(BULK)])
    index, index_problems = build_index(loaded.documents)
    problems += loaded.problems + index_problems + check_documents(loaded.documents, index)
    names = [name_record(d) for d in loaded.documents]
    documents = list(loaded.documents)
    hashes: list[HashRecord] = []
    checker = _BulkCheck(index, keep_documents, (root / AUDIT_DIR).is_dir())
    for found, records, kept, hashed in map_files(root, bulk, checker):
        problems += found
        names += records
        documents += kept
        hashes += hashed
    problems += duplicate_names(names)
    if hashes:
        problems += edited_after_start(root, hashes)
    problems.sort(key=lambda p: (p.file, p.line, p.path, p.message))
    return ValidationReport(len(files), len(names), problems, documents if keep_documents else [])


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


@dataclass(frozen=True)
class _BulkCheck:
    """What a worker does with one request file; inherited by forked workers, not pickled."""

    index: Index
    keep_documents: bool
    audited: bool

    def __call__(
        self, base: Path, rel: str
    ) -> tuple[list[Problem], list[NameRecord], list[Document], list[HashRecord]]:
        result = load_file(base, rel)
        found = result.problems + check_documents(result.documents, self.index)
        kept = result.documents if self.keep_documents else []
        requests = [d for d in result.documents if d.kind == "RemediationRequest"]
        hashed = [_hash_record(d) for d in requests] if self.audited else []
        return found, [name_record(d) for d in result.documents], kept, hashed


# (request name, file, line of spec, content hash)
HashRecord = tuple[str, str, int, str]


def _hash_record(doc: Document) -> HashRecord:
    return (doc.name, doc.file, doc.line("spec"), content_hash(doc.name, doc.spec))


def edited_after_start(root: Path, hashes: list[HashRecord]) -> list[Problem]:
    """Warn about requests edited after they started: the edit changes nothing."""
    from remediate.core.lifecycle import NOT_STARTED
    from remediate.errors import RemediateError
    from remediate.service.state import request_states

    try:
        states = request_states(root)
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


def load_valid(root: Path) -> list[Document]:
    """Every document of the repository, or `DocumentsInvalid` (fail closed)."""
    report = validate(root)
    if not report.valid:
        raise DocumentsInvalid(report.errors)
    return report.documents
