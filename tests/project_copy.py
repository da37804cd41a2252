"""A git repository holding this project's working tree as one commit.

For the tests that install the project the way users do (from a git URL, or as a
pre-commit hook repository): they must see the files as they are now, committed or not.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT


def committed_copy(destination: Path) -> str:
    """Copy tracked and untracked-but-not-ignored files to `destination`, commit; the SHA."""
    if not (ROOT / ".git").exists():
        pytest.skip("the project is not a git checkout here")
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is left out
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(destination), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.name=copy", "-c", "user.email=copy@example.com", "commit", "-qm", "copy")
    return git("rev-parse", "HEAD")
