"""Reading a commit: trees, blobs, the history of paths (the `AuditReader` port)."""

from __future__ import annotations

from collections.abc import Mapping

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

    def blob_text(self, blob: str) -> str:
        """A blob's content as text (cached by hash: blobs never change)."""
        text = self._blobs.get(blob)
        if text is None:
            text = self.git.get_object_data(blob)[3].decode("utf-8", "replace")
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
