"""`remediate explain`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from remediate.cli import format_option, repo_option, resolve_format
from remediate.cli.plan import now_option, resolve_now

FORMATS = ("text", "json")


@click.command()
@click.argument("request_id", metavar="ID")
@now_option
@repo_option
@format_option(*FORMATS)
def explain(request_id: str, now: str | None, repo: str, output_format: str | None) -> int:
    """Why request ID is in its state, and what would change it.

    Names the matching policies and rules, the violations, the approvals
    still needed and from whom (and which approvals did not count, and why),
    and when a change window or a rate limit lets it run.
    """
    from remediate.service.explain import explain as run_explain
    from remediate.service.state_bridge import history_for

    root = Path(repo)
    result = run_explain(root, request_id, resolve_now(now), history_for(root))
    if resolve_format(output_format, FORMATS) == "json":
        click.echo(json.dumps(result.as_json(), indent=2))
        return 0
    d = result.decision
    click.echo(
        f"{d.request_id}: {d.status}" + (f" ({result.request.file})" if result.request.file else "")
    )
    click.echo(f"  {d.detail}")
    if d.policies:
        click.echo(f"  policies: {', '.join(d.policies)}")
    if d.rules:
        click.echo(f"  rules: {', '.join(d.rules)}")
    if result.steps:
        click.echo("What would change it:")
        for step in result.steps:
            click.echo(f"  - {step}")
    return 0
