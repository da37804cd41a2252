"""`remediate audit verify`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import Command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_json


@click.group(epilog=example("remediate audit verify"))
def audit() -> None:
    """The audit log: verify its hash chains and authorship."""


@audit.command(
    cls=Command,
    epilog=example(
        "remediate audit verify --format json", "remediate audit verify --since HEAD~10"
    ),
)
@repo_option
@click.option(
    "--since",
    metavar="REF",
    help="Check only what was added after REF, against the chains as of REF.",
)
@format_option("text", "json")
def verify(repo: str, since: str | None, output_format: str | None) -> int:
    """Check every hash chain and that only the runner added audit files.

    Exit 0 when the audit log is intact, 1 on any tampering.
    """
    from remediate import wiring
    from remediate.service.verify import verify as run

    report = run(wiring.session(Path(repo)), since)
    if resolve_format(output_format) == "json":
        echo_json(report.as_json())
    else:
        for problem in report.problems:
            echo(problem, err=True)
        state = "intact" if report.ok else f"{len(report.problems)} problem(s)"
        echo(f"{report.events} events in {report.files} files, {report.commits} commits: {state}")
    return 0 if report.ok else 1
