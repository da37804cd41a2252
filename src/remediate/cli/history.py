"""`remediate history`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import command, example, format_option, repo_option
from remediate.cli.events_output import show_events


@command(epilog=example("remediate history a0000000-0000-4000-8000-000000000001"))
@click.argument("incident_id")
@repo_option
@format_option("text", "json")
def history(incident_id: str, repo: str, output_format: str | None) -> int:
    """Audit events of one incident's requests, newest first."""
    from remediate import wiring
    from remediate.service.query import history as run

    show_events(list(run(wiring.session(Path(repo)), incident_id)), output_format)
    return 0
