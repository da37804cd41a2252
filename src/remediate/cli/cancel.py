"""`remediate cancel`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import command, example, format_option, repo_option
from remediate.cli.verb_output import show


@command(epilog=example("remediate cancel rem-2026-0042"))
@click.argument("request_id")
@repo_option
@format_option("text", "json")
def cancel(request_id: str, repo: str, output_format: str | None) -> int:
    """Cancel a request that has not started.

    The requester or an operator may cancel a request that has not started
    executing; it never runs.
    """
    from remediate import wiring
    from remediate.service.verbs import cancel as run

    return show(run(wiring.session(Path(repo)), request_id), output_format)
