"""`remediate init`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.service.init import scaffold


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=str))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: str, force: bool) -> int:
    """Scaffold a remediation repository in DIRECTORY.

    Writes Settings (remediate.yaml), example ActionTypes, the baseline
    GuardrailPolicies and their PolicyTests, a Schedule and GitHub workflows.
    The result validates clean; edit remediate.yaml's RBAC before first use.
    """
    result = scaffold(Path(directory), force=force)
    for rel in result.files:
        click.echo(f"created {Path(directory) / rel}")
    click.echo(result.install.describe())
    for warning in result.install.warnings:
        click.echo(f"remediate: warning: {warning}", err=True)
    click.echo("next: edit remediate.yaml (rbac, teams), then run `remediate validate`")
    return 0
