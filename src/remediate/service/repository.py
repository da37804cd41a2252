"""What a remediation repository is, and the one check every command but `init` makes.

A remediation repository is a directory holding `remediate.yaml` (or `remediate.yml`) at
its root, inside a git work tree. Run anywhere else, a command would report a
misleading "0 documents: valid" or "not a git repository", so it stops with a sentence
that says where the repository is, or how to make one.
"""

from __future__ import annotations

import os
from pathlib import Path

from remediate.documents.worktree import work_tree_of
from remediate.errors import UsageError

# The loader's ROOT_FILES, named here so that the check does not import the YAML parser.
SETTINGS_FILES = ("remediate.yaml", "remediate.yml")


def require(root: Path, policy_library: bool = False) -> None:
    """UsageError unless `root` is a remediation repository.

    With `policy_library`, a directory holding `policies/` but no settings (a library
    of baseline policies, such as this project's own) is accepted too.
    """
    if not root.is_dir():
        raise UsageError(f"--repo {root}: not a directory")
    where = root.resolve()
    if not _has_settings(where) and not (policy_library and (where / "policies").is_dir()):
        raise UsageError(_no_settings(where))
    if work_tree_of(where) is None:
        raise UsageError(
            f"not a remediation repository ({where} is not in a git repository); run `git init`"
        )


def _has_settings(directory: Path) -> bool:
    # Present in any form: a settings file that is a FIFO or a dangling link is the
    # repository's broken document (exit 1, named by the loader), not a stray directory.
    return any(os.path.lexists(directory / name) for name in SETTINGS_FILES)


def _no_settings(where: Path) -> str:
    head = f"not a remediation repository (no remediate.yaml at {where})"
    around = enclosing(where)
    if around is not None:
        return f"{head}; run it in {around}, or pass --repo {around}"
    return f"{head}; run `remediate init`"


def enclosing(where: Path) -> Path | None:
    """The remediation repository that `where` (absolute) lies below, if any: the nearest
    parent holding settings, searched up to the top of the git work tree."""
    top = work_tree_of(where)
    for parent in where.parents:
        if _has_settings(parent):
            return parent
        if parent == top:
            break
    return None
