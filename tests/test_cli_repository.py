"""Careless users: every command but `init` needs a remediation repository, and `init`
says clearly why it cannot write where it was pointed."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result

Run = Callable[..., Result]

# Every command but init, with the arguments it needs.
EVERY_COMMAND = [
    ("validate",),
    ("plan",),
    ("explain", "rem-2026-0042"),
    ("apply",),
    ("approve", "rem-2026-0042"),
    ("reject", "rem-2026-0042"),
    ("cancel", "rem-2026-0042"),
    ("status",),
    ("history", "inc-1"),
    ("actions",),
    ("audit", "verify"),
    ("policy", "test"),
    ("stats",),
    ("signal",),
    ("report",),
    ("export", "csv"),
    ("retention", "enforce"),
    ("github",),
    ("import", "sarif", "scan.sarif"),
    ("findings", "list"),
    ("findings", "show", "f0123456789abcdef"),
    ("findings", "set-status", "f0123456789abcdef", "ignored"),
    ("findings", "events"),
    ("tick",),
]
IDS = [" ".join(c) for c in EVERY_COMMAND]
NO_JSON = {"export"}  # its output is CSV: no --format


def test_every_command_is_covered() -> None:
    from remediate.cli import COMMANDS

    assert {c[0] for c in EVERY_COMMAND} == set(COMMANDS) - {"init"}


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=IDS)
def test_outside_any_repository_every_command_exits_2(
    command: tuple[str, ...], run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = run_cli(*command)
    message = (
        f"not a remediation repository (no remediate.yaml at {tmp_path}); run `remediate init`"
    )
    assert (r.code, r.out, r.err) == (2, "", f"remediate: {message}\n")
    if command[0] in NO_JSON:
        return
    r = run_cli(*command, "--format", "json")
    assert r.code == 2
    assert json.loads(r.out) == {"error": {"message": message, "code": 2}}
    assert r.err == f"remediate: {message}\n"


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=IDS)
def test_inside_a_subdirectory_of_the_repository_every_command_names_it(
    command: tuple[str, ...], run_cli: Run, quickstart: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(quickstart / "remediations")
    r = run_cli(*command)
    assert (r.code, r.out) == (2, "")
    assert r.err == (
        f"remediate: not a remediation repository (no remediate.yaml at "
        f"{quickstart / 'remediations'}); run it in {quickstart}, or pass --repo {quickstart}\n"
    )


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=IDS)
def test_a_remediation_directory_that_is_not_in_git_exits_2(
    command: tuple[str, ...], run_cli: Run, quickstart: Path
) -> None:
    subprocess.run(["rm", "-rf", str(quickstart / ".git")], check=True)
    r = run_cli(*command, "--repo", str(quickstart))
    assert (r.code, r.out) == (2, "")
    assert r.err == (
        f"remediate: not a remediation repository ({quickstart} is not in a git repository); "
        "run `git init`\n"
    )


def test_validate_with_paths_still_needs_the_repository(
    run_cli: Run, quickstart: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pre-commit hook runs at the top; a person in remediations/ gets told where that is."""
    monkeypatch.chdir(quickstart / "remediations")
    r = run_cli("validate", "2026/rem-2026-0042.yaml")
    assert r.code == 2
    assert "not a remediation repository" in r.err
    monkeypatch.chdir(quickstart)
    r = run_cli("validate", "remediations/2026/rem-2026-0042.yaml")
    assert r.code == 0, r.err


def test_a_missing_repo_directory_is_still_named_as_such(run_cli: Run, tmp_path: Path) -> None:
    r = run_cli("status", "--repo", str(tmp_path / "nope"))
    assert (r.code, r.err) == (2, f"remediate: --repo {tmp_path / 'nope'}: not a directory\n")


def test_policy_test_runs_in_a_policy_library(run_cli: Run, tmp_path: Path) -> None:
    """The one exception: a policy library (policies/ without settings), like this project's."""
    from tests.conftest import ROOT

    r = run_cli("policy", "test", "--repo", str(ROOT))
    assert r.code == 0, r.err
    r = run_cli("validate", "--repo", str(ROOT))
    assert r.code == 2
    assert f"no remediate.yaml at {ROOT}" in r.err


# -- init ---------------------------------------------------------------------------------


def test_init_below_a_file_is_misuse(run_cli: Run, tmp_path: Path) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("")
    r = run_cli("init", str(blocker / "sub"))
    assert (r.code, r.out) == (2, "")
    assert r.err == f"remediate: {blocker / 'sub'}: {blocker} is a file, not a directory\n"
    r = run_cli("init", str(blocker))
    assert (r.code, r.out) == (2, "")
    assert r.err == f"remediate: {blocker}: is a file, not a directory\n"


