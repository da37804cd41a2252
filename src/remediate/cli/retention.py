"""`remediate retention enforce`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import Command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_json
from remediate.cli.plan import now_option


@click.group(epilog=example("remediate retention enforce"))
def retention() -> None:
    """Audit retention: replace events older than retentionDays by checkpoints."""


@retention.command(
    cls=Command,
    epilog=example("remediate retention enforce --format json"),
)
@now_option
@repo_option
@format_option("text", "json")
def enforce(now: str | None, repo: str, output_format: str | None) -> int:
    """Replace audit events older than Settings.spec.retentionDays by checkpoints.

    For every request (and every subject of the other audit streams) the events
    older than now minus retentionDays are replaced by one checkpoint event that
    carries its state and the hash of what it replaces, in one runner commit;
    status, stats and audit verify read the same. --now T sets that now (the
    checkpoint's own time is the real one). Git history still holds what was
    removed from the tip.
    """
    from remediate import wiring
    from remediate.cli.plan import resolve_now
    from remediate.service.retention import HISTORY
    from remediate.service.retention import enforce as run

    session = wiring.session(Path(repo))
    at = resolve_now(now, session) if now is not None else session.clock.override()
    found = run(session, at)
    if resolve_format(output_format) == "json":
        echo_json(found.as_json())
    else:
        echo(found.sentence())
        echo(HISTORY)
    return 0
