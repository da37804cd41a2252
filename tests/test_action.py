"""The composite action (`action.yml`): valid for GitHub, pinned, installs this project
from the action's own commit (never a package named `remediate` from an index), and passes
inputs through `env:`, never `${{ … }}` inside `run:`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT
from tests.workflow_rules import INDEX_INSTALL, SHA_PIN, USES_LINE

ACTION = ROOT / "action.yml"


def test_check_jsonschema_accepts_the_action() -> None:
    tool = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-actions", str(ACTION)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_action_keeps_the_rules() -> None:
    text = ACTION.read_text()
    doc = yaml.safe_load(text)
    steps = doc["runs"]["steps"]
    assert doc["runs"]["using"] == "composite"
    for line in text.splitlines():
        found = USES_LINE.match(line)
        if found:
            assert SHA_PIN.match(found["ref"]), line
    runs = [s for s in steps if "run" in s]
    for step in runs:
        assert "${{" not in step["run"], step
        assert not INDEX_INSTALL.search(step["run"]), step
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert install["working-directory"] == "${{ github.action_path }}"
    assert install["run"].split()[-1] == "."  # this checkout of the action: its commit
    assert 'github) remediate github --repo "$REMEDIATE_ACTION_REPO"' in runs[-1]["run"]


def _run_step(step: dict, tmp_path: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run a step's script as GitHub would (bash -e), with `python` and `remediate` on PATH
    that only record their arguments and environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    record = tmp_path / "record"
    for tool in ("python", "remediate"):
        fake = bin_dir / tool
        fake.write_text(f'#!/bin/sh\n{{ echo "{tool} $*"; env; }} > "{record}"\n')
        fake.chmod(0o755)
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout, record.read_text() if record.exists() else ""


def test_the_install_step_gives_pip_none_of_the_jobs_secrets(tmp_path: Path) -> None:
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    code, _, record = _run_step(install, tmp_path, {"DEPLOY_API_TOKEN": "s3cret-value"})
    assert code == 0
    assert record.splitlines()[0] == "python -m pip install --disable-pip-version-check ."
    assert "s3cret-value" not in record and "DEPLOY_API_TOKEN" not in record


def test_the_command_input_runs_github_or_only_installs(tmp_path: Path) -> None:
    step = yaml.safe_load(ACTION.read_text())["runs"]["steps"][-1]
    repo = {"REMEDIATE_ACTION_REPO": "ops dir"}
    code, _, record = _run_step(step, tmp_path, {**repo, "REMEDIATE_ACTION_COMMAND": "github"})
    assert (code, record.splitlines()[0]) == (0, "remediate github --repo ops dir")
    code, _, record = _run_step(step, tmp_path, {**repo, "REMEDIATE_ACTION_COMMAND": "install"})
    assert (code, record.splitlines()[0]) == (0, "remediate --version")
    (tmp_path / "record").unlink()
    code, out, record = _run_step(
        step, tmp_path, {**repo, "REMEDIATE_ACTION_COMMAND": "github; touch pwned"}
    )
    assert code == 2 and record == "" and not (tmp_path / "pwned").exists()
    assert out.startswith("::error::remediate's action: command is github or install")


def test_the_install_rule_would_catch_an_index_install() -> None:
    assert INDEX_INSTALL.search("python -m pip install remediate")
    assert not INDEX_INSTALL.search("python -m pip install --disable-pip-version-check .")
