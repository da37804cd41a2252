"""Find a remediation repository's YAML files and load them into `Document`s.

Loading a file runs the first two validation layers (strict YAML, envelope,
kind schema); `references` runs the third across documents. Large
repositories are parsed on every core: parsing is CPU-bound and libyaml
releases nothing to threads.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from remediate.core.document import Document
from remediate.documents import schemas
from remediate.documents.yamlstrict import MAX_BYTES, YamlProblem, decode, parse
from remediate.errors import Problem, UsageError

# Where each kind lives in a remediation repository; these are searched by default.
DOCUMENT_DIRS = ("actions", "policies", "remediations", "schedules")
ROOT_FILES = ("remediate.yaml", "remediate.yml")
YAML_SUFFIXES = (".yaml", ".yml")
# Below this many files a process pool costs more than it saves.
PARALLEL_THRESHOLD = 200


@dataclass
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        self.documents.extend(other.documents)
        self.problems.extend(other.problems)


def discover(root: Path, paths: Sequence[str] = ()) -> tuple[list[str], list[Problem]]:
    """Repository-relative YAML files under `paths` (default: the document directories)."""
    real_root = Path(os.path.realpath(root))
    found: list[str] = []
    problems: list[Problem] = []
    if paths:
        starts = []
        for given in paths:
            p = Path(given)
            absolute = p if p.is_absolute() else Path.cwd() / p
            if not absolute.exists() and not absolute.is_symlink():
                raise UsageError(f"{given}: no such file or directory")
            starts.append(absolute)
    else:
        starts = [root / name for name in (*ROOT_FILES, *DOCUMENT_DIRS)]
        starts = [p for p in starts if p.exists() or p.is_symlink()]
    for start in starts:
        _collect(start, root, real_root, found, problems)
    return sorted(set(found)), problems


def _collect(start: Path, root: Path, real_root: Path, found: list[str], problems: list[Problem]) -> None:
    rel = _relative(start, root)
    if rel is None:
        raise UsageError(f"{start}: is outside the repository {root}")
    if not _inside(start, real_root):
        problems.append(Problem(rel, 0, "", "symbolic link leaves the repository; not followed"))
        return
    if start.is_file():
        found.append(rel)
        return
    for dirpath, dirnames, filenames in os.walk(start):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in list(dirnames):
            if (here / d).is_symlink():
                dirnames.remove(d)  # never followed: its target inside the repo is walked anyway
                if not _inside(here / d, real_root):
                    problems.append(
                        Problem(_relative(here / d, root) or d, 0, "", "symbolic link leaves the repository; not followed")
                    )
        for name in sorted(filenames):
            if name.startswith(".") or not name.endswith(YAML_SUFFIXES):
                continue
            path = here / name
            frel = _relative(path, root) or name
            if path.is_symlink() and not _inside(path, real_root):
                problems.append(Problem(frel, 0, "", "symbolic link leaves the repository; not followed"))
            else:
                found.append(frel)


def _relative(path: Path, root: Path) -> str | None:
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return None


def _inside(path: Path, real_root: Path) -> bool:
    real = os.path.realpath(path)
    return real == str(real_root) or real.startswith(str(real_root) + os.sep)


def load_file(root: Path, rel: str) -> LoadResult:
    """Read, parse and schema-check one file; every problem names `rel` and a line."""
    result = LoadResult()
    path = root / rel
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise YamlProblem(0, "", f"file is {size} bytes; the limit is {MAX_BYTES} bytes")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
        parsed = parse(decode(raw))
    except YamlProblem as p:
        result.problems.append(Problem(rel, p.line, p.path, p.message))
        return result
    except OSError as exc:
        result.problems.append(Problem(rel, 0, "", f"cannot read: {exc.strerror or exc}"))
        return result
    if not parsed:
        result.problems.append(Problem(rel, 0, "", "file contains no documents", "warning"))
    for doc in parsed:
        errors = schemas.check_envelope(doc.data, doc.lines)
        if not errors:
            errors = schemas.check_kind(doc.data["kind"], doc.data, doc.lines)
        if errors:
            result.problems.extend(Problem(rel, e.line, e.path, e.message) for e in errors)
            continue
        data = doc.data
        result.documents.append(
            Document(
                kind=data["kind"],
                name=data["metadata"]["name"],
                spec=data["spec"],
                file=rel,
                lines=doc.lines,
                metadata=data["metadata"],
            )
        )
    return result


def _load_chunk(args: tuple[str, list[str]]) -> LoadResult:
    root, rels = args
    out = LoadResult()
    base = Path(root)
    for rel in rels:
        out.extend(load_file(base, rel))
    return out


def load_files(root: Path, rels: Iterable[str], jobs: int | None = None) -> LoadResult:
    """Load many files, in parallel when there are enough of them to pay for a pool."""
    rels = list(rels)
    jobs = jobs or os.cpu_count() or 1
    if jobs < 2 or len(rels) < PARALLEL_THRESHOLD or "fork" not in multiprocessing.get_all_start_methods():
        return _load_chunk((str(root), rels))
    # Interleaved chunks balance big and small directories; more chunks than
    # workers keeps both busy to the end.
    chunks = [(str(root), rels[i :: jobs * 4]) for i in range(jobs * 4)]
    result = LoadResult()
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for part in pool.imap(_load_chunk, chunks):
            result.extend(part)
    order = {rel: i for i, rel in enumerate(rels)}
    result.documents.sort(key=lambda d: (order[d.file], d.line()))
    result.problems.sort(key=lambda p: (order.get(p.file, -1), p.line))
    return result
