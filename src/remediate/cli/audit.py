"""`remediate audit verify`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from remediate.cli import format_option, repo_option, resolve_format


@click.group()
def audit() -> None:
    """The audit log."""


@audit.command()
@repo_option
@format_option("text", "json")
def verify(repo: str, output_format: str | None) -> int:
    """Check every hash chain and that only the runner ever added audit files (exit 1 if not)."""
    from remediate.service.verify import verify as run

    report = run(Path(repo))
    if resolve_format(output_format) == "json":
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        for problem in report.problems:
            click.echo(problem, err=True)
        state = "intact" if report.ok else f"{len(report.problems)} problem(s)"
        click.echo(
            f"{report.events} events in {report.files} files, {report.commits} commits: {state}"
        )
    return 0 if report.ok else 1
