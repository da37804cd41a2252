"""Shared output of the lifecycle verbs (approve, reject, cancel)."""

from __future__ import annotations

from remediate.cli import resolve_format
from remediate.cli.output import echo, echo_json


def show(result: object, output_format: str | None) -> int:
    from remediate.service.verbs import VerbResult

    assert isinstance(result, VerbResult)
    for warning in result.warnings:
        echo(f"remediate: warning: {warning}", err=True)
    if resolve_format(output_format) == "json":
        echo_json(result.as_json())
    else:
        echo(result.status)
        for violation in result.violations:
            echo(f"  violation: {violation}")
        if result.detail:
            echo(result.detail)
    if not result.counted:
        echo(
            "remediate: the approval was not recorded: an operator override needs "
            "--reason, and only overridable violations can be overridden",
            err=True,
        )
        return 1
    return 0
