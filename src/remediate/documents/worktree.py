"""Where the git work tree holding a directory starts: found from the file system alone."""

from __future__ import annotations

from pathlib import Path


def work_tree_of(directory: Path) -> Path | None:
    """The top of the git work tree holding `directory` (absolute), or None.

    Found as git finds it, by the nearest `.git` (a directory, or a file in a worktree or
    submodule), without starting git: every command makes this check before anything else.
    """
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None
