"""`remediate actions`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import command, example, format_option, repo_option
from remediate.cli.events_output import show_events
from remediate.core.model import STATUSES
from remediate.errors import UsageError


@command(epilog=example("remediate actions --status FAILED --environment production --limit 20"))
@click.option("--status", "status_filter", type=click.Choice(STATUSES), default=None)
@click.option("--environment", default=None)
@click.option("--limit", type=int, default=50, show_default=True)
@repo_option
@format_option("text", "json")
def actions(
    status_filter: str | None,
    environment: str | None,
    limit: int,
    repo: str,
    output_format: str | None,
) -> int:
    """Audit events, newest first, filtered by status and environment.

    --status keeps the events that moved a request to that status.
    """
    from remediate import wiring
    from remediate.service.query import actions as run

    if limit < 1:
        raise UsageError("--limit must be 1 or more")
    session = wiring.session(Path(repo))
    show_events(list(run(session, status_filter, environment, limit)), output_format)
    return 0
