"""Scaffold a remediation repository that validates clean."""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from remediate import __version__, resources
from remediate.core.provenance import InstalledFrom
from remediate.documents.loader import special_kind
from remediate.documents.worktree import work_tree_of
from remediate.errors import UsageError, UserError
from remediate.resources import data_dir, package_file
from remediate.service.ports import Scaffolding
from remediate.service.repository import enclosing
from remediate.service.workflows import WORKFLOWS, InstallPin, pin_for, render


@dataclass(frozen=True)
class Scaffolded:
    root: Path
    files: list[str]
    install: InstallPin
    git_initialised: bool = False  # a new git repository was made for it


def scaffold(
    target: Path,
    tools: Scaffolding,
    force: bool = False,
    installed: InstalledFrom | None = None,
) -> Scaffolded:
    """Write settings, action types, baseline policies and tests, a schedule and workflows.

    The target is a new or empty directory, or the top of a git repository (a fresh
    clone); anything else needs `force`. Refuses to overwrite an existing file unless
    `force`; nothing is written when any file would be overwritten. Outside any git
    repository, the target becomes one (branch main), so that every command works in it.
    The workflows install remediate from its own repository at the commit `installed`
    names (default: the one this remediate was installed from).
    """
    _refuse_a_file(target)
    plan = _files()
    clashes = [rel for rel in plan if (target / rel).exists()]
    if clashes and not force:
        raise UserError(
            f"{target}: would overwrite {', '.join(clashes[:5])}"
            + (" and more" if len(clashes) > 5 else "")
            + " (use --force to overwrite)"
        )
    if not force:
        _refuse_a_stranger(target)
        _refuse_nesting(target)
    new_repository = work_tree_of(target.resolve()) is None
    install = pin_for(installed or tools.installed_from(), resources.SOURCE_REPOSITORY)
    _write(target, plan, install)
    if new_repository:
        tools.init_repository(target)
    return Scaffolded(target, sorted(plan), install, new_repository)


def _files() -> dict[str, Path]:
    """Each file to write (relative path → the shipped file it is copied from)."""
    plan: dict[str, Path] = {}
    template = package_file("scaffold")
    for source in sorted(template.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            plan[source.relative_to(template).as_posix()] = source
    policies = data_dir("policies")
    for source in sorted(policies.rglob("*.yaml")):
        plan["policies/" + source.relative_to(policies).as_posix()] = source
    return plan


def _refuse_a_file(target: Path) -> None:
    """Misuse: the target, or a directory it would be created in, is not a directory."""
    for path in (target, *target.parents):
        if path.exists() or path.is_symlink():
            if path.is_dir():
                return
            what = _what(path)
            if path == target:
                raise UsageError(f"{target}: is {what}, not a directory")
            raise UsageError(f"{target}: {path} is {what}, not a directory")


def _what(path: Path) -> str:
    """`a file`, `a FIFO`, `a broken symbolic link (to …)`, `a symbolic link to a file`."""
    if path.is_symlink() and not path.exists():
        return f"a broken symbolic link (to {os.readlink(path)})"
    mode = path.stat().st_mode
    what = "a file" if stat.S_ISREG(mode) else special_kind(mode)
    return f"a symbolic link to {what}" if path.is_symlink() else what


def _refuse_a_stranger(target: Path) -> None:
    """A directory with other content is someone's: only the top of a git repository (a
    clone made for remediate) is taken as is; a careless `init` in $HOME writes nothing."""
    if not target.is_dir() or (target / ".git").exists():
        return
    entries = sorted(p.name for p in target.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (", …" if len(entries) > 5 else "")
        raise UserError(
            f"{target} is not empty ({shown}) and not the top of a git repository: "
            "init into a new or empty directory, or pass --force"
        )


def _refuse_nesting(target: Path) -> None:
    """A remediation repository inside another one is a careless `init` in its subdirectory."""
    around = enclosing(target.resolve())
    if around is not None:
        raise UserError(
            f"{target} is inside the remediation repository {around}: "
            "init a new one elsewhere, or pass --force"
        )


def _write(target: Path, plan: dict[str, Path], install: InstallPin) -> None:
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {target}: {exc.strerror or exc}") from None
    for rel, source in plan.items():
        destination = target / rel
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
            if rel.startswith(WORKFLOWS):
                text = render(source.read_text(encoding="utf-8"), install, __version__)
                destination.write_text(text)
            else:
                shutil.copyfile(source, destination)
        except OSError as exc:
            raise UserError(f"cannot write {destination}: {exc.strerror or exc}") from None
