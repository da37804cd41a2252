"""The documents of a commit, through the same layers as a working tree's (no checkout).

`AtCommit` is the `service.ports.CommitDocuments` adapter: it lists the commit's tree
(`Tree.entries`, sizes before content), reads every blob it needs at once (`Tree.read`,
before the workers fork), resolves symbolic links inside the tree (never out of it),
and hands the files to `documents.repository.validate_source`, so problems read exactly
as `validate`'s (`file:line: key.path: message`). Parses are remembered by path and
blob id: a runner that loads the same documents again at claim time parses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from remediate.core.document import Document
from remediate.documents.loader import (
    DOCUMENT_DIRS,
    ROOT_FILES,
    YAML_SUFFIXES,
    LoadResult,
    load_bytes,
)
from remediate.documents.repository import BULK, Names, Skip, ValidationReport, validate_source
from remediate.documents.yamlstrict import MAX_BYTES
from remediate.errors import DocumentsInvalid, Problem

if TYPE_CHECKING:
    from remediate.core.automation import Version

_PARSES: dict[tuple[str, str], LoadResult] = {}  # (path, blob) → what its bytes parse to
_PARSES_MAX = 20_000


def parse_blob(rel: str, raw: bytes, blob: str | None) -> LoadResult:
    """`load_bytes`, remembered by path and blob id in this process (blobs never change;
    a runner loads the same commit's documents again at claim time)."""
    if blob is None:
        return load_bytes(rel, raw)
    found = _PARSES.get((rel, blob))
    if found is None:
        if len(_PARSES) >= _PARSES_MAX:
            _PARSES.clear()
        found = _PARSES[(rel, blob)] = load_bytes(rel, raw)
    return LoadResult(list(found.documents), list(found.problems))


class TreeEntry(NamedTuple):
    """One entry of `git ls-tree -r -l`: path, mode, type (blob, commit), object id, size."""

    path: str
    mode: str
    kind: str
    blob: str
    size: int


class Tree(Protocol):
    """What loading a commit needs from git (`adapters.git_tree.GitTree`)."""

    def entries(self, rev: str) -> list[TreeEntry]: ...

    def read(self, blobs: list[str]) -> dict[str, bytes]: ...

    def begin_local_edits(self, rev: str) -> None: ...

    def local_edits(self, rev: str) -> list[str]: ...

    def fingerprint(self, rev: str) -> str: ...

    def tip(self) -> tuple[str, str] | None: ...

    def differs(self, rev: str) -> list[str]: ...

    def automation_history(self, rev: str, paths: Sequence[str]) -> list[Version]: ...

    def automation_since(
        self, since: str, rev: str, paths: Sequence[str]
    ) -> list[Version] | None: ...

    def automation_from(
        self, commits: Sequence[str], rev: str, paths: Sequence[str]
    ) -> list[Version] | None: ...


@dataclass(frozen=True)
class _Blobs:
    """A commit's files: blob ids from its listing, bytes read before the workers fork."""

    base: Path
    blobs: Mapping[str, str]  # path → blob id
    content: Mapping[str, bytes]  # blob id → bytes

    def read(self, rel: str) -> bytes | Problem:
        raw = self.content.get(self.blobs[rel])
        return raw if raw is not None else Problem(rel, 0, "", "cannot read: blob missing")

    def blob(self, rel: str) -> str | None:
        return self.blobs[rel]

    def parse(self, rel: str, raw: bytes, blob: str | None) -> LoadResult:
        return parse_blob(rel, raw, blob)

    def load(self, base: Path, rel: str) -> LoadResult:
        raw = self.read(rel)
        if isinstance(raw, Problem):
            return LoadResult(problems=[raw])
        return parse_blob(rel, raw, self.blobs[rel])


_LINK_HOPS = 40  # as the kernel's ELOOP


def commit_files(
    entries: list[TreeEntry], use: Mapping[str, str | None] | None = None
) -> tuple[dict[str, str], list[Problem], dict[str, str]]:
    """The YAML files where documents live at a commit (path → blob), the problems of its
    links, submodules and sizes (as discovery reports them in a working tree), and the
    links whose size is known only once read (path → blob). `use` replaces blobs (None:
    leaves the file out): the versions the runner holds to (`core.automation`)."""
    by_path = {e.path: e for e in entries}
    for path, blob in (use or {}).items():
        if blob is None:
            by_path.pop(path, None)
        else:
            by_path[path] = TreeEntry(path, "100644", "blob", blob, -1)
    files: dict[str, str] = {}
    problems: list[Problem] = []
    unsized: dict[str, str] = {}
    for path in sorted(by_path):
        entry = by_path[path]
        if path.startswith(".") or "/." in path:  # a component starting with "."
            continue
        if not _in_documents(path):
            continue
        if entry.kind != "blob":
            problems.append(Problem(path, 0, "", "not a regular file (a submodule); not opened"))
        elif not path.endswith(YAML_SUFFIXES):
            continue
        elif entry.mode == "120000":  # its target is read with the rest: `_resolve_links`
            files[path] = "link:" + entry.blob
        elif entry.size > MAX_BYTES:
            problems.append(
                Problem(path, 0, "", f"file is {entry.size} bytes; the limit is {MAX_BYTES} bytes")
            )
        else:
            files[path] = entry.blob
            if entry.size < 0:
                unsized[path] = entry.blob
    return files, problems, unsized


def _unchanged(
    entries: list[TreeEntry], skip: Skip | None, use: Mapping[str, str | None] | None
) -> dict[str, tuple[str, Names]]:
    """The request files of `entries` that `skip` names with the blob they still have
    (path → blob, names): regular files only (a link's blob is its target's, compared once
    resolved), none that `use` replaces. They are set apart before anything else looks at
    them: at 10,000 settled requests, nearly every file of the listing."""
    if not skip:
        return {}
    get, replaced = skip.get, use or {}
    return {
        e.path: known
        for e in entries
        if (known := get(e.path)) is not None
        and known[0] == e.blob
        and known[1]
        and e.mode != "120000"
        and e.kind == "blob"
        and 0 <= e.size <= MAX_BYTES
        and e.path.startswith(BULK)
        and e.path.endswith(YAML_SUFFIXES)
        and "/." not in e.path
        and e.path not in replaced
    }


def _in_documents(path: str) -> bool:
    return path in ROOT_FILES or (path.split("/", 1)[0] in DOCUMENT_DIRS and "/" in path)


def _resolve_links(
    files: dict[str, str],
    content: Mapping[str, bytes],
    by_path: Mapping[str, TreeEntry],
    directories: set[str],
    problems: list[Problem],
) -> None:
    """Replace each link of `files` by its target's blob, or drop it with a problem."""
    import posixpath

    for path in [p for p, b in files.items() if b.startswith("link:")]:
        current, blob = path, files.pop(path)[5:]
        for _ in range(_LINK_HOPS):
            target = content.get(blob, b"").decode("utf-8", "replace")
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
            if target.startswith("/") or joined == ".." or joined.startswith("../"):
                problems.append(
                    Problem(path, 0, "", "symbolic link leaves the repository; not followed")
                )
                break
            found = by_path.get(joined)
            if found is None and joined in directories:
                problems.append(
                    Problem(
                        path, 0, "", f"symbolic link to a directory (to {target}); not followed"
                    )
                )
                break
            if found is None:
                problems.append(
                    Problem(path, 0, "", f"broken symbolic link (to {target}); not followed")
                )
                break
            if found.mode != "120000":
                files[path] = found.blob
                break
            current, blob = joined, found.blob
        else:
            problems.append(Problem(path, 0, "", "symbolic link loop; not followed"))


class AtCommit:
    """The `CommitDocuments` port: every document as a commit holds it, through the same
    layers (and the same `file:line: key.path: message` problems) as the working tree."""

    def __init__(self, root: Path, tree: Tree) -> None:
        self._root = root
        self._tree = tree
        self._blobs: dict[str, dict[str, str]] = {}

    def validate(
        self,
        rev: str,
        skip: Skip | None = None,
        use: Mapping[str, str | None] | None = None,
        keep_documents: bool = True,
    ) -> ValidationReport:
        listed = self._tree.entries(rev)
        unchanged = _unchanged(listed, skip, use)
        entries = [e for e in listed if e.path not in unchanged] if unchanged else listed
        files, problems, _ = commit_files(entries, use)
        links = {p: b[5:] for p, b in files.items() if b.startswith("link:")}
        if links:
            by_path = {e.path: e for e in listed}
            found = self._tree.read([e.blob for e in listed if e.mode == "120000"])
            directories = {p.rsplit("/", i)[0] for p in by_path for i in range(1, p.count("/") + 1)}
            _resolve_links(files, found, by_path, directories, problems)
        skipped = {p for p, b in files.items() if (skip or {}).get(p, ("",))[0] == b}
        wanted = [b for p, b in files.items() if p not in skipped]
        content = self._tree.read(wanted)
        for path in [p for p in files if p not in skipped]:
            raw = content.get(files[path])
            if raw is not None and len(raw) > MAX_BYTES:
                problems.append(
                    Problem(
                        path, 0, "", f"file is {len(raw)} bytes; the limit is {MAX_BYTES} bytes"
                    )
                )
                del files[path]
        source = _Blobs(self._root, files, content)
        return validate_source(
            source, sorted(files), problems, keep_documents, None, skip, False, unchanged
        )

    def load_report(
        self,
        rev: str,
        skip: Skip | None = None,
        use: Mapping[str, str | None] | None = None,
    ) -> ValidationReport:
        """Every document at `rev` but the unchanged files of `skip`, or `DocumentsInvalid`."""
        report = self.validate(rev, skip, use)
        if not report.valid:
            raise DocumentsInvalid(report.errors)
        return report

    def documents_of(self, path: str, blob: str) -> list[Document]:
        """The documents of one blob read as `path`; none when it does not load cleanly."""
        raw = self._tree.read([blob]).get(blob)
        if raw is None or len(raw) > MAX_BYTES:
            return []
        result = parse_blob(path, raw, blob)
        return [] if any(p.severity == "error" for p in result.problems) else result.documents

    def documents_in(self, path: str, raw: bytes) -> list[Document]:
        """`documents_of` bytes read already (`audit verify` streams 50,000 request files
        through one `cat-file`): parsed, remembered by nobody."""
        if len(raw) > MAX_BYTES:
            return []
        result = load_bytes(path, raw)
        return [] if any(p.severity == "error" for p in result.problems) else result.documents

    def blobs(self, rev: str) -> dict[str, str]:
        """path → blob of every file where documents live at `rev` (built once per commit:
        a load asks for it several times, 10,000 entries at 10,000 requests)."""
        found = self._blobs.get(rev)
        if found is None:
            found = {e.path: e.blob for e in self._tree.entries(rev) if e.kind == "blob"}
            if len(self._blobs) > 4:
                self._blobs.clear()
            self._blobs[rev] = found
        return found

    def begin_local_edits(self, rev: str) -> None:
        self._tree.begin_local_edits(rev)

    def local_edits(self, rev: str) -> list[str]:
        return self._tree.local_edits(rev)

    def fingerprint(self, rev: str) -> str:
        return self._tree.fingerprint(rev)

    def tip(self) -> tuple[str, str] | None:
        return self._tree.tip()

    def differs(self, rev: str) -> list[str]:
        return self._tree.differs(rev)

    def automation_history(self, rev: str, paths: Sequence[str]) -> list[Version]:
        return self._tree.automation_history(rev, paths)

    def automation_since(self, since: str, rev: str, paths: Sequence[str]) -> list[Version] | None:
        return self._tree.automation_since(since, rev, paths)

    def automation_from(
        self, commits: Sequence[str], rev: str, paths: Sequence[str]
    ) -> list[Version] | None:
        return self._tree.automation_from(commits, rev, paths)
