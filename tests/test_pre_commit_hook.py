"""The pre-commit hook, run by the real `pre-commit` client in scratch repositories.

The hook validates the whole repository on every commit (`pass_filenames: false`,
`always_run: true`): a deletion, a name reused by a new file, or an ActionType whose
parameters were tightened is caught even though the files it breaks are not staged, and
pre-commit never splits the repository into batches that each look valid.

pre-commit installs the hook's environment from a repository holding this project's
working tree (one commit), once per module: the first run pays the pip install (~30 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import QUICKSTART, ROOT, git
from tests.project_copy import committed_copy

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


@pytest.fixture(scope="module")
def hook_config(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """A `.pre-commit-config.yaml` naming the project's hook, and an environment whose
    PRE_COMMIT_HOME (a temporary directory) already holds the installed hook."""
    if not PRE_COMMIT.exists():
        pytest.fail("pre-commit is not installed (it is a test dependency: pip install -e .[test])")
    base = tmp_path_factory.mktemp("pre-commit")
    hook_repo = base / "remediate"
    sha = committed_copy(hook_repo)
    config = yaml.safe_dump(
        {"repos": [{"repo": str(hook_repo), "rev": sha, "hooks": [{"id": "remediate-validate"}]}]}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env |= {"PRE_COMMIT_HOME": str(base / "home"), "PRE_COMMIT_COLOR": "never"}
    warm = scratch_repository(base / "warm", config)
    installed = pre_commit(warm, env, "install-hooks")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return config, env


def scratch_repository(target: Path, config: str) -> Path:
    shutil.copytree(QUICKSTART, target)
    (target / ".pre-commit-config.yaml").write_text(config)
    git(target, "init", "-q", "-b", "main")
    git(target, "config", "user.email", "alice@example.com")
    git(target, "config", "user.name", "alice")
    git(target, "add", "-A")
    git(target, "commit", "-qm", "quickstart", "--no-verify")
    return target


def pre_commit(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PRE_COMMIT), *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture
def repo(tmp_path: Path, hook_config: tuple[str, dict[str, str]]) -> Path:
    return scratch_repository(tmp_path / "repo", hook_config[0])


def run_hook(repo: Path, hook_config: tuple[str, dict[str, str]]) -> tuple[int, str]:
    """`pre-commit run` on what is staged, as `git commit` would run it."""
    done = pre_commit(repo, hook_config[1], "run")
    return done.returncode, done.stdout + done.stderr


def test_the_hook_runs_and_passes_on_a_valid_repository(
    repo: Path, hook_config: tuple[str, dict[str, str]]
) -> None:
    code, out = run_hook(repo, hook_config)  # nothing staged: it runs all the same
    assert code == 0, out
    assert "remediate validate" in out and "Passed" in out and "Skipped" not in out


def test_a_deleted_action_type_fails_the_commit(
    repo: Path, hook_config: tuple[str, dict[str, str]]
) -> None:
    git(repo, "rm", "-q", "actions/restart-service.yaml")
    code, out = run_hook(repo, hook_config)
    assert code == 1, out
    assert (
        "remediations/2026/rem-2026-0042.yaml:6: spec.action.type: unknown action type "
        "'restart-service' (known: flush-cache)"
    ) in out


def test_a_new_file_reusing_a_name_fails_the_commit(
    repo: Path, hook_config: tuple[str, dict[str, str]]
) -> None:
    existing = repo / "remediations" / "2026" / "rem-2026-0042.yaml"
    (repo / "remediations" / "2026" / "again.yaml").write_text(existing.read_text())
    git(repo, "add", "remediations/2026/again.yaml")
    code, out = run_hook(repo, hook_config)
    assert code == 1, out
    assert "duplicate RemediationRequest name 'rem-2026-0042'" in out


def test_tightening_an_action_type_rechecks_the_requests_that_use_it(
    repo: Path, hook_config: tuple[str, dict[str, str]]
) -> None:
    request = repo / "remediations" / "2026" / "rem-2026-0099.yaml"
    request.write_text(
        (repo / "remediations" / "2026" / "rem-2026-0042.yaml")
        .read_text()
        .replace("rem-2026-0042", "rem-2026-0099")
        .replace("service: api-gateway", "service: payments2")
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a request", "--no-verify")
    action = repo / "actions" / "restart-service.yaml"
    tightened = action.read_text().replace(
        'pattern: "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"', 'pattern: "^[a-z-]+$"'
    )
    assert tightened != action.read_text()
    action.write_text(tightened)
    git(repo, "add", "actions/restart-service.yaml")  # only the action type is staged
    code, out = run_hook(repo, hook_config)
    assert code == 1, out
    assert (
        'remediations/2026/rem-2026-0099.yaml:6: spec.action.parameters.service: "payments2" '
        'does not match "^[a-z-]+$"'
    ) in out


def test_the_hook_definition_validates_the_whole_repository() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["pass_filenames"] is False  # one run over everything: no batches
    assert hook["always_run"] is True  # deletions stage no file that would match
    assert "files" not in hook and "types" not in hook


def test_the_readme_names_a_rev_that_can_exist() -> None:
    """No made-up tag: a commit SHA (or the placeholder for one) unless the tag exists."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### pre-commit") :]
    (rev,) = [line.split("rev:", 1)[1].split("#")[0].strip() for line in
              section[: section.index("```\n", 10)].splitlines() if "rev:" in line]  # fmt: skip
    if rev.startswith("<"):
        assert "commit" in rev
        return
    if len(rev) == 40 and all(c in "0123456789abcdef" for c in rev):
        found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{rev}^{{commit}}"])
        if (
            found.returncode != 0
            and git(ROOT, "rev-parse", "--is-shallow-repository").strip() == "true"
        ):
            pytest.skip(f"README's rev {rev} is outside this shallow clone's history")
        assert found.returncode == 0, f"README names rev {rev}, which is no commit here"
        hooks = git(ROOT, "show", f"{rev}:.pre-commit-hooks.yaml")
        assert "pass_filenames: false" in hooks and "always_run: true" in hooks
        return
    tags = git(ROOT, "tag", "--list", rev).split()
    assert tags == [rev], f"README names rev {rev}, which is no tag of this repository"
