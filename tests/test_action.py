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
    assert runs[-1]["run"].startswith("remediate github")


def test_the_install_rule_would_catch_an_index_install() -> None:
    assert INDEX_INSTALL.search("python -m pip install remediate")
    assert not INDEX_INSTALL.search("python -m pip install --disable-pip-version-check .")
