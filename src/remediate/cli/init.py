"""`remediate init`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import command, example
from remediate.cli.output import echo
from remediate.errors import UsageError


@command(epilog=example("remediate init my-remediations"))
@click.argument("directory", default=".", type=click.Path(path_type=str))
@click.option(
    "--force", is_flag=True, help="Write into a non-empty directory; overwrite existing files."
)
def init(directory: str, force: bool) -> int:
    """Scaffold a remediation repository in DIRECTORY (default: here).

    Writes Settings (remediate.yaml), example ActionTypes, the baseline
    GuardrailPolicies and their PolicyTests, a Schedule and GitHub workflows.
    DIRECTORY is new or empty, or the top of a git repository; outside any git
    repository it becomes one (branch main). The result validates clean; edit
    remediate.yaml's RBAC before first use.
    """
    from remediate import wiring
    from remediate.service.init import scaffold

    if not directory:  # Path("") would silently be "."
        raise UsageError(
            "DIRECTORY is empty: name a directory, or leave it out for the current one"
        )

    result = scaffold(Path(directory), wiring.scaffolding(), force=force)
    for rel in result.files:
        echo(f"created {Path(directory) / rel}")
    echo(result.install.describe())
    for warning in result.install.warnings:
        echo(f"remediate: warning: {warning}", err=True)
    if result.git_initialised:
        echo(f"initialised a git repository in {directory} (branch main)")
    where = "" if Path(directory) == Path(".") else f"cd {directory}, "
    echo(f"next: {where}edit remediate.yaml (rbac, teams), run `remediate validate`, commit")
    return 0
