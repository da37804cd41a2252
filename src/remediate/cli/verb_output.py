"""Shared output of the lifecycle verbs (approve, reject, cancel)."""

from __future__ import annotations

import json

import click

from remediate.cli import resolve_format


def show(result: object, output_format: str | None) -> int:
    from remediate.service.verbs import VerbResult

    assert isinstance(result, VerbResult)
    if resolve_format(output_format) == "json":
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        click.echo(result.status)
        for violation in result.violations:
            click.echo(f"  violation: {violation}")
        if result.detail:
            click.echo(result.detail)
    if not result.counted:
        click.echo(
            "remediate: the approval was not recorded: an operator override needs "
            "--reason, and only overridable violations can be overridden",
            err=True,
        )
        return 1
    return 0
