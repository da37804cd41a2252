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
GITHUB_URL = "https://github.com/platform/remediate"


def installs(repo: Path) -> set[str]:
    """`owner/name@commit` of every use of remediate's action init wrote."""
    found = set()
    for workflow in ("remediate.yml", "validate.yml"):
        for job in load((repo / ".github" / "workflows" / workflow).read_text())["jobs"].values():
            found.update(
                str(s["uses"]) for s in job["steps"] if "/remediate@" in str(s.get("uses", ""))
            )
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
    assert installs(tmp_path / "repo") == {f"FILL_IN_owner/remediate@{head}"}
    assert f"the workflows use remediate's action FILL_IN_owner/remediate@{head} " in result.out
    assert (
        "remediate: warning: `uses: FILL_IN_owner/remediate@…` in .github/workflows/*.yml is a "
        "placeholder: set it to the owner/name of remediate's repository on GitHub (the "
        "project's repository URL is not set in remediate/resources.py); the jobs fail until "
        "then\n"
    ) in result.err


def test_init_takes_the_url_from_the_one_place_that_names_it(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("remediate.resources.SOURCE_REPOSITORY", GITHUB_URL)
    monkeypatch.setattr(
        "remediate.adapters.provenance.installed_from",
        lambda: InstalledFrom("checkout", None, SHA, "/src/remediate"),
    )
    result = run_cli("init", str(tmp_path / "repo"))
    assert (result.code, result.err) == (0, "")
    assert installs(tmp_path / "repo") == {f"platform/remediate@{SHA}"}


def test_unknown_source_leaves_placeholders_github_cannot_resolve(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("remediate.resources.SOURCE_REPOSITORY", None)
    unknown = InstalledFrom("unknown", None, None, "installed from neither a checkout nor git")
    monkeypatch.setattr("remediate.adapters.provenance.installed_from", lambda: unknown)
    result = run_cli("init", str(tmp_path / "repo"))
    assert result.code == 0
    assert (
        "remediate: warning: the commit 0000000000000000000000000000000000000000 of "
        "remediate's action in .github/workflows/*.yml is a placeholder: set it to a full "
        "40-hex commit of that repository (installed from neither a checkout nor git); the "
        "jobs fail until then\n"
    ) in result.err
    # no GitHub account has a `_` in its name: nobody can publish an action there
    assert installs(tmp_path / "repo") == {"FILL_IN_owner/remediate@" + "0" * 40}


def test_a_repository_off_github_is_named_and_left_a_placeholder(
    tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "remediate.adapters.provenance.installed_from", lambda: InstalledFrom("git", URL, SHA, URL)
    )
    result = run_cli("init", str(tmp_path / "repo"))
    assert result.code == 0
    assert installs(tmp_path / "repo") == {f"FILL_IN_owner/remediate@{SHA}"}
    assert f"remediate: warning: {URL} is not a repository on github.com: " in result.err


@pytest.mark.parametrize(
    ("url", "action"),
    [
        ("https://github.com/acme/remediate", "acme/remediate"),
        ("https://github.com/acme/remediate.git", "acme/remediate"),
        ("https://github.com/acme/remediate/", "acme/remediate"),
        ("https://github.com/acme", None),
        ("https://github.com.evil.example/acme/remediate", None),
        ("https://gitlab.com/acme/remediate", None),
    ],
)
def test_the_action_is_named_only_for_a_repository_on_github(url: str, action: str | None) -> None:
    from remediate.service.workflows import action_of

    assert action_of(url) == action


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
    assert pinned.endswith(f"@{sha}")
    # A file:// URL is no use to a runner: init says so rather than write it.
    assert f"this remediate was installed from {origin.as_uri()}, which a runner cannot reach" in (
        done.stderr
    )
