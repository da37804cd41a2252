"""Find a remediation repository's YAML files and load them into `Document`s.

Loading a file runs the first two validation layers (strict YAML, envelope,
kind schema); `references` runs the third across documents. Large
repositories are parsed on every core: parsing is CPU-bound and libyaml
releases nothing to threads.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

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
# … and below this many when each file's whole documents travel back from the workers
# (settings, action types, policies, schedules: pickled, with their line maps), not
# just names and problems (request files). Measured on the 2-core machine class: 1,000
# schedule files load in 0.19 s in-process, 0.36 s in a pool of 2; 3,000 in 0.65 s and
# 0.96 s; 8,000 in 1.30 s and 1.96 s.
WHOLE_THRESHOLD = 10_000


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


def _collect(
    start: Path, root: Path, real_root: Path, found: list[str], problems: list[Problem]
) -> None:
    rel = _relative(start, root)
    if rel is None:
        raise UsageError(f"{start}: is outside the repository {root}")
    if not _inside(start, real_root):
        problems.append(_outside(rel))
        return
    try:
        mode = os.stat(start).st_mode  # a link inside the repository is followed
    except OSError as exc:
        problems.append(_unreadable(start, rel, exc))
        return
    if stat.S_ISDIR(mode):
        _walk(str(start), "" if rel == "." else rel, real_root, found, problems)
    elif stat.S_ISREG(mode):
        found.append(rel)
    else:
        problems.append(_not_regular(rel, mode, os.path.islink(start)))


def _walk(
    directory: str, rel: str, real_root: Path, found: list[str], problems: list[Problem]
) -> None:
    """Collect YAML files below `directory`; scandir's cached types keep this to one syscall a dir.

    Anything that is neither a regular file nor a directory (a FIFO, a socket, a
    device), whatever its name, is an error and is never opened: reading a FIFO
    blocks until someone writes to it.
    """
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            name = entry.name
            if name.startswith("."):
                continue
            child = f"{rel}/{name}" if rel else name
            if entry.is_symlink():
                _link(entry, child, real_root, found, problems)
            elif entry.is_dir(follow_symlinks=False):
                _walk(entry.path, child, real_root, found, problems)
            elif entry.is_file(follow_symlinks=False):
                if name.endswith(YAML_SUFFIXES):
                    found.append(child)
            else:
                problems.append(_not_regular(child, entry.stat(follow_symlinks=False).st_mode))


def _link(
    entry: os.DirEntry[str], rel: str, real_root: Path, found: list[str], problems: list[Problem]
) -> None:
    """A link to a regular file inside the repository is followed; nothing else is.

    A directory link is never walked: a request's requester is read from the git history
    of its path, which the files of a linked directory do not have, and a walk through
    links could cycle or load one file twice. When the directory is loaded in its own
    place anyway (inside a document directory) that is a warning, else an error; so is
    a link that names nothing (a document gone missing must not pass as valid).
    """
    if not _inside(Path(entry.path), real_root):
        problems.append(_outside(rel))
        return
    try:
        mode = entry.stat().st_mode
    except OSError as exc:
        problems.append(_unreadable(Path(entry.path), rel, exc))
        return
    if stat.S_ISREG(mode):
        if entry.name.endswith(YAML_SUFFIXES):
            found.append(rel)
    elif stat.S_ISDIR(mode):
        problems.append(_directory_link(entry.path, rel, real_root))
    else:
        problems.append(_not_regular(rel, mode, True))


def _directory_link(path: str, rel: str, real_root: Path) -> Problem:
    shown = f"symbolic link to a directory (to {os.readlink(path)}); not followed"
    target = Path(os.path.realpath(path))
    for name in DOCUMENT_DIRS:
        place = Path(os.path.realpath(real_root / name))
        if target == place or place in target.parents:
            where = target.relative_to(real_root).as_posix()
            return Problem(rel, 0, "", f"{shown}: its documents load as {where}", "warning")
    return Problem(rel, 0, "", f"{shown}: move its documents here, or link each file")


def _unreadable(path: Path, rel: str, exc: OSError) -> Problem:
    """`exc` from following `path`; a link that names nothing says so, with its target."""
    if os.path.islink(path) and exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
        what = "symbolic link loop" if exc.errno == errno.ELOOP else "broken symbolic link"
        return Problem(rel, 0, "", f"{what} (to {os.readlink(path)}); not followed")
    return Problem(rel, 0, "", f"cannot read: {exc.strerror or exc}")


def _outside(rel: str) -> Problem:
    return Problem(rel, 0, "", "symbolic link leaves the repository; not followed")


_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def special_kind(mode: int) -> str:
    """What a file that is neither regular nor a directory is: `a FIFO`, `a socket`, …"""
    return next((what for test, what in _SPECIAL if test(mode)), "a special file")


def _not_regular(rel: str, mode: int, link: bool = False) -> Problem:
    what = special_kind(mode)
    shown = f"a symbolic link to {what}" if link else what
    return Problem(rel, 0, "", f"not a regular file ({shown}); not opened")


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
    raw = read_bytes(root, rel)
    return LoadResult(problems=[raw]) if isinstance(raw, Problem) else load_bytes(rel, raw)


def read_bytes(root: Path, rel: str) -> bytes | Problem:
    """The bytes of one file (its type and size checked first), or why they cannot be read."""
    try:
        return _read(os.path.join(root, rel))
    except YamlProblem as p:
        return Problem(rel, p.line, p.path, p.message)
    except OSError as exc:
        return Problem(rel, 0, "", f"cannot read: {exc.strerror or exc}")


def blob_id(raw: bytes) -> str:
    """Git's (SHA-1) blob id of these bytes: what `git ls-tree` names a file holding them."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest()


