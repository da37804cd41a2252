"""`init` pins the workflows to where the running remediate came from, or says it cannot."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from remediate.adapters.provenance import InstalledFrom, from_direct_url
from tests.conftest import ROOT, Result
from tests.project_copy import committed_copy
from tests.workflow_rules import load

SHA = "0123456789abcdef0123456789abcdef01234567"
URL = "https://git.example.org/platform/remediate"


def install_step(repo: Path, workflow: str = "remediate.yml", job: str = "apply") -> dict:
    steps = load((repo / ".github" / "workflows" / workflow).read_text())["jobs"][job]["steps"]
    (step,) = [s for s in steps if s.get("name") == "Install remediate"]
    return step


def installs(repo: Path) -> set[tuple[str, str]]:
    """(REMEDIATE_REPOSITORY, REMEDIATE_COMMIT) of every install step init wrote."""
    found = set()
    for workflow, job in (("remediate.yml", "plan"), ("remediate.yml", "apply"),
                          ("validate.yml", "validate")):  # fmt: skip
        env = install_step(repo, workflow, job)["env"]
        found.add((env["REMEDIATE_REPOSITORY"], env["REMEDIATE_COMMIT"]))
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f'{{"url": "{URL}", "vcs_info": {{"vcs": "git", "commit_id": "{SHA}"}}}}', (URL, SHA)),
        (f'{{"url": "{URL}", "vcs_info": {{"vcs": "hg", "commit_id": "{SHA}"}}}}', None),
        (f'{{"url": "{URL}", "vcs_info": {{"vcs": "git", "commit_id": "main"}}}}', None),
        ('{"url": "file:///src/remediate", "dir_info": {"editable": true}}', None),
        ('{"url": "https://files.example.org/remediate.whl", "archive_info": {}}', None),
        ("not json", None),
    ],
)
def test_direct_url_names_a_commit_only_for_a_git_install(
    text: str, expected: tuple[str, str] | None
) -> None:
    found = from_direct_url(text)
    assert (found and (found.url, found.commit)) == expected


def test_init_pins_the_checkout_it_runs_from(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """This suite runs from a checkout (editable install): the workflows get its HEAD."""
    if not (ROOT / ".git").exists():
        pytest.skip("the project is not a git checkout here")
    monkeypatch.setattr("remediate.resources.SOURCE_REPOSITORY", None)
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    result = run_cli("init", str(tmp_path / "repo"))
    assert result.code == 0, result.err
    placeholder = "FILL-IN-the-https-URL-of-remediate-s-git-repository"
    assert installs(tmp_path / "repo") == {(placeholder, head)}
    assert f"the workflows install remediate from {placeholder} at {head}\n" in result.out
    assert (
        "remediate: warning: REMEDIATE_REPOSITORY in .github/workflows/*.yml is a placeholder: "
        "set it to the https URL of remediate's git repository (the project's repository URL "
        "is not set in remediate/resources.py); the install step fails until then\n"
    ) in result.err


def test_init_takes_the_url_from_the_one_place_that_names_it(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("remediate.resources.SOURCE_REPOSITORY", URL)
    monkeypatch.setattr(
        "remediate.adapters.provenance.installed_from",
        lambda: InstalledFrom("checkout", None, SHA, "/src/remediate"),
    )
    result = run_cli("init", str(tmp_path / "repo"))
    assert (result.code, result.err) == (0, "")
    assert installs(tmp_path / "repo") == {(URL, SHA)}


def run_install_step(step: dict, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the step's script as GitHub would (bash -e), with a `python` that only records."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "python-args"
    fake = bin_dir / "python"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", **step["env"]}
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, check=False
    )
    return done, record.read_text() if record.exists() else ""


def test_unknown_source_leaves_placeholders_that_the_install_step_refuses(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("remediate.resources.SOURCE_REPOSITORY", None)
    unknown = InstalledFrom("unknown", None, None, "installed from neither a checkout nor git")
    monkeypatch.setattr("remediate.adapters.provenance.installed_from", lambda: unknown)
    result = run_cli("init", str(tmp_path / "repo"))
    assert result.code == 0
    assert (
        "remediate: warning: REMEDIATE_COMMIT in .github/workflows/*.yml is a placeholder: set "
        "it to a full 40-hex commit of that repository (installed from neither a checkout nor "
        "git); the install step fails until then\n"
    ) in result.err
    done, pip_args = run_install_step(install_step(tmp_path / "repo"), tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("::error::Set REMEDIATE_REPOSITORY (https URL) and ")
    assert pip_args == ""  # nothing was installed


def test_a_pinned_install_step_asks_pip_for_that_commit_of_that_repository(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "remediate.adapters.provenance.installed_from", lambda: InstalledFrom("git", URL, SHA, URL)
    )
    assert run_cli("init", str(tmp_path / "repo")).code == 0
    done, pip_args = run_install_step(install_step(tmp_path / "repo"), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert pip_args.splitlines() == [
        "-m", "pip", "install", "--disable-pip-version-check", f"remediate @ git+{URL}@{SHA}"
    ]  # fmt: skip


def test_a_git_install_pins_the_commit_it_was_installed_at(tmp_path: Path) -> None:
    """The real thing: pip installs the project from a git URL; its init names that commit."""
    origin = tmp_path / "origin"
    sha = committed_copy(origin)
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--target", str(target), f"remediate @ git+{origin.as_uri()}@{sha}"],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-m", "remediate", "init", str(tmp_path / "repo")],
        capture_output=True, text=True, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (pinned,) = installs(tmp_path / "repo")
    assert pinned[1] == sha
    # A file:// URL is no use to a runner: init says so rather than write it.
    assert f"this remediate was installed from {origin.as_uri()}, which a runner cannot reach" in (
        done.stderr
    )
