"""`remediate status`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_json, echo_json_list


@command(epilog=example("remediate status rem-2026-0042 --format json"))
@click.argument("request_id", required=False)
@repo_option
@format_option("text", "json")
def status(request_id: str | None, repo: str, output_format: str | None) -> int:
    """The current status of every request, or of one."""
    from remediate import wiring
    from remediate.service.query import status as run

    rows = run(wiring.session(Path(repo)), request_id)
    if resolve_format(output_format) == "json":
        if request_id:
            echo_json(rows[0].as_json())
        else:
            echo_json_list("requests", (r.as_json() for r in rows))
    else:
        for row in rows:
            echo(
                f"{row.request_id}\t{row.status}\t{row.environment or '-'}\t"
                f"{row.service_name or '-'}\t{row.updated_at or '-'}"
            )
    return 0
