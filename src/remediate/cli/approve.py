"""`remediate approve`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import command, example, format_option, repo_option
from remediate.cli.verb_output import show


@command(epilog=example('remediate approve rem-2026-0042 --reason "rollback did not help"'))
@click.argument("request_id")
@click.option("--reason", default=None, help="Why; with a guardrail violation, an override.")
@repo_option
@format_option("text", "json")
def approve(request_id: str, reason: str | None, repo: str, output_format: str | None) -> int:
    """Approve a PENDING_APPROVAL request as the acting identity.

    While a guardrail blocks it, approving needs --reason, which makes it an
    operator override recorded with the reason and the violations. Approving
    a request in any other status prints that status and changes nothing.
    The requester, non-operators and stale approvals never count (exit 1).
    """
    from remediate import wiring
    from remediate.service.verbs import approve as run

    return show(run(wiring.session(Path(repo)), request_id, reason or None), output_format)
