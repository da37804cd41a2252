"""Shared fixtures: temporary remediation repositories and an in-process CLI runner."""

from __future__ import annotations

import shutil
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
    """A writable copy of examples/quickstart (no git)."""
    target = tmp_path / "repo"
    shutil.copytree(QUICKSTART, target)
    return target
