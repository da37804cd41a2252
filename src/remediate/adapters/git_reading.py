"""Reading a commit: trees, blobs, the history of paths (the `AuditReader` port)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from functools import cached_property

from remediate.adapters.git_base import _SHA, GitBase
from remediate.adapters.git_cmd import GitCommandError
from remediate.core.commits import AuditCommit
from remediate.errors import UserError


class GitReading(GitBase):
    """Commits, trees and blobs, read through git (blobs cached by id: they never change)."""

    def tree_blobs(
        self, rev: str | None, prefix: str, keep: bool = True
    ) -> list[tuple[str, str, int]]:
        """(path, blob, size in bytes) of every file under `prefix` at `rev`: sizes from the
        tree listing, so that a caller can refuse a file before reading it (kept for the
        next call while `rev` is a commit id, unless `keep` is false: a caller that reads
        a large listing once)."""
        if rev is None:
            return []
        fixed = keep and _SHA.fullmatch(rev) is not None
        if (
            _SHA.fullmatch(rev) and (rev, prefix) in self._listings
        ):  # a commit id names one tree forever
            return list(self._listings[rev, prefix])
        where = ("--", prefix) if prefix else ()
        out = self.git.ls_tree("-r", "-l", "-z", "--full-tree", rev, *where)
        found = []
        for entry in out.split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 4 and fields[1] == "blob":  # not a submodule
                found.append((path, fields[2], int(fields[3])))
        if fixed:
            self._listings[rev, prefix] = tuple(found)
        return found

    def walk_tree(self, rev: str, prefix: str) -> Iterator[tuple[str, str, int]]:
        """`tree_blobs` one file at a time as `git ls-tree` prints it, none kept (150,000
        audit files are ~40 MB as a list); a revision git cannot list fails at the end."""
        argv = [
            "git",
            "ls-tree",
            "-r",
            "-l",
            "-z",
            "--full-tree",
            rev,
            *(("--", prefix) if prefix else ()),
        ]
        for entry in self._records(argv, b"\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 4 and fields[1] == "blob":  # not a submodule
                yield path, fields[2], int(fields[3])

    @cached_property
    def _listings(self) -> dict[tuple[str, str], tuple[tuple[str, str, int], ...]]:
        return {}

    def blob_text(self, blob: str, keep: bool = True) -> str:
        """A blob's content as text (cached by hash: blobs never change; not with `keep`
        false, for a caller that streams large blobs once)."""
        text = self._blobs.get(blob)
        if text is None:
            text = self.git.get_object_data(blob)[3].decode("utf-8", "replace")
            if keep:
                self._blobs[blob] = text
        return text

    def prefetch(self, blobs: Sequence[str]) -> None:
        """Blobs not cached yet, read in one `cat-file --batch` pass (not one round trip
        each: 256 checkpoint buckets took 2.7 s one by one on a loaded machine)."""
        wanted = [b for b in dict.fromkeys(blobs) if b not in self._blobs]
        if len(wanted) > 1:
            for blob, _, text in self.texts(wanted, 1 << 30):
                if text is not None:
                    self._blobs[blob] = text

    def added(self, base: str, rev: str, prefix: str) -> list[tuple[str, str, str, int]]:
        """(status letter, path, blob, size) of every file under `prefix` that differs
        between `base` and `rev` (A added, M modified, D deleted; no renames)."""
        if base == rev:
            return []  # a commit against itself: no process (a read right on the checkpoint)
        if not (_SHA.fullmatch(base) and _SHA.fullmatch(rev)):
            return self._diff_added(base, rev, prefix)  # a name may move: asked each time
        key = (base, rev, prefix)  # two commits' trees never change: asked once
        if key not in self._added:
            self._added[key] = self._diff_added(base, rev, prefix)
            if len(self._added) > 16:
                self._added = {key: self._added[key]}
        return list(self._added[key])

    def _diff_added(self, base: str, rev: str, prefix: str) -> list[tuple[str, str, str, int]]:
        out = self.git.diff_tree("-r", "-z", "--no-renames", base, rev, "--", prefix)
        fields = out.split("\0")
        found = []
        for meta, path in zip(fields[0::2], fields[1::2], strict=False):
            parts = meta.split()
            if len(parts) == 5:
                letter, blob = parts[4][:1], parts[3]
                size = 0 if letter == "D" else int(self.git.get_object_header(blob)[2])
                found.append((letter, path, blob, size))
        return found

    def containing(self, rev: str, prefix: str, needles: Collection[str]) -> list[str] | None:
        """The files under `prefix` at `rev` whose content holds any of `needles` (fixed
        strings: `git grep -F`, in C over the tree's blobs), or None when there are too
        many to pass (the caller reads everything)."""
        if not needles:
            return []
        if len(needles) > 2_000 or any("\n" in n or not n for n in needles):
            return None
        patterns = [arg for needle in sorted(needles) for arg in ("-e", needle)]
        code, out, _ = self._run(
            "grep", "-l", "-z", "-F", "--no-color", "--no-textconv", *patterns, rev, "--", prefix
        )
        if code not in (0, 1):  # 1: nothing found
            return None
        start = len(rev) + 1  # each name is `rev:path`
        return [name[start:] for name in out.split("\0") if name.startswith(f"{rev}:")]

    def show(self, rev: str, path: str) -> str | None:
        code, out, _ = self._run("show", f"{rev}:{path}")
        return out if code == 0 else None

    def requesters(
        self,
        prefix: str = "remediations",
        rev: str | None = None,
        since: str | None = None,
        known: Mapping[str, tuple[str, ...]] | None = None,
    ) -> dict[str, tuple[str, ...]]:
        """File → who wrote it, from the history of `rev` (HEAD) after `since` (all): first
        the author of the commit that (last) added its content, following renames (from
        `known` for a file added before `since`), then, each once, the author of the
        commit that added its current path (who moved it there) and of every commit that
        changed its content since (who edited it: an edit of someone else's request is a
        request of its author's)."""
        rev = rev or self.head()
        if rev is None:
            return {}
        out = self.git.log(
            "--diff-filter=AMR",
            "-M",
            "--reverse",
            "--format=%x00%ae",
            "--name-status",
            f"{since}..{rev}" if since else rev,
            "--",
            prefix,
        )
        found: dict[str, tuple[str, ...]] = {}
        earlier = known if known is not None else {}
        for chunk in out.split("\x00")[1:]:
            email, *lines = chunk.strip("\n").split("\n")
            email = email.strip()
            for line in lines:
                status, *paths = line.split("\t")
                if status.startswith("A") and len(paths) == 1:
                    found[paths[0]] = (email,)
                elif status.startswith("M") and len(paths) == 1:
                    before = found.get(paths[0]) or earlier.get(paths[0]) or ()
                    found[paths[0]] = tuple(dict.fromkeys((*before, email)))
                elif status.startswith("R") and len(paths) == 2:
                    before = found.get(paths[0]) or earlier.get(paths[0]) or (email,)
                    found[paths[1]] = tuple(dict.fromkeys((*before, email)))
        return found

    def added_at(self, rev: str, prefix: str) -> dict[str, tuple[str, str]]:
        """Path under `prefix` → (committer time as ISO 8601, author e-mail) of the commit
        of `rev`'s first-parent history that last added it (a merge counts as of the merge:
        what it brought in reached the branch then). A shallow clone is deepened until no
        path's adding commit is a shallow boundary (which would show as adding every file
        it has), and unshallowed at the end (`GitBase._deepen`)."""
        from remediate.adapters.git_base import DEEPEN

        for depth in (0, *DEEPEN, -1):
            if depth:
                self._deepen(depth)
            code, out, _ = self._run(
                "log",
                "--first-parent",
                "--diff-merges=first-parent",
                "--diff-filter=A",
                "--no-renames",
                "--format=%x00%H%x09%cI%x09%ae",
                "--name-only",
                rev,
                "--",
                prefix,
            )
            if code != 0:
                return {}
            found: dict[str, tuple[str, str]] = {}
            commits: dict[str, str] = {}
            for chunk in out.split("\x00")[1:]:
                head, *paths = chunk.strip("\n").split("\n")
                sha, when, email = [*head.split("\t"), "", "", ""][:3]
                for path in filter(None, paths):
                    if path not in found:  # newest first: the last time it was added
                        found[path] = (when, email)
                        commits[path] = sha
            _, shallow, _ = self._run("rev-parse", "--is-shallow-repository")
            if shallow.strip() != "true" or self.remote is None:
                return found
            _, boundary, _ = self._run("rev-parse", "--git-path", "shallow")
            path = boundary.strip()
            cut = set()
            with contextlib.suppress(OSError):
                full = path if os.path.isabs(path) else os.path.join(self.root, path)
                with open(full, encoding="ascii") as handle:
                    cut = {line.strip() for line in handle}
            if not cut.intersection(commits.values()):
                return found
        return found

    def audit_history(
        self, rev: str | None, prefix: str = "audit", signers: tuple[str, ...] = ()
    ) -> list[AuditCommit]:
        """Every commit reachable from `rev` (a commit or `A..B`) that touched `prefix`,
        newest first, with each file's status and blob (a merge against its first
        parent); with `signers` (allowed SSH public keys), each commit's signature as git
        checks it against just those keys."""
        return list(self.stream_history(rev, prefix, signers))

    def stream_history(
        self, rev: str | None, prefix: str = "audit", signers: tuple[str, ...] = ()
    ) -> Iterator[AuditCommit]:
        """`audit_history` one commit at a time as git prints it, none kept (50,000 runner
        commits with their files are ~60 MB as objects)."""
        if rev is None or _empty_range(rev):
            return
        signed = "%x09%G?%x09%GK" if signers else ""
        args = [
            "log",
            f"--format=%x00%H%x09%P%x09%ce%x09%ae{signed}",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--diff-merges=first-parent",
            rev,
            "--",
            prefix,
        ]
        if not signers:
            yield from _parse_history(self._history_lines(args, []))
            return
        with tempfile.TemporaryDirectory(prefix="remediate-signers-") as tmp:
            allowed = os.path.join(tmp, "allowed_signers")
            with open(allowed, "w", encoding="utf-8") as handle:
                handle.writelines(f'* namespaces="git" {key}\n' for key in signers)
            config = [
                "-c",
                f"gpg.ssh.allowedSignersFile={allowed}",
                "-c",
                "gpg.ssh.revocationFile=",
            ]
            yield from _parse_history(self._history_lines(args, config, signed=True))

    def _history_lines(
        self, args: list[str], config: list[str], signed: bool = False
    ) -> Iterator[str]:
        """The lines `git *config *args` prints, streamed (the whole log of 150,000 audit
        commits is ~45 MB of text, held three times over when read at once); a failure is
        raised at the end as reading it at once would (UserError when `signed`)."""
        try:
            yield from self._records(["git", *config, *args], b"\n")
        except GitCommandError as exc:
            if signed:
                raise UserError(f"git log failed: {exc.stderr.strip()}") from None
            raise

    def _records(self, argv: list[str], end: bytes) -> Iterator[str]:
        """What `argv` (a git command) prints, one record (ended by `end`, which is cut off)
        at a time, nothing kept; a failure is raised once the output is read
        (GitCommandError, with what git said)."""
        with tempfile.TemporaryFile() as errors:
            with subprocess.Popen(
                argv,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                env={**os.environ, "LANGUAGE": "C", "LC_ALL": "C", **self.env},
            ) as proc:
                assert proc.stdout is not None
                rest = b""
                while chunk := proc.stdout.read(1 << 16):
                    *records, rest = (rest + chunk).split(end)
                    for record in records:
                        yield record.decode("utf-8", "surrogateescape")
                if rest:
                    yield rest.decode("utf-8", "surrogateescape")
            if proc.returncode != 0:
                errors.seek(0)
                err = errors.read().decode("utf-8", "surrogateescape").removesuffix("\n")
                raise GitCommandError(argv, proc.returncode, err)

    def unpublished(self, rev: str | None, prefix: str) -> set[str]:
        """Files under `prefix` whose work-tree content is not what `rev` holds (or not in it)."""
        untracked = self.git.ls_files("--others", "--exclude-standard", "--", prefix)
        if rev is None:
            tracked = self.git.ls_files("--", prefix)
            return {line for line in (tracked + "\n" + untracked).splitlines() if line}
        changed = self.git.diff("--name-only", "--no-renames", rev, "--", prefix)
        return {line for line in (changed + "\n" + untracked).splitlines() if line}

    # -- streaming: what `audit verify` reads without holding it --------------------------
    def walk_history(self, rev: str | None, prefix: str = "audit") -> Iterator[AuditCommit]:
        """`audit_history`, one commit at a time as git prints it, newest first in
        topological order (a commit after every commit it descends from, reversed)."""
        if rev is None:
            return
        argv = [
            "git",
            "log",
            "--topo-order",
            "--format=%x00%H%x09%ce%x09%ae",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--diff-merges=first-parent",
            rev,
            "--",
            prefix,
        ]
        header: list[str] | None = None
        changes: list[tuple[str, str, str]] = []
        for line in self._lines(argv):
            line = line.rstrip("\n")
            if line.startswith("\x00"):
                if header is not None:
                    yield AuditCommit(header[0], header[1], header[2], tuple(changes))
                header, changes = line[1:].split("\t"), []
            elif line.startswith(":") and "\t" in line:
                meta, _, path = line.partition("\t")
                fields = meta.split()  # :mode mode blob blob letter
                changes.append((fields[4][:1], path, fields[3]))
        if header is not None:
            yield AuditCommit(header[0], header[1], header[2], tuple(changes))

    def added_in_order(self, rev: str, prefix: str = "audit") -> Iterator[tuple[str, str]]:
        """(path, blob) of each file under `prefix` as a commit of `rev`'s history added it,
        oldest first in topological order (a file after every file of the commits it
        descends from), streamed from git: nothing is kept here. Merge commits show no
        diff: what a person's merge brings in, the commits that added it list already
        (read twice, every event would "appear twice"); a file only a merge itself adds
        is no runner's, which the guard reports (`service.verify.authorship`)."""
        argv = [
            "git",
            "log",
            "--reverse",
            "--topo-order",
            "--format=%x00",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--diff-merges=off",
            "--diff-filter=A",
            rev,
            "--",
            prefix,
        ]
        for line in self._lines(argv):
            if line.startswith(":"):
                meta, _, path = line.rstrip("\n").partition("\t")
                fields = meta.split()
                if len(fields) == 5 and fields[4] == "A":
                    yield path, fields[3]

    def _lines(self, argv: list[str]) -> Iterator[str]:
        """The lines `argv` (a git command) prints, as it prints them: nothing is kept."""
        with subprocess.Popen(
            argv,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **self.env},
        ) as proc:
            assert proc.stdout is not None
            yield from proc.stdout

    def texts(self, names: Iterable[str], limit: int) -> Iterator[tuple[str, int, str | None]]:
        """(name, size, text) of each object named (`REV:PATH` or a blob id), in order, read
        through one `git cat-file --batch` and kept by nobody: size -1 and no text for a
        name that names nothing. An object larger than `limit` bytes (or not a blob) is
        yielded without text and ends the stream: its content is never read."""
        proc = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=self.root,
            env={**os.environ, **self.env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None and proc.stdout is not None
        queue: deque[str] = deque()
        lock = threading.Condition()
        done = [False]

        def feed() -> None:
            assert proc.stdin is not None
            try:
                for name in names:
                    with lock:
                        queue.append(name)
                        lock.notify()
                    proc.stdin.write(name.encode() + b"\n")
                proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass
            finally:
                with lock:
                    done[0] = True
                    lock.notify()

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            out = proc.stdout
            while True:
                with lock:
                    while not queue and not done[0]:
                        lock.wait()
                    if not queue:
                        break
                    name = queue.popleft()
                header = out.readline().split()
                if len(header) != 3:  # "<name> missing" (or ambiguous)
                    yield name, -1, None
                    continue
                size = int(header[2])
                if header[1] != b"blob" or size > limit:
                    yield name, size, None  # not read: the stream ends here (cat-file stopped)
                    return
                data = out.read(size)
                out.read(1)  # the newline after the content
                yield name, size, data.decode("utf-8", "replace")
        finally:
            if proc.stdin and not proc.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
            proc.stdout.close()
            proc.wait()
            writer.join(timeout=5)


def _parse_history(lines: Iterable[str]) -> Iterator[AuditCommit]:
    """The commits of `git log --format=%x00%H%x09%P%x09%ce%x09%ae[%x09%G?%x09%GK] --raw`,
    line by line (a commit starts at a line beginning with NUL), each as soon as it ends."""
    header: str | None = None
    changes: list[tuple[str, str, str]] = []
    people: dict[str, str] = {}  # one string per e-mail, not one per commit
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith("\x00"):
            if header is not None:
                yield _commit(header, changes, people)
            header, changes = line[1:], []
            continue
        meta, tab, path = line.partition("\t")
        fields = meta.split()
        if tab and line.startswith(":") and len(fields) >= 5:
            changes.append((fields[4][:1], path, fields[3]))
    if header is not None:
        yield _commit(header, changes, people)


def _commit(
    header: str, changes: list[tuple[str, str, str]], people: dict[str, str]
) -> AuditCommit:
    sha, parents, committer, author, *signature = header.split("\t")
    status, key = (*signature, "N", "")[:2]
    return AuditCommit(
        sha,
        people.setdefault(committer, committer),
        people.setdefault(author, author),
        tuple(changes),
        merge=len(parents.split()) > 1,
        signature=status or "N",
        key=key,
    )


def _empty_range(rev: str) -> bool:
    """`A..A`: what `git log` lists of it is nothing, without asking it."""
    left, dots, right = rev.partition("..")
    return bool(dots) and bool(left) and left == right and not right.startswith(".")
