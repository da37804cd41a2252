"""Reading a commit: trees, blobs, the history of paths (the `AuditReader` port)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping

from remediate.adapters.git_base import GitBase
from remediate.core.commits import AuditCommit
from remediate.errors import UserError


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

    def audit_history(
        self, rev: str | None, prefix: str = "audit", signers: tuple[str, ...] = ()
    ) -> list[AuditCommit]:
        """Every commit reachable from `rev` (a commit or `A..B`) that touched `prefix`,
        newest first, with each file's status and blob (a merge against its first
        parent); with `signers` (allowed SSH public keys), each commit's signature as git
        checks it against just those keys."""
        if rev is None:
            return []
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
            return _parse_history(self.git.execute(["git", *args]))
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
            code, out, err = self._run(*config, *args)
            if code != 0:
                raise UserError(f"git log failed: {err.strip()}")
            return _parse_history(out)

    def unpublished(self, rev: str | None, prefix: str) -> set[str]:
        """Files under `prefix` whose work-tree content is not what `rev` holds (or not in it)."""
        untracked = self.git.ls_files("--others", "--exclude-standard", "--", prefix)
        if rev is None:
            tracked = self.git.ls_files("--", prefix)
            return {line for line in (tracked + "\n" + untracked).splitlines() if line}
        changed = self.git.diff("--name-only", "--no-renames", rev, "--", prefix)
        return {line for line in (changed + "\n" + untracked).splitlines() if line}


def _parse_history(out: str) -> list[AuditCommit]:
    commits: list[AuditCommit] = []
    for chunk in str(out).split("\x00")[1:]:
        header, *lines = chunk.strip("\n").split("\n")
        sha, parents, committer, author, *signature = header.split("\t")
        changes = []
        for line in lines:
            meta, tab, path = line.partition("\t")
            fields = meta.split()
            if tab and line.startswith(":") and len(fields) >= 5:
                changes.append((fields[4][:1], path, fields[3]))
        status, key = (*signature, "N", "")[:2]
        commits.append(
            AuditCommit(
                sha,
                committer,
                author,
                tuple(changes),
                merge=len(parents.split()) > 1,
                signature=status or "N",
                key=key,
            )
        )
    return commits
