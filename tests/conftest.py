"""Shared fixtures: temporary remediation repositories and an in-process CLI runner."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `remediate ARGS` in-process through the real entry point and exit-code boundary."""
    from remediate.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A writable copy of examples/quickstart in a fresh git repository (nothing committed)."""
    target = tmp_path / "repo"
    shutil.copytree(QUICKSTART, target)
    subprocess.run(["git", "init", "-q", "-b", "main", str(target)], check=True)
    return target


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def validate_problems(
    repo: Path, run_cli: Callable[..., Result], warnings: bool = True
) -> list[str]:
    """The lines `validate` prints on stderr: errors without the summary, or, when it
    passes, its warnings ([] with `warnings=False`)."""
    result = run_cli("validate", "--repo", str(repo))
    assert "Traceback" not in result.err
    if result.code == 0:
        return result.err.splitlines() if warnings else []
    assert result.code == 1
    return result.err.splitlines()[:-1]


def write_policy(repo: Path, name: str, body: str) -> None:
    """`policies/<name>.yaml`: a GuardrailPolicy named `name` whose spec is `body`."""
    (repo / "policies" / f"{name}.yaml").write_text(
        f"apiVersion: remediate/v1\nkind: GuardrailPolicy\nmetadata:\n  name: {name}\nspec:\n"
        + body
    )


@pytest.fixture
def applied(
    quickstart: Path,
    tmp_path: Path,
    run_cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The quickstart with a bare remote, after one `apply` wrote runner events."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(quickstart, "init", "-q", "-b", "main")
    git(quickstart, "config", "user.email", "alice@example.com")
    git(quickstart, "config", "user.name", "alice")
    git(quickstart, "remote", "add", "origin", str(remote))
    git(quickstart, "add", "-A")
    git(quickstart, "commit", "-qm", "quickstart")
    git(quickstart, "push", "-q", "-u", "origin", "main")
    monkeypatch.chdir(quickstart)
    monkeypatch.setenv("REMEDIATE_NOW", "2026-11-23T10:00:00Z")
    assert run_cli("apply").code == 0
    git(quickstart, "pull", "-q", "--ff-only")
    return quickstart


# The fake GitHub and a world around it (tests/github_world.py), for the `remediate github` tests.
from tests.github_world import fake_github, world  # noqa: E402, F401
