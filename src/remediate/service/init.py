"""Scaffold a remediation repository that validates clean."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from remediate import resources
from remediate.adapters.provenance import InstalledFrom, installed_from
from remediate.errors import UsageError, UserError
from remediate.resources import data_dir, package_file
from remediate.service.workflows import WORKFLOWS, InstallPin, pin_for, render


@dataclass(frozen=True)
class Scaffolded:
    root: Path
    files: list[str]
    install: InstallPin


def scaffold(
    target: Path, force: bool = False, installed: InstalledFrom | None = None
) -> Scaffolded:
    """Write settings, action types, baseline policies and tests, a schedule and workflows.

    Refuses to overwrite an existing file unless `force`; nothing is written
    when any file would be overwritten. The workflows install remediate from its
    own repository at the commit `installed` names (default: the one this
    remediate was installed from).
    """
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target}: exists and is not a directory")
    plan: dict[str, Path] = {}
    template = package_file("scaffold")
    for source in sorted(template.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            plan[source.relative_to(template).as_posix()] = source
    policies = data_dir("policies")
    for source in sorted(policies.rglob("*.yaml")):
        plan["policies/" + source.relative_to(policies).as_posix()] = source
    clashes = [rel for rel in plan if (target / rel).exists()]
    if clashes and not force:
        raise UserError(
            f"{target}: would overwrite {', '.join(clashes[:5])}"
            + (" and more" if len(clashes) > 5 else "")
            + " (use --force to overwrite)"
        )
    install = pin_for(installed or installed_from(), resources.SOURCE_REPOSITORY)
    for rel, origin in plan.items():
        destination = target / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        if rel.startswith(WORKFLOWS):
            destination.write_text(render(origin.read_text(encoding="utf-8"), install))
        else:
            shutil.copyfile(origin, destination)
    return Scaffolded(target, sorted(plan), install)
