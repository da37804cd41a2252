"""A commit's documents and their authors, read with the git command line (no checkout).

`GitTree` is what `documents.repository.AtCommit` reads a commit through: one
`git ls-tree -r` for the listing (sizes before content) and one `git cat-file --batch`
process for every blob it needs; `automation_history` is one `git log` of the files that
configure the automation itself (`remediate.yaml`, `actions/`, `policies/`), with each
version's blob and author. No GitPython: it costs more to import than a small load takes.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from remediate.adapters.git_base import DEEPEN, bounded_env
from remediate.core.automation import Version, Voucher
from remediate.documents.commit import TreeEntry
from remediate.documents.loader import DOCUMENT_DIRS, ROOT_FILES
from remediate.errors import UsageError

DOCUMENT_PATHS = (*ROOT_FILES, *DOCUMENT_DIRS)


class GitTree:
    """The trees, blobs and automation history of the repository at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._trees: dict[str, list[TreeEntry]] = {}
        self._bytes: dict[str, bytes] = {}
        self._edits: dict[str, list[subprocess.Popen[bytes]]] = {}
        self._fetching: dict[str, str] | None = None

    def _git(self, *args: str, data: bytes | None = None) -> bytes:
        done = subprocess.run(
            ["git", "-C", str(self.root), *args],
            input=data,
            capture_output=True,
            check=False,
            env=self._env(args[0]),
        )
        if done.returncode != 0:
            reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise UsageError(f"git {args[0]}: {reason[-1] if reason else 'failed'}")
        return done.stdout

    def entries(self, rev: str) -> list[TreeEntry]:
        """Every file where documents live at `rev`: (path, mode, type, blob, size)."""
        found = self._trees.get(rev)
        if found is None:
            out = self._git("ls-tree", "-r", "-l", "-z", "--full-tree", rev, "--", *DOCUMENT_PATHS)
            # one pass of the regular expression engine over the listing, not a Python
            # loop per record: 10,000 records at 10,000 requests
            found = [
                TreeEntry(path, mode, kind, blob, int(size) if size.isdigit() else 0)
                for mode, kind, blob, size, path in _LS_TREE.findall(out.decode("utf-8", "replace"))
            ]
            if len(self._trees) > 4:
                self._trees.clear()
            self._trees[rev] = found
        return found

    def fingerprint(self, rev: str) -> str:
        """The ids of the top-level document files and directories at `rev`: two commits
        with one fingerprint hold the same documents."""
        return self._git("ls-tree", "--full-tree", rev, "--", *DOCUMENT_PATHS).decode()

    def read(self, blobs: Iterable[str]) -> dict[str, bytes]:
        """The content of each blob, from one `git cat-file --batch` process for those not
        read before (blobs never change: a claim-time reload reads only what is new)."""
        asked = list(dict.fromkeys(blobs))
        found = {b: self._bytes[b] for b in asked if b in self._bytes}
        wanted = [b for b in asked if b not in found]
        if not wanted:
            return found
        if len(self._bytes) > 50_000:
            self._bytes.clear()
        out = self._git("cat-file", "--batch", data="".join(b + "\n" for b in wanted).encode())
        at = 0
        for blob in wanted:
            end = out.index(b"\n", at)
            header = out[at:end].split()
            at = end + 1
            if len(header) != 3:  # "<blob> missing"
                continue
            size = int(header[2])
            found[blob] = self._bytes[blob] = out[at : at + size]
            at += size + 1
        return found

    def begin_local_edits(self, rev: str) -> None:
        """Start the git processes `local_edits(rev)` reads, to run while the caller reads
        the commit (at 10,000 request files they stat, and in a fresh clone hash, every
        one of them)."""
        if rev not in self._edits:
            self._edits[rev] = [self._start(args) for args in _edit_commands(rev)]

    def local_edits(self, rev: str) -> list[str]:
        """Document files edited here and not on `rev`: uncommitted (untracked included)
        or committed and not pushed (changed between `rev`'s merge base with HEAD and HEAD).
        A checkout that is only behind `rev` has no edits."""
        started = self._edits.pop(rev, None)
        if started is None:
            started = [self._start(args) for args in _edit_commands(rev)]
        status, unpushed = (
            self._finish(proc, args)
            for proc, args in zip(started, _edit_commands(rev), strict=True)
        )
        here = [record[3:] for record in status.split(b"\0") if len(record) > 3]
        found = [*here, *unpushed.split(b"\0")]
        return sorted({n.decode("utf-8", "replace") for n in found if n})

    def _start(self, args: Sequence[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["git", "-C", str(self.root), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    @staticmethod
    def _finish(proc: subprocess.Popen[bytes], args: Sequence[str]) -> bytes:
        out, err = proc.communicate()
        if proc.returncode != 0:
            reason = err.decode("utf-8", "replace").strip().splitlines()
            raise UsageError(f"git {args[0]}: {reason[-1] if reason else 'failed'}")
        return out

    def tip(self) -> tuple[str, str] | None:
        """(name, commit) of the branch `apply` reads, as last fetched: the upstream of the
        checked-out branch, else HEAD; None before the first commit. Nothing is fetched."""
        for ref in ("@{upstream}", "HEAD"):
            commit = self._quiet("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
            if commit:
                return self._quiet("rev-parse", "--abbrev-ref", ref) or ref, commit
        return None

    def _quiet(self, *args: str) -> str:
        return self._try(*args) or ""

    def _try(self, *args: str) -> str | None:
        """git's output, stripped; None when it failed."""
        done = subprocess.run(
            ["git", "-C", str(self.root), *args],
            capture_output=True,
            text=True,
            check=False,
            env=self._env(args[0]),
        )
        return done.stdout.strip() if done.returncode == 0 else None

    def _env(self, command: str) -> dict[str, str] | None:
        """A fetch (deepening a shallow clone) runs with git's caches bounded, and so does
        the `upload-pack` serving it when the remote is on this machine
        (`git_base.bounded_env`); anything else with this process's environment."""
        if command != "fetch":
            return None
        if self._fetching is None:
            remotes = self._try("config", "--get-regexp", r"^remote\.") or ""
            self._fetching = {**os.environ, **bounded_env(dict(os.environ), remotes)}
        return self._fetching

    def differs(self, rev: str) -> list[str]:
        """Document files whose working-tree content is not what `rev` holds (edits, and
        what a checkout behind or ahead of `rev` has otherwise), untracked ones included."""
        paths = ("--", *DOCUMENT_PATHS)
        changed = self._git("diff", "--name-only", "-z", "--no-renames", rev, *paths)
        untracked = self._git("ls-files", "-z", "--others", "--exclude-standard", *paths)
        found = changed + b"\0" + untracked
        return sorted({n.decode("utf-8", "replace") for n in found.split(b"\0") if n})

    def automation_history(self, rev: str, paths: Sequence[str]) -> list[Version]:
        """Every version of the files under `paths` along `rev`'s first-parent line, newest
        first: (commit, author, path, blob or None when deleted). A merge counts as its
        author's change to what its first parent held, vouched for by the author of the
        commit it brought in that made the same blob (a pull request an admin wrote and
        someone else merged). A shallow clone is deepened first: a cut history would make
        its oldest commit look like the founding one."""
        self._unshallow()
        return self._versions(rev, paths)

    def automation_since(self, since: str, rev: str, paths: Sequence[str]) -> list[Version] | None:
        """The versions `automation_history` names that were made after commit `since`,
        deepening a shallow clone only as far as `since`; None when `since` is not on
        `rev`'s first-parent line (then only the whole history can say)."""
        if not self._on_first_parent_line(since, rev):
            return None
        return self._versions(f"{since}..{rev}", paths)

    def automation_from(
        self, commits: Sequence[str], rev: str, paths: Sequence[str]
    ) -> list[Version] | None:
        """The versions `automation_history` names that the oldest of `commits` on `rev`'s
        first-parent line and the commits after it made, deepening a shallow clone only
        that far. The others are skipped: no version is ever theirs (a vouch names the
        pull request's own commits a merge brought, as GitHub lists them)."""
        ahead: dict[str, int] = {}  # commit → how many first-parent commits lead to rev
        for commit in dict.fromkeys(commits):
            if not self._on_first_parent_line(commit, rev):
                continue
            count = self._try("rev-list", "--first-parent", "--count", f"{commit}..{rev}")
            if count is None or not count.isdigit():
                return None
            ahead[commit] = int(count)
        if not ahead:
            return []
        oldest = max(ahead, key=lambda c: ahead[c])
        parent = self._try("rev-parse", "--verify", "--quiet", f"{oldest}^1")
        if parent:
            return self._versions(f"{parent}..{rev}", paths)
        if self._try("rev-parse", "--is-shallow-repository") != "false":
            return None  # a cut history: its oldest commit would seem to add every file
        return self._versions(rev, paths)  # the root commit: its additions are real

    def _versions(self, span: str, paths: Sequence[str]) -> list[Version]:
        versions: list[Version] = []
        for commit, author, parents, changes in self._log(
            "--first-parent", "-m", span, paths=paths
        ):
            side = self._brought_in(parents, paths) if len(parents) > 1 else {}
            for path, blob in changes:
                found = side.get(path)
                vouchers = (Voucher(found[0]),) if found is not None and found[1] == blob else ()
                versions.append(Version(commit, author, path, blob, vouchers))
        return versions

    def _brought_in(
        self, parents: list[str], paths: Sequence[str]
    ) -> dict[str, tuple[str, str | None]]:
        """path → (author, blob) of the newest change to it among the commits a merge of
        `parents` brought in (reachable from the others, not from the first)."""
        found: dict[str, tuple[str, str | None]] = {}
        others = [f"^{parents[0]}", *parents[1:]]
        for _, author, _, changes in self._log("--no-merges", "--topo-order", *others, paths=paths):
            for path, blob in changes:
                found.setdefault(path, (author, blob))
        return found

    def _log(
        self, *args: str, paths: Sequence[str]
    ) -> list[tuple[str, str, list[str], list[tuple[str, str | None]]]]:
        """(commit, author, parents, [(path, blob or None)]) of `git log --raw` over `paths`."""
        out = self._git(
            "log", "--raw", "--no-renames", "--no-abbrev", "-z",
            "--format=%x01%H%x09%ae%x09%P", *args, "--", *paths,
        )  # fmt: skip
        found = []
        for chunk in out.split(b"\x01")[1:]:
            head, _, raw = chunk.partition(b"\0")
            commit, author, parents = [*head.decode().strip().split("\t"), "", ""][:3]
            fields = raw.split(b"\0")
            changes: list[tuple[str, str | None]] = []
            for meta, path in zip(fields[0::2], fields[1::2], strict=False):
                parts = meta.decode().split()
                if len(parts) != 5 or not parts[0].startswith(":"):
                    continue
                blob = None if parts[4].startswith("D") else parts[3]
                changes.append((path.decode("utf-8", "replace"), blob))
            found.append((commit, author, parents.split(), changes))
        return found

    def _on_first_parent_line(self, since: str, rev: str) -> bool:
        """Is `since` `rev` or a first parent of a first parent … of it? A shallow clone
        is deepened (by `DEEPEN`'s steps, then all) until git can tell."""
        for depth in (0, *DEEPEN, -1):
            if depth:
                how = "--unshallow" if depth < 0 else f"--deepen={depth}"
                self._try("fetch", "--quiet", "--no-tags", how)
            if self._try("merge-base", "--is-ancestor", since, rev) is not None:
                line = self._try("rev-list", "--first-parent", f"{since}..{rev}")
                if line is None:
                    return False
                oldest = line.split()[-1] if line else None
                return oldest is None or self._try("rev-parse", f"{oldest}^1") == since
            if self._try("rev-parse", "--is-shallow-repository") != "true":
                return False
        return False

    def _unshallow(self) -> None:
        shallow = self._git("rev-parse", "--is-shallow-repository").strip()
        if shallow == b"true":
            self._git("fetch", "--quiet", "--no-tags", "--unshallow")


def _edit_commands(rev: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What `local_edits` runs: one pass over the index and the work tree for the staged,
    unstaged and untracked files ("XY path" records; no renames, so one path each; no
    lock taken, nothing written), and the files committed here and not on `rev`."""
    paths = ("--", *DOCUMENT_PATHS)
    status = ("--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all")
    return (
        (*status, "--no-renames", *paths),
        ("diff", "--name-only", "-z", "--no-renames", f"{rev}...HEAD", *paths),
    )


# A record of `git ls-tree -r -l -z`: "<mode> <type> <object> <size, padded>\t<path>\0".
_LS_TREE = re.compile(r"([0-7]+) ([a-z]+) ([0-9a-f]+) +(\S+)\t([^\0]*)\0")
