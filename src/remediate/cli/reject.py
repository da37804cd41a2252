"""`remediate reject`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import command, example, format_option, repo_option
from remediate.cli.verb_output import show


@command(epilog=example('remediate reject rem-2026-0042 --reason "wrong service"'))
@click.argument("request_id")
@click.option("--reason", default=None, help="Why it is rejected (recorded in the audit).")
@repo_option
@format_option("text", "json")
def reject(request_id: str, reason: str | None, repo: str, output_format: str | None) -> int:
    """Reject a PENDING_APPROVAL request; it never executes."""
    from remediate import wiring
    from remediate.service.verbs import reject as run

    return show(run(wiring.session(Path(repo)), request_id, reason or None), output_format)
