"""Files that are not regular files are errors, never opened (a FIFO would block forever).

Every check runs the real CLI in a subprocess with a timeout, so that a
regression hangs nothing but fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import git

TIMEOUT = 60
BIN = Path(sys.executable).parent / "remediate"


def remediate(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REMEDIATE_NOW": "2026-11-23T10:00:00Z"}
    return subprocess.run(
        [str(BIN), *args, "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )


def test_a_fifo_under_remediations_is_an_error_for_validate(quickstart: Path) -> None:
    os.mkfifo(quickstart / "remediations" / "pipe.yaml")
    result = remediate(quickstart, "validate")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "remediations/pipe.yaml: not a regular file (a FIFO); not opened",
        "1 error(s) in 12 files",
    ]


def test_a_fifo_of_any_name_is_an_error(quickstart: Path) -> None:
    (quickstart / "remediations" / "sub").mkdir()
    os.mkfifo(quickstart / "remediations" / "sub" / "notes.txt")
    result = remediate(quickstart, "validate")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "remediations/sub/notes.txt: not a regular file (a FIFO); not opened"
    )


def test_a_fifo_named_on_the_command_line_or_as_remediate_yaml(quickstart: Path) -> None:
    fifo = quickstart / "remediations" / "pipe.yaml"
    os.mkfifo(fifo)
    named = remediate(quickstart, "validate", str(fifo))
    assert named.returncode == 1
    assert named.stderr.splitlines()[0] == (
        "remediations/pipe.yaml: not a regular file (a FIFO); not opened"
    )
    os.unlink(quickstart / "remediate.yaml")
    os.mkfifo(quickstart / "remediate.yaml")
    os.unlink(fifo)
    root = remediate(quickstart, "validate")
    assert root.returncode == 1
    assert "remediate.yaml: not a regular file (a FIFO); not opened" in root.stderr.splitlines()
    assert "Traceback" not in root.stderr


def test_a_symlink_to_a_fifo_inside_the_repository(quickstart: Path) -> None:
    os.mkfifo(quickstart / "pipe")
    os.symlink(quickstart / "pipe", quickstart / "remediations" / "link.yaml")
    result = remediate(quickstart, "validate")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "remediations/link.yaml: not a regular file (a symbolic link to a FIFO); not opened"
    )


@pytest.fixture
def short_cwd(quickstart: Path) -> Iterator[Path]:
    """Unix socket paths are limited to ~107 bytes: bind relative to the directory."""
    before = os.getcwd()
    os.chdir(quickstart / "remediations")
    try:
        yield quickstart
    finally:
        os.chdir(before)


def test_a_socket_is_an_error(short_cwd: Path) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind("listen.yaml")
        result = remediate(short_cwd, "validate")
    finally:
        server.close()
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "remediations/listen.yaml: not a regular file (a socket); not opened"
    )


def test_a_device_is_an_error(quickstart: Path) -> None:
    target = quickstart / "actions" / "tty.yaml"
    try:
        os.mknod(target, 0o600 | stat.S_IFCHR, os.makedev(5, 0))  # /dev/tty
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here: {exc}")
    result = remediate(quickstart, "validate")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "actions/tty.yaml: not a regular file (a character device); not opened"
    )


def test_apply_never_opens_a_fifo_in_the_working_tree(quickstart: Path) -> None:
    """`apply` reads the documents of the commit, never the working tree: a FIFO there
    cannot block it (`validate`, which reads the working tree, refuses it: above)."""
    git(quickstart, "init", "-q", "-b", "main")
    git(quickstart, "config", "user.email", "alice@example.com")
    git(quickstart, "config", "user.name", "alice")
    git(quickstart, "add", "-A")
    git(quickstart, "commit", "-qm", "quickstart")
    os.mkfifo(quickstart / "remediations" / "pipe.yaml")
    result = remediate(quickstart, "apply")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_the_loader_never_blocks_on_a_fifo_that_replaced_a_file(tmp_path: Path) -> None:
    """Between discovery and reading a file may become a FIFO: the open must not block."""
    os.mkfifo(tmp_path / "late.yaml")
    code = (
        "import sys; from pathlib import Path; from remediate.documents.loader import load_file\n"
        "print(*load_file(Path(sys.argv[1]), 'late.yaml').problems, sep='\\n')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    assert result.stdout == "late.yaml: not a regular file (a FIFO); not read\n"


def test_symlinks_leaving_the_repository_are_still_refused(
    quickstart: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.yaml"
    shutil.copyfile(quickstart / "remediations" / "2026" / "rem-2026-0042.yaml", outside)
    os.symlink(outside, quickstart / "remediations" / "link.yaml")
    result = remediate(quickstart, "validate")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        "remediations/link.yaml: symbolic link leaves the repository; not followed"
    )
