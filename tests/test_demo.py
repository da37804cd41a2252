"""`make demo` tells the same story whatever the date, and stops on any surprise."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT

DEMO = ROOT / "examples" / "demo.py"


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_pins_its_clock_for_every_step(tmp_path: Path) -> None:
    # An ambient clock override inside the quickstart's holiday freeze (from 2026-12-20):
    # were any preview to read it, bob's approval would become an override and the story
    # would change. apply and approve read the real clock: the demo's copy of the freeze is
    # in 2099, so whatever today's date the story holds (`test_the_demos_freeze_is_ahead`).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_"))}
    env["REMEDIATE_NOW"] = "2026-12-24T10:00:00Z"
    done = subprocess.run(
        [sys.executable, str(DEMO), "--dir", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "\n$ remediate plan    # as alice@example.com (requester, admin)\n" in out
    assert "$ remediate approve rem-2026-0042 --reason" not in out  # no override, no reason
    assert sys.executable not in out and "-m remediate" not in out
    assert "as bob@example.com (operator: team:sre)" in out
    assert "as carol@example.com (operator: team:sre)" in out
    assert "rem-2026-0042: executed → COMPLETED" in out
    assert "override" not in out.lower()
    assert "12-24" not in out  # nothing was decided at the ambient time


def test_the_demo_stops_on_an_unexpected_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = load_demo()
    with pytest.raises(SystemExit) as stopped:
        demo.step(["status"], cwd=tmp_path, who="alice@example.com", expect=0)
    assert str(stopped.value) == "demo: `remediate status` exited 2, expected 0"
    assert "$ remediate status" in capsys.readouterr().out


def test_the_demos_freeze_is_ahead_of_any_real_clock(tmp_path: Path) -> None:
    demo = load_demo()
    import shutil

    shutil.copytree(ROOT / "examples" / "quickstart", tmp_path, dirs_exist_ok=True)
    demo.freeze_ahead(tmp_path)
    text = (tmp_path / "policies" / "holiday-freeze.yaml").read_text()
    assert 'timestamp("2099-12-20T00:00:00Z")' in text and "2026" not in text
    case = (tmp_path / "policies" / "tests" / "baseline.yaml").read_text()
    assert '"2099-12-24T10:00:00Z"' in case
