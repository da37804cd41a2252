"""The git command line where GitPython is not needed (and would cost its import).

Finding the work tree that holds a directory, creating a repository for `init`, and
turning git's stderr about a remote into one sentence.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from remediate.documents.worktree import work_tree_of
from remediate.errors import UsageError, UserError


def not_a_repository(root: Path) -> str:
    """Why the runner cannot work at `root`: no git at all, or not the top of a work tree."""
    top = work_tree_of(root.resolve()) if root.is_dir() else None
    if top is None:
        return f"{root}: not a git repository"
    return (
        f"{root} is inside the git repository {top}, not at its top: the runner commits "
        "and pushes the audit log, so it needs a repository of its own"
    )


def init_repository(directory: Path, branch: str = "main") -> None:
    """`git init` a new repository in `directory` (on `branch`)."""
    try:
        done = subprocess.run(
            ["git", "init", "--quiet", f"--initial-branch={branch}", "--", str(directory)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise UserError(f"cannot run git to create a repository in {directory}: {exc}") from None
    if done.returncode != 0:
        raise UserError(f"git init {directory}: {remote_reason(done.stderr)}")


USERINFO = re.compile(r"(?<=://)[^/@\s]+@")  # user:token@ in a URL: never printed
_BOILERPLATE = (
    "could not read from remote repository",
    "please make sure you have the correct access rights",
    "and the repository exists",
    "warning:",
    "hint:",
)


def unreachable(remote: str, url: str, err: str) -> str:
    """One sentence for a remote git could not talk to: which, where (no credentials), why."""
    where = f" ({USERINFO.sub('', url.strip())})" if url.strip() else ""
    return f"cannot reach the remote {remote}{where}: {remote_reason(err)}"


def remote_reason(err: str) -> str:
    """The line of git's stderr that says why a remote failed, without git's boilerplate."""
    for line in err.splitlines():
        text = line.strip()
        for prefix in ("fatal: ", "error: "):
            text = text.removeprefix(prefix)
        if not text or text.lower().startswith(_BOILERPLATE):
            continue
        text = re.sub(r"^unable to access '[^']*': ", "", text)
        text = re.sub(r"^'[^']*' does not appear", "it does not appear", text)
        return USERINFO.sub("", text)
    return "git gave no reason"


def changed_files(root: Path, base: str) -> list[str]:
    """Files added or modified between `base` and the work tree (committed or not).

    The git command line directly, not GitPython: importing GitPython costs
    more than the whole of `plan --base` on a one-request change may take.
    """
    if not (root / ".git").exists():
        raise UsageError(f"{root}: not a git repository")

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )

    if base.startswith("-"):  # never let a value reach git as an option (--output=…)
        raise UsageError(f"--base {base}: a revision cannot start with '-'")
    resolved = git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{base}^{{commit}}")
    commit = resolved.stdout.strip()
    if resolved.returncode != 0 or not commit:
        raise UsageError(f"--base {base}: not a commit in this repository")
    # The work tree is compared outside audit/ only: at 10,000 requests it holds 30,000
    # files whose stat (diff) and directories (untracked files) cost most of `plan --base`.
    # What matters of audit/ is what commits and the index bring since `base` (what is
    # judged is the commits: `service.verify.foreign_changes_since`): compared in git's
    # index, without reading the work tree.
    outside = ["--", ".", f":(exclude){AUDIT}"]
    filters = ["--name-only", "--diff-filter=ACMR", "--no-renames", commit]
    diff = git("diff", *filters, *outside)
    if diff.returncode != 0:
        raise UsageError(f"--base {base}: {diff.stderr.strip() or 'unknown revision'}")
    audit = git("diff", "--cached", *filters, "--", AUDIT)
    untracked = git("ls-files", "--others", "--exclude-standard", *outside)
    listed = (diff.stdout, audit.stdout, untracked.stdout)
    return sorted({line for text in listed for line in text.splitlines() if line})


AUDIT = "audit"


class WorkTreeChanges:
    """The `Changes` port: what changed in the work tree of `root` since a commit."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def since(self, base: str) -> list[str]:
        return changed_files(self.root, base)


def unchanged_blobs(root: Path, prefix: str) -> dict[str, str]:
    """Path → blob id of each regular file under `prefix` that git's index holds and the
    work tree has unchanged (git's own stat check, `git diff-files`: a file it cannot
    tell by its stat it compares by content). What a fresh clone knows without reading
    its files; {} when git cannot say (not a repository, no index)."""

    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)

    try:
        listed = git("ls-files", "--stage", "-z", "--", prefix)
        changed = git("diff-files", "--name-only", "-z", "--", prefix)
    except OSError:
        return {}
    if listed.returncode != 0 or changed.returncode != 0:
        return {}
    stale = set(changed.stdout.split(b"\0"))
    found: dict[str, str] = {}
    for entry in listed.stdout.split(b"\0"):
        meta, tab, path = entry.partition(b"\t")
        mode, _, rest = meta.partition(b" ")
        blob, _, stage = rest.partition(b" ")
        if tab and mode in (b"100644", b"100755") and stage == b"0" and path not in stale:
            try:
                found[path.decode("utf-8")] = blob.decode("ascii")
            except UnicodeDecodeError:
                continue  # a name git quotes: read as any other file
    return found
