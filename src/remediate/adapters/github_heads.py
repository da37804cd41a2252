"""A pull request's documents, read from git objects as data (the `PullHeads` port).

Nothing of the pull request is checked out: no hook, filter, submodule or LFS smudge
runs. The blobs of the document paths (`remediate.yaml`, `actions/`, `policies/`,
`remediations/`, `schedules/`) are written into a private temporary directory, which the
ordinary loader (`documents.repository.WorkTree`) then reads through every validation
layer. A symbolic link is written as a symbolic link, so the loader refuses one that
leaves the tree as it does in a work tree.

Until the trust issue's `CommitDocuments` adapter exists this is how `remediate github`
reads a commit; it should then become a thin use of that adapter.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from remediate.core.forge import Commit, is_automation
from remediate.documents.loader import DOCUMENT_DIRS, ROOT_FILES
from remediate.documents.repository import WorkTree
from remediate.documents.yamlstrict import MAX_BYTES
from remediate.errors import UserError

_SHA = re.compile(r"[0-9a-f]{40}")
SPAN = 1000  # commits `between` lists at most (newest first)
DEEPEN = (50, 500)  # how far a shallow clone is deepened, step by step, to reach a commit


class GitPullHeads:
    """`PullHeads` over the git repository at `root` (its remote `origin` for fetches)."""

    def __init__(self, root: Path, remote: str = "origin") -> None:
        self.root = root
        self.remote = remote
        self._dirs: list[str] = []
        atexit.register(self.close)

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1"}
        done = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=self.root,
            capture_output=True,
            env=env,
            check=False,
        )
        if check and done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise UserError(f"git {args[0]}: {err[-1] if err else 'failed'}")
        return done

    def _has(self, sha: str) -> bool:
        return self._git("cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0

    def fetch(self, ref: str, sha: str) -> None:
        if self._has(sha):
            return
        self._git(
            "fetch", "--quiet", "--no-tags", "--no-recurse-submodules", self.remote,
            f"+{ref}:{ref}",
        )  # fmt: skip
        if not self._has(sha):
            raise UserError(
                f"commit {sha[:12]} is not on the remote ({ref} moved on): a newer event "
                "will plan the new head"
            )

    def between(self, since: str, upto: str) -> list[Commit] | None:
        """The commits `upto` holds and `since` does not (`git rev-list since..upto`: on
        a force push, those after their merge base), newest first, at most `SPAN`; None
        when git cannot tell: `since` not a commit id (the zero id of a new branch), or
        not here even after fetching it by id, or a shallow clone still cut between them
        after deepening by `DEEPEN`'s steps (never the whole history)."""
        if not _SHA.fullmatch(since) or not _SHA.fullmatch(upto) or set(since) == {"0"}:
            return None
        if not self._reach(since, upto):
            return None
        span = (f"--max-count={SPAN}", f"{since}..{upto}")
        first = set(self._git("rev-list", "--first-parent", *span).stdout.decode().split())
        found = []
        for line in self._git("log", "--format=%H %ce", *span).stdout.decode().splitlines():
            sha, _, email = line.partition(" ")
            found.append(Commit(sha, sha in first, email))
        return found

    def _reach(self, since: str, upto: str) -> bool:
        """Are `since`, `upto` and what lies between them here?"""
        for depth in (0, *DEEPEN):
            if depth:
                self._git(
                    "fetch", "--quiet", "--no-tags", "--no-recurse-submodules",
                    f"--deepen={depth}", self.remote, check=False,
                )  # fmt: skip
            elif not self._has(since):  # a force push: the old tip was never fetched here
                self._git("fetch", "--quiet", "--no-tags", self.remote, since, check=False)
            ancestor = self._git("merge-base", "--is-ancestor", since, upto, check=False)
            if ancestor.returncode == 0:
                return True
            shallow = self._git("rev-parse", "--is-shallow-repository", check=False)
            if shallow.stdout.strip() != b"true":  # the whole history is here
                return self._has(since) and self._has(upto)
        return False

    def changed(self, base: str, head: str) -> list[str]:
        return self._diff(base, head, "d")

    def deleted(self, base: str, head: str) -> list[str]:
        return self._diff(base, head, "D")

    def _diff(self, base: str, head: str, only: str) -> list[str]:
        done = self._git(
            "diff", "--name-only", "-z", "--no-renames", f"--diff-filter={only}", f"{base}...{head}"
        )  # fmt: skip
        return sorted(p for p in done.stdout.decode("utf-8", "replace").split("\0") if p)

    def documents(self, automation: str, requests: str) -> WorkTree:
        target = Path(tempfile.mkdtemp(prefix="remediate-pr-"))
        self._dirs.append(str(target))
        prefixes = (*ROOT_FILES, *DOCUMENT_DIRS)
        chosen = [
            entry
            for rev, wanted in ((automation, True), (requests, False))
            for entry in self._entries(rev, prefixes)
            if is_automation(entry[3]) == wanted and _safe(entry[3])
        ]
        small = [blob for mode, blob, size, _ in chosen if size <= MAX_BYTES]
        contents = self._blobs(small)
        for mode, blob, size, path in chosen:
            dest = target / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            if mode == "120000":
                os.symlink(contents[blob].decode("utf-8", "replace"), dest)
            elif size > MAX_BYTES:  # never read: the loader refuses it by its size
                with open(dest, "wb") as handle:
                    handle.truncate(size)
            else:
                dest.write_bytes(contents[blob])
        return WorkTree(target)

    def _entries(self, rev: str, prefixes: tuple[str, ...]) -> list[tuple[str, str, int, str]]:
        out = self._git("ls-tree", "-r", "-l", "-z", "--full-tree", rev, "--", *prefixes).stdout
        found = []
        for entry in out.decode("utf-8", "replace").split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 4 and fields[1] == "blob":  # submodules (commit) are skipped
                found.append((fields[0], fields[2], int(fields[3]), path))
        return found

    def _blobs(self, blobs: list[str]) -> dict[str, bytes]:
        """Every blob's bytes through one `git cat-file --batch`."""
        wanted = sorted(set(blobs))
        if not wanted:
            return {}
        done = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.root,
            input="".join(f"{b}\n" for b in wanted).encode(),
            capture_output=True,
            check=False,
        )
        data, out, at = done.stdout, {}, 0
        for blob in wanted:
            end = data.index(b"\n", at)
            header = data[at:end].split()
            if len(header) != 3:
                raise UserError(f"git cat-file: cannot read blob {blob[:12]}")
            size = int(header[2])
            out[blob] = data[end + 1 : end + 1 + size]
            at = end + 1 + size + 1
        return out

    def close(self) -> None:
        for d in self._dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._dirs.clear()


def _safe(path: str) -> bool:
    """Git never stores these, but a path is checked before it is joined to the target."""
    return bool(path) and not path.startswith("/") and ".." not in Path(path).parts
