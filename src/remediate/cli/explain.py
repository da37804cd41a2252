"""`remediate explain`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_json
from remediate.cli.plan import now_option, resolve_now

FORMATS = ("text", "json")


@command(epilog=example("remediate explain rem-2026-0042 --now 2026-11-23T10:00:00Z"))
@click.argument("request_id", metavar="ID")
@now_option
@repo_option
@format_option(*FORMATS)
def explain(request_id: str, now: str | None, repo: str, output_format: str | None) -> int:
    """Why request ID is in its state, and what would change it.

    Names the matching policies and rules, the violations, the approvals
    still needed and from whom (and which approvals did not count, and why),
    and when a change window, a rate limit or a retry's backoff lets it run.
    For a request that has started, what the audit says happened (why it
    failed, whether it is retried) and what could still change it.
    """
    from remediate import wiring
    from remediate.service.audit_log import history
    from remediate.service.explain import explain as run_explain

    session = wiring.session(Path(repo))
    result = run_explain(session, request_id, resolve_now(now, session), history(session))
    if resolve_format(output_format, FORMATS) == "json":
        echo_json(result.as_json())
        return 0
    d = result.decision
    echo(
        f"{d.request_id}: {d.status}" + (f" ({result.request.file})" if result.request.file else "")
    )
    for line in result.why or (d.detail,):
        echo(f"  {line}")
    if d.policies:
        echo(f"  policies: {', '.join(d.policies)}")
    if d.rules:
        echo(f"  rules: {', '.join(d.rules)}")
    if result.steps:
        echo("What would change it:")
        for step in result.steps:
            echo(f"  - {step}")
    return 0
