"""`remediate export csv`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import Command, example, repo_option
from remediate.cli.output import Progress, echo
from remediate.core.model import STATUSES
from remediate.errors import UsageError


@click.group(epilog=example("remediate export csv --status FAILED > failed.csv"))
def export() -> None:
    """Export the audit: one CSV row per request in its current state."""


@export.command(
    "csv", cls=Command, epilog=example("remediate export csv --environment production --limit 100")
)
@click.option("--status", "status_filter", type=click.Choice(STATUSES), default=None)
@click.option("--environment", default=None, help="Only requests of this environment.")
@click.option("--limit", type=int, default=500, show_default=True, help="Rows at most.")
@repo_option
def csv(status_filter: str | None, environment: str | None, limit: int, repo: str) -> int:
    """Requests in their current state as CSV, most recently updated first.

    The columns are the seed API's: id, incidentId, actionType, status,
    performedBy, serviceName, environment, createdAt, updatedAt, details,
    error. A cell that starts with = + - @, a tab or a carriage return gets a
    leading apostrophe, so that no spreadsheet runs it as a formula.
    """
    from remediate import wiring
    from remediate.service.stats import export_csv

    if limit < 1:
        raise UsageError("--limit must be 1 or more")
    bar = Progress("reading the audit")
    try:
        lines = export_csv(
            wiring.session(Path(repo)), status_filter, environment, limit, bar.update
        )
        for line in lines:
            bar.finish()
            echo(line, nl=False)
    finally:
        bar.finish()
    return 0
