"""Validate a remediation repository: every layer, every file, every reference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from remediate.core.document import Document
from remediate.documents.loader import discover, load_files
from remediate.documents.references import check_references
from remediate.errors import DocumentsInvalid, Problem, UsageError


# What named files are checked against: the kinds other documents refer to.
CONTEXT = ("remediate.yaml", "remediate.yml", "actions", "policies")


@dataclass(frozen=True)
class ValidationReport:
    files: int
    documents: list[Document]
    problems: list[Problem]

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


def validate(root: Path, paths: Sequence[str] = ()) -> ValidationReport:
    """Load and check the documents under `paths` (default: the whole repository).

    Named files are checked against the repository's ActionTypes, policies and
    settings, which are loaded too, so that a pre-commit hook given one
    changed request still checks that its action type exists.
    """
    check_root(root)
    files, problems = discover(root, paths)
    if paths:
        where = [str(root / n) for n in CONTEXT if (root / n).exists() or (root / n).is_symlink()]
        context, context_problems = discover(root, where) if where else ([], [])
        named = set(files)
        files += [f for f in context if f not in named]
        problems += [p for p in context_problems if p not in problems]
    loaded = load_files(root, files)
    problems = problems + loaded.problems + check_references(loaded.documents)
    problems.sort(key=lambda p: (p.file, p.line, p.path, p.message))
    return ValidationReport(len(files), loaded.documents, problems)


def load_valid(root: Path) -> list[Document]:
    """Every document of the repository, or `DocumentsInvalid` (fail closed)."""
    report = validate(root)
    if not report.valid:
        raise DocumentsInvalid(report.errors)
    return report.documents
