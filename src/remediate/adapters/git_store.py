"""The one module that talks to git (GitPython, and the git command line through it).

Add, commit and push go through the git command line (`repo.git.*`), which
measured 3x faster than GitPython's index API on this machine class.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from remediate.adapters.git_cli import not_a_repository, unreachable
from remediate.core.commits import AuditCommit as AuditCommit
from remediate.core.commits import Person as Person
from remediate.core.commits import PushOutcome as PushOutcome
from remediate.errors import UsageError, UserError


def open_repo(root: Path):  # type: ignore[no-untyped-def]
    """The GitPython `Repo` at `root`; UsageError when it is not the top of a git work tree."""
    import git

    try:
        return git.Repo(root, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(not_a_repository(root)) from None


# --- write-back: the runner's commits, pushes and claim refs ----------------------------

CLAIMS_PREFIX = "refs/claims/"
RUNNER_REFS = "refs/remediate/"
DEEPEN = (16, 256, 4096)  # commits a shallow clone is deepened by, in turn, to reach one


class GitStore:
    """Reads the audit at a commit, writes commits without touching the work tree, pushes.

    Commits are built in a temporary index on top of the remote tip, so a
    person's checkout, index and unstaged edits are never touched; the local
    branch is fast-forwarded afterwards when it can be.
    """

    def __init__(self, root: Path, signing_key: str | None = None) -> None:
        self.root = root
        self.repo = open_repo(root)
        self.git = self.repo.git
        self._blobs: dict[str, str] = {}
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

    def target_branch(self, branch: str) -> None:
        """Fetch and push `<remote>/<branch>` from now on, whatever is checked out; UserError
        when several remotes leave it open which one is the shared repository."""
        if self.remote is None and len(self._remotes) > 1:
            raise UserError(
                f"this repository has several remotes ({', '.join(self._remotes)}) and none "
                "is `origin` or the checked-out branch's upstream: set the branch's upstream "
                f"(`git branch --set-upstream-to <remote>/{branch}`) so the runner knows where "
                "its claims and events go; nothing was done"
            )
        self.remote_branch = branch

    def sign_commits(self) -> None:
        """Sign every commit made from now on with the runner's SSH key (`gpg.format ssh`)."""
        if not self.signing_key:
            raise UserError(
                "Settings.spec.runner.signing lists the keys that must sign the runner's "
                "commits, but REMEDIATE_SIGNING_KEY (the path of the runner's SSH key, or of "
                "its public key with the private one in ssh-agent) is not set; nothing was done"
            )
        self._sign = True

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
        code, _, err = self._run(  # the branch and the runner's refs (its checkpoint) together
            "fetch",
            "--quiet",
            "--no-tags",
            self.remote,
            f"+refs/heads/{self.remote_branch}:{tracking}",
            f"+{RUNNER_REFS}*:{RUNNER_REFS}*",
        )
        if code != 0:
            raise UserError(self.unreachable(err))
        code, out, _ = self._run("rev-parse", "--verify", "--quiet", tracking)
        return out if code == 0 else None

    # -- reading -------------------------------------------------------------------------
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

    def resolve(self, ref: str) -> str | None:
        """The commit a local ref names, or None."""
        code, out, _ = self._run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        return out if code == 0 else None

    def refresh(self, prefix: str = RUNNER_REFS) -> None:
        """Fetch the remote's refs under `prefix` into the same local names (quietly: a
        read command without the network reads what it has)."""
        if self.remote is not None:
            self._run("fetch", "--quiet", "--no-tags", self.remote, f"+{prefix}*:{prefix}*")

    def committer(self, sha: str) -> str | None:
        code, out, _ = self._run("show", "-s", "--format=%ce", sha)
        return out.strip() if code == 0 else None

    def is_ancestor(self, ancestor: str, rev: str) -> bool:
        """Is `ancestor` in `rev`'s history? A shallow clone is deepened until it can tell."""
        for depth in (0, *DEEPEN, -1):
            if depth:
                self._deepen(depth)
            code, _, _ = self._run("merge-base", "--is-ancestor", ancestor, rev)
            if code == 0:
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
                raise UserError(f"git log failed: {_last_line(err)}")
            return _parse_history(out)

    def unpublished(self, rev: str | None, prefix: str) -> set[str]:
        """Files under `prefix` whose work-tree content is not what `rev` holds (or not in it)."""
        untracked = self.git.ls_files("--others", "--exclude-standard", "--", prefix)
        if rev is None:
            tracked = self.git.ls_files("--", prefix)
            return {line for line in (tracked + "\n" + untracked).splitlines() if line}
        changed = self.git.diff("--name-only", "--no-renames", rev, "--", prefix)
        return {line for line in (changed + "\n" + untracked).splitlines() if line}

    def user_name(self) -> str | None:
        code, out, _ = self._run("config", "user.name")
        return out.strip() or None if code == 0 else None

    def user_email(self) -> str | None:
        code, out, _ = self._run("config", "user.email")
        return out.strip() or None if code == 0 else None

    # -- writing -------------------------------------------------------------------------
    def make_commit(
        self,
        parent: str | None,
        files: dict[str, str],
        message: str,
        author: Person,
        committer: Person,
        tree_from: str | None = None,
    ) -> str:
        """A commit of `parent`'s tree (or `tree_from`'s) plus `files`, in a temporary index."""
        with tempfile.TemporaryDirectory(prefix="remediate-") as tmp:
            env = {
                "GIT_INDEX_FILE": os.path.join(tmp, "index"),
                "GIT_AUTHOR_NAME": author.name,
                "GIT_AUTHOR_EMAIL": author.email,
                "GIT_COMMITTER_NAME": committer.name,
                "GIT_COMMITTER_EMAIL": committer.email,
            }
            if (tree_from or parent) is not None:
                self.git.execute(["git", "read-tree", str(tree_from or parent)], env=env)
            paths = []
            for i, text in enumerate(files.values()):
                path = os.path.join(tmp, f"f{i}")
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(text)
                paths.append(path)
            blobs = str(self.git.execute(["git", "hash-object", "-w", "--", *paths])).split()
            args: list[str] = []
            for name, blob in zip(files, blobs, strict=True):
                args += ["--cacheinfo", f"100644,{blob},{name}"]
            self.git.execute(["git", "update-index", "--add", *args], env=env)
            tree = str(self.git.execute(["git", "write-tree"], env=env))
            msg_path = os.path.join(tmp, "message")
            with open(msg_path, "w", encoding="utf-8") as handle:
                handle.write(message)
            parents = ["-p", parent] if parent is not None else []
            if not self._sign:
                return str(
                    self.git.execute(
                        ["git", "commit-tree", tree, *parents, "-F", msg_path], env=env
                    )
                )
            assert self.signing_key
            signing = ["-c", "gpg.format=ssh", "-c", f"user.signingKey={self.signing_key}"]
            code, out, err = self._run(
                *signing, "commit-tree", "-S", tree, *parents, "-F", msg_path, env=env
            )
            if code != 0:
                raise UserError(
                    f"could not sign the runner's commit with REMEDIATE_SIGNING_KEY: "
                    f"{_last_line(err)}; nothing more was done"
                )
            return out.strip()

    def push_branch(self, sha: str) -> tuple[str, str]:
        """Push `sha` to the upstream branch, never forced: (outcome, git's message)."""
        assert self.remote is not None and self.remote_branch is not None
        code, out, err = self._run(
            "push", "--porcelain", "--quiet", self.remote, f"{sha}:refs/heads/{self.remote_branch}"
        )
        if code == 0:
            return PushOutcome.OK, ""
        text = out + "\n" + err
        if any(w in text for w in ("[rejected]", "non-fast-forward", "fetch first", "stale info")):
            return PushOutcome.REJECTED, _last_line(err)
        return PushOutcome.AMBIGUOUS, _last_line(err)

    def claim_refs(self, prefix: str = CLAIMS_PREFIX) -> dict[str, str] | None:
        """Claim refs on the remote (ref → sha); None when the remote cannot be read."""
        if self.remote is None:
            return {}
        code, out, _ = self._run("ls-remote", "--refs", self.remote, f"{prefix}*")
        if code != 0:
            return None
        refs: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            refs[ref] = sha
        return refs

    def refs_named(self, names: list[str], chunk: int = 500) -> dict[str, str]:
        """Which of these refs exist on the remote (ref → sha), asked by name."""
        if not names:
            return {}
        if self.remote is None:
            found: dict[str, str] = {}
            for name in names:
                code, out, _ = self._run("rev-parse", "--verify", "--quiet", name)
                if code == 0:
                    found[name] = out
            return found
        wanted = set(names)
        found = {}
        for start in range(0, len(names), chunk):
            code, out, err = self._run(
                "ls-remote", "--refs", self.remote, *names[start : start + chunk]
            )
            if code != 0:
                raise UserError(self.unreachable(err))
            for line in out.splitlines():
                sha, _, ref = line.partition("\t")
                if ref in wanted:
                    found[ref] = sha
        return found

    def push_leases(self, updates: dict[str, tuple[str | None, str]]) -> dict[str, str]:
        """Set (or, with None, delete) each ref only if it still holds the expected value.

        `updates`: ref → (new sha or None, expected sha or "" for "must not exist").
        Each ref is decided on its own by the remote under its ref lock.
        """
        if not updates:
            return {}
        if self.remote is None:
            return self._lease_locally(updates)
        args: list[str] = []
        for ref, (new, expected) in updates.items():
            args += [f"--force-with-lease={ref}:{expected}", f"{new}:{ref}" if new else f":{ref}"]
        _, out, _ = self._run("push", "--porcelain", self.remote, *args)
        results: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and ":" in parts[1]:
                ref = parts[1].split(":", 1)[1]
                if ref in updates:
                    flag = parts[0][:1] or " "
                    results[ref] = "won" if flag in "*+- " else "lost"
        for ref in updates:
            results.setdefault(ref, "unknown")
        for ref, (new, _) in updates.items():  # this clone remembers what the runner set:
            if ref.startswith(RUNNER_REFS) and new and results[ref] == "won":  # its checkpoint
                self._run("update-ref", ref, new)  # survives a remote forced back
        return results

    def _lease_locally(self, updates: dict[str, tuple[str | None, str]]) -> dict[str, str]:
        results: dict[str, str] = {}
        for ref, (new, expected) in updates.items():
            if new is None:
                code, _, _ = self._run("update-ref", "-d", ref, expected)
            else:
                code, _, _ = self._run("update-ref", ref, new, expected)
            results[ref] = "won" if code == 0 else "lost"
        return results

    def fetch_refs(self, refs: list[str]) -> None:
        """Fetch the objects of some remote refs (claim commits of other runners)."""
        if self.remote is None or not refs:
            return
        self._run("fetch", "--quiet", "--no-tags", self.remote, *refs)

    # -- a local spool for events that could not be pushed --------------------------------
    @property
    def _spool(self) -> Path:
        return Path(self.repo.git_dir) / "remediate" / "spool"

    def spool(self, name: str, text: str) -> Path:
        self._spool.mkdir(parents=True, exist_ok=True)
        path = self._spool / name
        path.write_text(text, encoding="utf-8")
        return path

    def spooled(self) -> dict[str, str]:
        if not self._spool.is_dir():
            return {}
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(self._spool.iterdir())}

    def unspool(self, name: str) -> None:
        (self._spool / name).unlink(missing_ok=True)

    def fast_forward(self, sha: str) -> bool:
        """Move the checked-out branch (and work tree) to `sha` when that is a fast-forward
        and the checkout follows the branch the runner writes (or there is no remote)."""
        elsewhere = self.remote_branch not in (self.branch, self.tracks)
        if self.remote is not None and self.branch is not None and elsewhere:
            return False  # another branch is checked out: the runner leaves it alone
        head = self.head()
        if head == sha:
            return True
        if head is not None:
            code, _, _ = self._run("merge-base", "--is-ancestor", head, sha)
            if code != 0:
                return False
        if head is None:
            code, _, _ = self._run("reset", "--quiet", "--keep", sha)
        else:
            code, _, _ = self._run("merge", "--ff-only", "--quiet", sha)
        return code == 0


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


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "failed"
