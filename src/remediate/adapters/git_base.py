"""The git repository the runner works in: where it reads and writes, its remote, HEAD.

`GitBase` opens the repository (the git command line: `git_cmd`) and
knows the branch, its upstream and how to fetch it; the store's other parts build on it:
`git_reading` (commits, trees, blobs, history: the `AuditReader` port), `git_writing`
(commits without touching the work tree, branch pushes, the spool: `AuditWriter`,
`Spool`), `git_refs` (compare-and-swap refs on the remote: `Refs`). `git_store.GitStore`
is all of them together.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from remediate.adapters import git_cmd
from remediate.adapters.git_cli import not_a_repository, unreachable
from remediate.adapters.git_cmd import Repo
from remediate.errors import UsageError, UserError


def open_repo(root: Path) -> Repo:
    """The repository at `root` (`adapters.git_cmd`: the git command line, without
    GitPython); UsageError when it is not the top of a git work tree."""
    try:
        return git_cmd.open_repo(root)
    except git_cmd.NotARepository:
        raise UsageError(not_a_repository(root)) from None


_SHA = re.compile(r"[0-9a-f]{40}")

# refs the runner owns on the remote

CLAIMS_PREFIX = "refs/claims/"
RUNNER_REFS = "refs/remediate/"
# The one of them a fetch brings, by name: its carrier and anything else pushed under
# RUNNER_REFS (refs/remediate/carrier/x, a 20 MiB blob at refs/remediate/junk) are never
# fetched, so none can fail a fetch (a D/F clash with a ref this clone holds) or fill it.
CHECKPOINT = RUNNER_REFS + "checkpoint"  # `core.checkpoint.REF`
DEEPEN = (16, 256, 4096)  # commits a shallow clone is deepened by, in turn, to reach one


# Git's caches are sized for interactive use on big machines: `git log` over 40,000 commits
# held 170 MB (a 96 MB delta base cache, the pack mapped whole). Bounded, the same walk
# measured 59 MB and ran faster; the runner's commands stay under 150 MB with it.
BOUNDED = {
    "core.deltaBaseCacheLimit": "8m",
    "core.packedGitLimit": "32m",
    "core.packedGitWindowSize": "4m",
}


def bounded_env(environ: dict[str, str], remotes: str = "") -> dict[str, str]:
    """`GIT_CONFIG_COUNT`/`KEY_n`/`VALUE_n` that add `BOUNDED` after whatever the
    environment already sets that way (a person's own `-c`-style settings win nothing
    here: these are the runner's), and `serving(remotes)`."""
    try:
        start = int(environ.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        start = 0
    settings = {**BOUNDED, **serving(remotes)}
    extra = {"GIT_CONFIG_COUNT": str(start + len(settings))}
    for i, (key, value) in enumerate(settings.items(), start):
        extra[f"GIT_CONFIG_KEY_{i}"], extra[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return extra


# A remote on this machine (a path, or a file:// URL) is served by a `git receive-pack` or
# `git upload-pack` that our push or fetch starts as its child, and git clears the
# GIT_CONFIG_* variables for it, so it ran with git's defaults: the receiving side's
# connectivity check of a branch push (`rev-list --objects`, which walks the whole tree of
# the old tip) held 207 MB at 50,000 completed requests, and the `pack-objects` serving a
# shallow clone's `--deepen` 247 MB. It gets the same bounds on its command line.
_BOUNDS = " ".join(f"-c {key}={value}" for key, value in BOUNDED.items())
SERVERS = {"receivepack": f"git {_BOUNDS} receive-pack", "uploadpack": f"git {_BOUNDS} upload-pack"}


def on_this_machine(url: str) -> bool:
    """Does git reach `url` through its local transport? A file:// URL, or a path: no
    `scheme://`, and no `host:` before the first slash (scp-like ssh)."""
    if url.startswith("file://"):
        return True
    if "://" in url:
        return False
    colon, slash = url.find(":"), url.find("/")
    return colon < 0 or 0 <= slash < colon


def serving(remotes: str) -> dict[str, str]:
    """`remote.<name>.receivepack`/`uploadpack` (`SERVERS`) for each remote every URL of
    which, for pushing or for fetching, is on this machine, unless the remote sets it
    itself. `remotes` is the output of `git config --get-regexp ^remote\\.`."""
    values: dict[str, dict[str, list[str]]] = {}
    for line in remotes.splitlines():
        key, _, value = line.partition(" ")
        name, _, var = key.removeprefix("remote.").rpartition(".")
        if name:
            values.setdefault(name, {}).setdefault(var, []).append(value)
    found = {}
    for name, given in values.items():
        fetch = given.get("url", [])
        urls = {"receivepack": given.get("pushurl", fetch), "uploadpack": fetch}
        for var, command in SERVERS.items():
            if var not in given and urls[var] and all(map(on_this_machine, urls[var])):
                found[f"remote.{name}.{var}"] = command
    return found


class GitBase:
    """The repository at `root`, its checked-out branch and that branch's upstream."""

    def __init__(self, root: Path, signing_key: str | None = None) -> None:
        self.root = root
        self.repo = open_repo(root)
        self.git: Any = self.repo.git  # typed loosely, as GitPython's was
        _, remotes, _ = self._run("config", "--get-regexp", r"^remote\.")
        self.env = bounded_env(dict(os.environ), remotes)
        self.git.update_environment(**self.env)  # every git it runs, cat-file too
        self._blobs: dict[str, str] = {}
        self._ancestors: set[tuple[str, str]] = set()  # (commit, commit) known to hold
        self._added: dict[tuple[str, str, str], list[tuple[str, str, str, int]]] = {}
        self._remotes: list[str] = []
        self.branch, self.remote, self.remote_branch = self._upstream()
        self.tracks = self.remote_branch  # the branch the checkout's upstream names
        self.signing_key = signing_key  # REMEDIATE_SIGNING_KEY: the runner's SSH key
        self._sign = False

    # -- where to read and write --------------------------------------------------------
    def _run(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        status, out, err = self.git.execute(
            ["git", *args], with_extended_output=True, with_exceptions=False, env=env
        )
        return int(status), str(out), str(err)

    def _upstream(self) -> tuple[str | None, str | None, str | None]:
        """(checked-out branch, its upstream remote, the upstream's branch); without an
        upstream (detached HEAD, a local branch) the remote is `origin` or the only one."""
        code, branch, _ = self._run("symbolic-ref", "--quiet", "--short", "HEAD")
        if code == 0:
            _, remote, _ = self._run("config", f"branch.{branch}.remote")
            _, merge, _ = self._run("config", f"branch.{branch}.merge")
            if remote and merge.startswith("refs/heads/") and remote != ".":
                return branch, remote, merge[len("refs/heads/") :]
        _, names, _ = self._run("remote")
        remotes = names.split()
        only = "origin" if "origin" in remotes else remotes[0] if len(remotes) == 1 else None
        self._remotes = remotes
        return (branch if code == 0 else None), only, None

    def target_branch(self, branch: str) -> bool:
        """Fetch and push `<remote>/<branch>` from now on, whatever is checked out; UserError
        when several remotes leave it open which one is the shared repository."""
        if self.remote is None and len(self._remotes) > 1:
            raise UserError(
                f"this repository has several remotes ({', '.join(self._remotes)}) and none "
                "is `origin` or the checked-out branch's upstream: set the branch's upstream "
                f"(`git branch --set-upstream-to <remote>/{branch}`) so the runner knows where "
                "its claims and events go; nothing was done"
            )
        moved = self.remote_branch != branch
        self.remote_branch = branch
        return moved and self.remote is not None

    def sign_commits(self) -> None:
        """Sign every commit made from now on with the runner's SSH key (`gpg.format ssh`)."""
        if not self.signing_key:
            raise UserError(
                "Settings.spec.runner.signing lists the keys that must sign the runner's "
                "commits, but REMEDIATE_SIGNING_KEY (the path of the runner's SSH key, or of "
                "its public key with the private one in ssh-agent) is not set; nothing was done"
            )
        self._sign = True

    def own_key(self) -> str | None:
        """The public key of REMEDIATE_SIGNING_KEY: git's `key::` literal, a public key
        file (the private key in ssh-agent), or a private key file (`ssh-keygen -y`);
        None without one, "" when it is set but its public key cannot be read (a
        passphrase): the caller must not take that for "no key"."""
        key = self.signing_key
        if not key:
            return None
        if key.startswith("key::"):
            return key.removeprefix("key::").strip()
        try:
            text = Path(key).expanduser().read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return ""
        if text.startswith(("ssh-", "ecdsa-", "sk-")):
            return text.splitlines()[0]
        done = subprocess.run(
            ["ssh-keygen", "-y", "-P", "", "-f", str(Path(key).expanduser())],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    def unreachable(self, err: str) -> str:
        """One sentence for a remote git could not talk to: which, where, and git's reason."""
        code, url, _ = self._run("config", "--get", f"remote.{self.remote}.url")
        return unreachable(self.remote or "", url if code == 0 else "", err)

    @property
    def has_upstream(self) -> bool:
        return self.remote is not None

    def head(self) -> str | None:
        code, out, _ = self._run("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        return out if code == 0 else None

    def fetch(self) -> str | None:
        """The tip to build on: the upstream branch after a fetch, or HEAD without one."""
        if self.remote is None:
            return self.head()
        self.remote_branch = self.remote_branch or "main"
        tracking = f"refs/remotes/{self.remote}/{self.remote_branch}"
        branch = f"+refs/heads/{self.remote_branch}:{tracking}"
        fetch = ("fetch", "--quiet", "--no-tags", self.remote, branch)
        code, _, err = self._run(*fetch, f"+{CHECKPOINT}:{CHECKPOINT}")  # the two together
        if code != 0:  # no checkpoint there (a first run), or none this clone can take
            code, _, err = self._run(*fetch)
        if code != 0:
            raise UserError(self.unreachable(err))
        code, out, _ = self._run("rev-parse", "--verify", "--quiet", tracking)
        return out if code == 0 else None

    def resolve(self, ref: str) -> str | None:
        """The commit a local ref names, or None."""
        code, out, _ = self._run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        return out if code == 0 else None

    def object_at(self, ref: str) -> str | None:
        """The object a local ref names, whatever it is (`resolve` peels it to a commit)."""
        code, out, _ = self._run("rev-parse", "--verify", "--quiet", ref)
        return out if code == 0 else None

    def refresh(self) -> None:
        """Fetch the remote's checkpoint ref into the same local name (quietly: a read
        command without the network, or a remote without one, reads what it has)."""
        if self.remote is not None:
            self._run("fetch", "--quiet", "--no-tags", self.remote, f"+{CHECKPOINT}:{CHECKPOINT}")

    def committer(self, sha: str) -> str | None:
        code, out, _ = self._run("show", "-s", "--format=%ce", sha)
        return out.strip() if code == 0 else None

    def is_ancestor(self, ancestor: str, rev: str) -> bool:
        """Is `ancestor` in `rev`'s history? A shallow clone is deepened until it can tell."""
        if (ancestor, rev) in self._ancestors:
            return True
        for depth in (0, *DEEPEN, -1):
            if depth:
                self._deepen(depth)
            code, _, _ = self._run("merge-base", "--is-ancestor", ancestor, rev)
            if code == 0:
                if _SHA.fullmatch(ancestor) and _SHA.fullmatch(rev):
                    self._ancestors.add((ancestor, rev))  # history never changes: once
                return True
            _, shallow, _ = self._run("rev-parse", "--is-shallow-repository")
            if shallow.strip() != "true" or self.remote is None:
                return False
        return False

    def merge_base(self, a: str, b: str) -> str | None:
        """Where `b`'s history left `a`'s (their best common ancestor), if any."""
        code, out, _ = self._run("merge-base", a, b)
        return out.strip() or None if code == 0 else None

    def _deepen(self, depth: int) -> None:
        assert self.remote is not None
        how = "--unshallow" if depth < 0 else f"--deepen={depth}"
        target = self.remote_branch or "HEAD"
        self._run("fetch", "--quiet", "--no-tags", how, self.remote, target)

    def user_name(self) -> str | None:
        code, out, _ = self._run("config", "user.name")
        return out.strip() or None if code == 0 else None

    def user_email(self) -> str | None:
        code, out, _ = self._run("config", "user.email")
        return out.strip() or None if code == 0 else None
