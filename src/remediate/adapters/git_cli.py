"""The git command line where GitPython is not needed (and would cost its import).

Finding the work tree that holds a directory, creating a repository for `init`, and
turning git's stderr about a remote into one sentence.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from remediate.errors import UserError


def work_tree_of(directory: Path) -> Path | None:
    """The top of the git work tree holding `directory` (absolute), or None.

    Found as git finds it, by the nearest `.git` (a directory, or a file in a worktree or
    submodule), without starting git: every command makes this check before anything else.
    """
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


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
