"""Symbolic links where documents live never make a document vanish without a word.

A dangling link is an error (the document it stood for is missing); a link to a
directory is never walked (the requester of a request is read from the git history of
its path, which a linked directory's files do not have): an error, or a warning when
the directory is loaded in its own place anyway. Links leaving the repository stay
errors (tests/test_corpus.py, tests/test_files.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result, git


def test_a_dangling_file_link_is_an_error_naming_its_target(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    os.symlink("../shared/policies/win.yaml", quickstart / "policies" / "win.yaml")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "policies/win.yaml: broken symbolic link (to ../shared/policies/win.yaml); not followed"
    )


def test_a_dangling_link_without_a_yaml_name_is_an_error_too(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    """It may have stood for a directory of documents."""
    os.symlink("../shared/policies", quickstart / "policies" / "shared")
    result = run_cli("validate", "--repo", str(quickstart), "--format", "json")
    assert result.code == 1
    errors = json.loads(result.out)["errors"]
    assert [(e["file"], e["message"]) for e in errors] == [
        ("policies/shared", "broken symbolic link (to ../shared/policies); not followed")
    ]


def test_a_dangling_named_path_or_document_directory_is_an_error(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    os.symlink("gone.yaml", quickstart / "remediations" / "x.yaml")
    named = run_cli("validate", "--repo", str(quickstart), str(quickstart / "remediations/x.yaml"))
    assert named.code == 1
    assert named.err.splitlines()[0] == (
        "remediations/x.yaml: broken symbolic link (to gone.yaml); not followed"
    )
    os.unlink(quickstart / "remediations" / "x.yaml")
    os.rename(quickstart / "schedules", quickstart / "elsewhere")
    os.symlink("missing", quickstart / "schedules")
    whole = run_cli("validate", "--repo", str(quickstart))
    assert whole.code == 1
    assert whole.err.splitlines()[0] == "schedules: broken symbolic link (to missing); not followed"


def test_a_link_loop_is_an_error(quickstart: Path, run_cli: Callable[..., Result]) -> None:
    os.symlink("b.yaml", quickstart / "policies" / "a.yaml")
    os.symlink("a.yaml", quickstart / "policies" / "b.yaml")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[:2] == [
        "policies/a.yaml: symbolic link loop (to b.yaml); not followed",
        "policies/b.yaml: symbolic link loop (to a.yaml); not followed",
    ]


def test_apply_fails_closed_on_a_dangling_policy_link(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    git(quickstart, "config", "user.email", "alice@example.com")
    git(quickstart, "config", "user.name", "alice")
    os.symlink("../shared/policies/win.yaml", quickstart / "policies" / "win.yaml")
    git(quickstart, "add", "-A")
    git(quickstart, "commit", "-qm", "quickstart with a dangling policy link")
    before = git(quickstart, "rev-parse", "HEAD")
    result = run_cli("apply", "--repo", str(quickstart))
    assert result.code == 1
    assert "policies/win.yaml: broken symbolic link" in result.err
    assert git(quickstart, "rev-parse", "HEAD") == before  # nothing decided, nothing run


def test_a_directory_link_to_a_directory_outside_the_document_directories_is_refused(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    (quickstart / "shared" / "policies").mkdir(parents=True)
    (quickstart / "policies" / "holiday-freeze.yaml").rename(
        quickstart / "shared" / "policies" / "holiday-freeze.yaml"
    )
    os.symlink("../shared/policies", quickstart / "policies" / "shared")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "policies/shared: symbolic link to a directory (to ../shared/policies); not followed:"
        " move its documents here, or link each file"
    )
    os.unlink(quickstart / "policies" / "shared")
    os.symlink(
        "../shared/policies/holiday-freeze.yaml", quickstart / "policies" / "holiday-freeze.yaml"
    )
    assert run_cli("validate", "--repo", str(quickstart)).code == 0  # a file link is followed


def test_a_directory_link_that_would_cycle_is_refused(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    os.symlink("..", quickstart / "policies" / "up")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "policies/up: symbolic link to a directory (to ..); not followed:"
        " move its documents here, or link each file"
    )


def test_a_directory_link_into_a_document_directory_is_a_warning(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    """Its documents load once, in their own place; the link is named, not silently skipped."""
    os.symlink("2026", quickstart / "remediations" / "current")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (
        "remediations/current: warning: symbolic link to a directory (to 2026); not followed:"
        " its documents load as remediations/2026"
    )
    assert result.out.splitlines()[1].endswith("files: valid")