def test_init_into_an_empty_directory_name_is_misuse(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = run_cli("init", "")
    assert (r.code, r.out) == (2, "")
    assert r.err == (
        "remediate: DIRECTORY is empty: name a directory, or leave it out for the current one\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_init_says_what_is_in_the_way(run_cli: Run, tmp_path: Path) -> None:
    os.symlink("nowhere", tmp_path / "dl")
    r = run_cli("init", str(tmp_path / "dl"))
    assert (r.code, r.out) == (2, "")
    assert r.err == (
        f"remediate: {tmp_path / 'dl'}: is a broken symbolic link (to nowhere), not a directory\n"
    )
    r = run_cli("init", str(tmp_path / "dl" / "sub"))
    assert r.err == (
        f"remediate: {tmp_path / 'dl' / 'sub'}: {tmp_path / 'dl'} is a broken symbolic link"
        " (to nowhere), not a directory\n"
    )
    (tmp_path / "f").write_text("")
    os.symlink("f", tmp_path / "fl")
    r = run_cli("init", str(tmp_path / "fl"))
    assert r.err == f"remediate: {tmp_path / 'fl'}: is a symbolic link to a file, not a directory\n"
    os.mkfifo(tmp_path / "pipe")
    r = run_cli("init", str(tmp_path / "pipe"))
    assert (r.code, r.err) == (2, f"remediate: {tmp_path / 'pipe'}: is a FIFO, not a directory\n")


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs /sys, where nobody creates files")
def test_init_where_nothing_can_be_written_exits_1(run_cli: Run) -> None:
    r = run_cli("init", "/sys/remediate-test-target")
    assert (r.code, r.out) == (1, "")
    assert r.err.startswith("remediate: cannot create /sys/remediate-test-target: ")
    assert len(r.err.splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only directories")
def test_init_into_a_read_only_directory_exits_1(run_cli: Run, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        r = run_cli("init", str(locked / "new"))
    finally:
        locked.chmod(0o700)
    assert r.code == 1
    assert r.err == f"remediate: cannot create {locked / 'new'}: Permission denied\n"


def test_init_refuses_a_non_empty_directory_that_is_not_a_repository(
    run_cli: Run, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "photos").mkdir()
    r = run_cli("init", str(tmp_path))
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        f"remediate: {tmp_path} is not empty (notes.txt, photos) and not the top of a git "
        "repository: init into a new or empty directory, or pass --force\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "photos"]
    r = run_cli("init", str(tmp_path), "--force")
    assert r.code == 0, r.err
    assert (tmp_path / "remediate.yaml").is_file()


def test_init_into_a_new_directory_makes_a_git_repository(run_cli: Run, tmp_path: Path) -> None:
    target = tmp_path / "new"
    r = run_cli("init", str(target))
    assert r.code == 0, r.err
    assert f"initialised a git repository in {target} (branch main)" in r.out
    assert (target / ".git").is_dir()
    r = run_cli("validate", "--repo", str(target))
    assert (r.code, r.err) == (0, "")


def test_init_into_a_cloned_repository_adds_the_files(run_cli: Run, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "README.md").write_text("# ops\n")
    r = run_cli("init", str(tmp_path))
    assert r.code == 0, r.err
    assert "initialised a git repository" not in r.out
    assert (tmp_path / "remediate.yaml").is_file()


def test_init_inside_a_repository_does_not_nest_another(run_cli: Run, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    r = run_cli("init", str(tmp_path / "ops" / "remediate"))
    assert r.code == 0, r.err
    assert not (tmp_path / "ops" / "remediate" / ".git").exists()
    r = run_cli("validate", "--repo", str(tmp_path / "ops" / "remediate"))
    assert (r.code, r.err) == (0, "")


def test_init_inside_a_remediation_repository_is_refused(run_cli: Run, quickstart: Path) -> None:
    (quickstart / "remediations" / "2027").mkdir()
    target = quickstart / "remediations" / "2027"
    r = run_cli("init", str(target))
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        f"remediate: {target} is inside the remediation repository {quickstart}: "
        "init a new one elsewhere, or pass --force\n"
    )
    assert list(target.iterdir()) == []


def test_the_settings_files_are_the_loaders() -> None:
    from remediate.documents.loader import ROOT_FILES
    from remediate.service.repository import SETTINGS_FILES

    assert SETTINGS_FILES == ROOT_FILES