def load_bytes(rel: str, raw: bytes) -> LoadResult:
    """Parse and schema-check the bytes of one file; every problem names `rel` and a line."""
    result = LoadResult()
    try:
        parsed = parse(decode(raw))
    except YamlProblem as p:
        result.problems.append(Problem(rel, p.line, p.path, p.message))
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


# Non-blocking, so that a file that became a FIFO after discovery cannot block the open;
# no controlling terminal from a tty. The type is checked on the descriptor before reading.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)


def _read(path: str) -> bytes:
    """The file's bytes; its type and size cap are checked on the open descriptor first."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = special_kind(info.st_mode)
            raise YamlProblem(0, "", f"not a regular file ({what}); not read")
        size = info.st_size
        if size > MAX_BYTES:
            raise YamlProblem(0, "", f"file is {size} bytes; the limit is {MAX_BYTES} bytes")
        chunks, remaining = [], MAX_BYTES + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, max(size, 4096) + 1))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


R = TypeVar("R")
# The function a forked worker applies; set before the pool forks, so it may be a closure.
_WORK: Callable[[Path, str], Any] | None = None


def _run_chunk(args: tuple[str, list[str]]) -> list[Any]:
    root, rels = args
    assert _WORK is not None
    base = Path(root)
    return [_WORK(base, rel) for rel in rels]


def _worker_signals() -> None:
    """A forked worker drops the runner's SIGINT/SIGTERM handlers (stop the actions,
    record what is known): `Pool` ends a straggling worker with SIGTERM, which a kept
    handler would swallow, leaving the runner waiting for it forever. SIGINT (a Ctrl-C
    reaches the whole process group) is the runner's to handle."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _BLOCKED)  # a SIGTERM held meanwhile ends it


_BLOCKED = frozenset({signal.SIGTERM, signal.SIGINT})  #: held until a worker dropped the handlers


def map_files(
    root: Path, rels: Sequence[str], work: Callable[[Path, str], R], jobs: int | None = None
) -> list[R]:
    """`work(root, rel)` for every file, in order; on every core when there are enough files.

    Workers are forked, so `work` and whatever it closes over (compiled
    schemas, an index of action types) are inherited rather than pickled;
    only results travel back.
    """
    global _WORK
    jobs = jobs or os.cpu_count() or 1
    if jobs < 2 or len(rels) < PARALLEL_THRESHOLD:
        return [work(root, rel) for rel in rels]
    import multiprocessing  # ~17 ms: only when there are enough files to pay for it

    if "fork" not in multiprocessing.get_all_start_methods():
        return [work(root, rel) for rel in rels]
    # Interleaved chunks balance big and small directories; more chunks than
    # workers keeps both busy to the end.
    count = jobs * 4
    chunks = [(str(root), list(rels[i::count])) for i in range(count)]
    _WORK = work
    try:
        parts = _pooled(multiprocessing.get_context("fork"), jobs, chunks)
    finally:
        _WORK = None
    out: list[R | None] = [None] * len(rels)
    for i, part in enumerate(parts):
        out[i::count] = part
    return out  # type: ignore[return-value]


def _pooled(context: Any, jobs: int, chunks: list[tuple[str, list[str]]]) -> list[Any]:
    """`_run_chunk` over `chunks` in `jobs` forked workers. The pool (its threads, and
    the workers they fork, also any it forks again later) starts with SIGTERM and SIGINT
    blocked, so that a signal arriving before a worker dropped the runner's handlers
    waits for it instead of being swallowed by them; the workers are then let go with
    `close` and `join`, not killed with `terminate`, unless something failed (a worker
    killed while it held the task queue's lock left its sibling waiting on it forever:
    seen as a `make test` that hung in `Pool.__exit__`)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
    try:
        pool = context.Pool(jobs, initializer=_worker_signals)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    try:
        parts: list[Any] = pool.map(_run_chunk, chunks)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
    return parts


def load_files(root: Path, rels: Iterable[str], jobs: int | None = None) -> LoadResult:
    """Load many files (in parallel when there are enough of them to pay for a pool)."""
    result = LoadResult()
    for part in map_files(root, list(rels), load_file, jobs):
        result.extend(part)
    return result
