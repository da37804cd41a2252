"""`adapters.git_cmd`: the git command line the store runs (GitPython's conventions)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from remediate.adapters.git_cmd import Git, GitCommandError, NotARepository, open_repo


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    run = {"cwd": root, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], **run)  # type: ignore[call-overload]
    (root / "a.txt").write_text("one\n")
    subprocess.run(["git", "add", "a.txt"], **run)  # type: ignore[call-overload]
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@example.com"}
    env |= {"GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@example.com"}
    subprocess.run(["git", "commit", "--quiet", "-m", "one"], env=env, **run)  # type: ignore[call-overload]
    return root


def test_commands_objects_and_errors(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    repo = open_repo(root)
    assert Path(repo.git_dir) == (root / ".git").resolve()
    git = repo.git
    assert git.ls_tree("--name-only", "HEAD") == "a.txt"  # one trailing newline stripped
    code, out, _ = git.execute(
        ["git", "rev-parse", "--verify", "nope"], with_extended_output=True, with_exceptions=False
    )
    assert code != 0 and out == ""
    with pytest.raises(GitCommandError):
        git.execute(["git", "rev-parse", "--verify", "--quiet", "nope"])
    sha, kind, size, data = git.get_object_data("HEAD:a.txt")
    assert (kind, size, data) == (b"blob", 4, b"one\n")
    assert git.get_object_header(sha) == (sha, b"blob", 4)
    with pytest.raises(ValueError):
        git.get_object_data("no-such-object")
    assert git.get_object_data("HEAD:a.txt")[3] == b"one\n"  # the process still answers
    with pytest.raises(NotARepository):
        open_repo(root / ".git")
    (root / "sub").mkdir()
    with pytest.raises(NotARepository):
        open_repo(root / "sub")


def test_closing_does_not_wait_for_a_forked_copy_of_its_pipes(tmp_path: Path) -> None:
    """A process forked while `cat-file --batch` runs (a loader worker) holds a copy of its
    input pipe, so closing our end never ends it: close must not wait for that (it runs
    in the garbage collector; waiting deadlocked a process pool's result thread)."""
    git = Git(_repo(tmp_path))
    assert git.get_object_data("HEAD:a.txt")[3] == b"one\n"
    child = os.fork()
    if child == 0:  # pragma: no cover - the forked copy: holds the pipes, then leaves
        time.sleep(30)
        os._exit(0)
    try:
        started = time.monotonic()
        git.close()
        assert time.monotonic() - started < 5
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
