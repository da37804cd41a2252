"""Reading a commit: trees, blobs, the history of paths (the `AuditReader` port)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping

from remediate.adapters.git_base import GitBase
from remediate.core.commits import AuditCommit


class GitReading(GitBase):
    """Commits, trees and blobs, read through git (blobs cached by id: they never change)."""

    def tree_blobs(self, rev: str | None, prefix: str) -> list[tuple[str, str, int]]:
        """(path, blob, size in bytes) of every file under `prefix` at `rev`: sizes from the
        tree listing, so that a caller can refuse a file before reading it."""
        if rev is None:
            return []
        where = ("--", prefix) if prefix else ()
        out = self.git.ls_tree("-r", "-l", "-z", "--full-tree", rev, *where)
        found = []
        for entry in out.split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 4 and fields[1] == "blob":  # not a submodule
                found.append((path, fields[2], int(fields[3])))
        return found

    def blob_text(self, blob: str, keep: bool = True) -> str:
        """A blob's content as text (cached by hash: blobs never change; not with `keep`
        false, for a caller that streams large blobs once)."""
        text = self._blobs.get(blob)
        if text is None:
            text = self.git.get_object_data(blob)[3].decode("utf-8", "replace")
            if keep:
                self._blobs[blob] = text
        return text

    def added(self, base: str, rev: str, prefix: str) -> list[tuple[str, str, str, int]]:
        """(status letter, path, blob, size) of every file under `prefix` that differs
        between `base` and `rev` (A added, M modified, D deleted; no renames)."""
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
        """File → who added it, from the history of `rev` (HEAD) after `since` (all): first
        the author of the commit that (last) added its content, following renames (from
        `known` for a file added before `since`), then, if another, the author of the
        commit that added its current path (who moved it there)."""
        rev = rev or self.head()
        if rev is None:
            return {}
        out = self.git.log(
            "--diff-filter=AR",
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
                elif status.startswith("R") and len(paths) == 2:
                    origin = (found.get(paths[0]) or earlier.get(paths[0]) or (email,))[0]
                    found[paths[1]] = tuple(dict.fromkeys((origin, email)))
        return found

    def audit_history(self, rev: str | None, prefix: str = "audit") -> list[AuditCommit]:
        """Every commit reachable from `rev` that touched `prefix`, with its changes."""
        if rev is None:
            return []
        out = self.git.log(
            "--format=%x00%H%x09%ce%x09%ae",
            "--name-status",
            "--no-renames",
            "--diff-merges=first-parent",
            rev,
            "--",
            prefix,
        )
        commits: list[AuditCommit] = []
        for chunk in out.split("\x00")[1:]:
            header, *lines = chunk.strip("\n").split("\n")
            sha, committer, author = header.split("\t")
            changes = tuple(
                (line.split("\t")[0][:1], line.split("\t")[-1]) for line in lines if "\t" in line
            )
            commits.append(AuditCommit(sha, committer, author, changes))
        return commits

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
            "--name-status",
            "--no-renames",
            "--diff-merges=first-parent",
            rev,
            "--",
            prefix,
        ]
        with subprocess.Popen(
            argv,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **self.env},
        ) as proc:
            assert proc.stdout is not None
            header: list[str] | None = None
            changes: list[tuple[str, str]] = []
            for line in proc.stdout:
                line = line.rstrip("\n")
                if line.startswith("\x00"):
                    if header is not None:
                        yield AuditCommit(header[0], header[1], header[2], tuple(changes))
                    header, changes = line[1:].split("\t"), []
                elif "\t" in line:
                    fields = line.split("\t")
                    changes.append((fields[0][:1], fields[-1]))
            if header is not None:
                yield AuditCommit(header[0], header[1], header[2], tuple(changes))

    def added_in_order(self, rev: str, prefix: str = "audit") -> Iterator[tuple[str, str]]:
        """(path, blob) of each file under `prefix` as a commit of `rev`'s history added it,
        oldest first in topological order (a file after every file of the commits it
        descends from), streamed from git: nothing is kept here."""
        argv = [
            "git",
            "log",
            "--reverse",
            "--topo-order",
            "--format=%x00",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--diff-merges=first-parent",
            "--diff-filter=A",
            rev,
            "--",
            prefix,
        ]
        with subprocess.Popen(
            argv,
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **self.env},
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(":"):
                    meta, _, path = line.rstrip("\n").partition("\t")
                    fields = meta.split()
                    if len(fields) == 5 and fields[4] == "A":
                        yield path, fields[3]

    def texts(self, names: Iterable[str], limit: int) -> Iterator[tuple[str, int, str | None]]:
        """(name, size, text) of each object named (`REV:PATH` or a blob id), in order, read
        through one `git cat-file --batch` and kept by nobody: size -1 and no text for a
        name that names nothing, no text for one larger than `limit` bytes (not decoded,
        its bytes only drained from the pipe)."""
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
                    left = size + 1
                    while left:
                        left -= len(out.read(min(left, 1 << 20)) or b"x" * left)
                    yield name, size, None
                    continue
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
