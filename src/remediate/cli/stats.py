"""`remediate stats` and `remediate signal`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_json


@command(epilog=example("remediate stats --environment production --format json"))
@click.option("--environment", default=None, help="Only requests of this environment.")
@repo_option
@format_option("text", "json")
def stats(environment: str | None, repo: str, output_format: str | None) -> int:
    """Aggregate counts of the recorded requests, and the success rate.

    Each request counts once, in its current status; successRate is completed
    out of total, in percent with one decimal.
    """
    from remediate import wiring
    from remediate.service.stats import stats as run

    found = run(wiring.session(Path(repo)), environment)
    if resolve_format(output_format) == "json":
        echo_json(found.as_json())
    else:
        for key, value in found.as_json().items():
            echo(f"{key}\t{value}")
    return 0


@command(epilog=example("remediate signal --format json"))
@click.option("--environment", default=None, help="Only requests of this environment.")
@repo_option
@format_option("text", "json")
def signal(environment: str | None, repo: str, output_format: str | None) -> int:
    """The operator priority signal: normal, warning or critical, and why.

    From approval pressure (requests in PENDING_APPROVAL), failure pressure
    (requests that failed in the last 24 hours) and active executions
    (requests in EXECUTING); see docs/reports.md for the thresholds.
    """
    from remediate import wiring
    from remediate.service.stats import signal as run

    found = run(wiring.session(Path(repo)), environment)
    if resolve_format(output_format) == "json":
        echo_json(found.as_json())
    else:
        echo(f"{found.label}: {found.reason}")
        echo(
            f"pendingApprovals {found.pending_approvals}, activeExecutions "
            f"{found.active_executions}, failedInLast24h {found.failed_in_last_24h}"
        )
    return 0
