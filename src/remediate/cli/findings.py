"""`remediate findings list|show|set-status|events`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from remediate.cli import (
    Command,
    example,
    format_option,
    repo_option,
    resolve_format,
    time_value,
)
from remediate.cli.importer import _plain
from remediate.cli.output import echo, echo_json
from remediate.core.findings import EVENT_TYPES, SEVERITIES, STATUSES
from remediate.errors import UsageError

FORMATS = ("text", "json")


@click.group(epilog=example("remediate findings list --status open --severity HIGH"))
def findings() -> None:
    """Security findings and their lifecycle: list, show, set-status, events."""


def _limit(limit: int) -> int:
    if limit < 1:
        raise UsageError("--limit must be 1 or more")
    return limit


def _line(f: dict[str, Any]) -> str:
    where = f["location"].get("file") or "-"
    if f["location"].get("line"):
        where += f":{f['location']['line']}"
    return (
        f"{f['id']}\t{f['status']}\t{f['severity']}\t{_plain(f['tool'])}\t{_plain(f['ruleId'])}\t"
        f"{_plain(f['repository'])}\t{_plain(where)}\t{_plain(f['message'][:120])}"
    )


@findings.command("list", cls=Command, epilog=example("remediate findings list --format json"))
@click.option("--status", "status", type=click.Choice(STATUSES), default=None)
@click.option("--severity", type=click.Choice(SEVERITIES), default=None)
@click.option("--tool", default=None, help="Only this tool's findings (SARIF driver name).")
@click.option("--repository", default=None, help="Only this repository's findings.")
@click.option("--limit", type=int, default=100, show_default=True)
@repo_option
@format_option(*FORMATS)
def list_(
    status: str | None,
    severity: str | None,
    tool: str | None,
    repository: str | None,
    limit: int,
    repo: str,
    output_format: str | None,
) -> int:
    """Findings, most severe first, then most recently seen."""
    from remediate import wiring
    from remediate.service.findings import listed

    found = listed(wiring.session(Path(repo)), status, severity, tool, repository, _limit(limit))
    if resolve_format(output_format, FORMATS) == "json":
        echo_json({"findings": found})
    else:
        for f in found:
            echo(_line(f))
    return 0


@findings.command(cls=Command, epilog=example("remediate findings show f3b1c2d4e5f60718"))
@click.argument("finding_id")
@repo_option
@format_option(*FORMATS)
def show(finding_id: str, repo: str, output_format: str | None) -> int:
    """One finding, with its backlog fields."""
    from remediate import wiring
    from remediate.service.findings import show as run

    found = run(wiring.session(Path(repo)), finding_id)
    if resolve_format(output_format, FORMATS) == "json":
        echo_json(found)
    else:
        for key, value in found.items():
            if key == "location":
                value = f"{value.get('file')}:{value.get('line')}"
            echo(f"{key}: {_plain(str(value)) if value is not None else '-'}")
    return 0


@findings.command(
    "set-status",
    cls=Command,
    epilog=example(
        "remediate findings set-status f3b1c2d4e5f60718 ignored --notes 'test fixture only'"
    ),
)
@click.argument("finding_id")
@click.argument("status", type=click.Choice(STATUSES))
@click.option("--owner", default=None, help="Who owns the fix.")
@click.option("--notes", default=None, help="Operator notes.")
@click.option("--target-date", "target_date", default=None, help="When it should be fixed.")
@click.option("--asset-id", "asset_id", default=None, help="The asset it concerns.")
@repo_option
@format_option(*FORMATS)
def set_status(
    finding_id: str,
    status: str,
    owner: str | None,
    notes: str | None,
    target_date: str | None,
    asset_id: str | None,
    repo: str,
    output_format: str | None,
) -> int:
    """Set a finding's STATUS and backlog fields (operators only).

    ignored and false_positive stay across imports; a resolved finding that a
    later import reports again is reopened.
    """
    from remediate import wiring
    from remediate.service.findings import set_status as run

    found, recorded = run(
        wiring.session(Path(repo)), finding_id, status, owner, notes, target_date, asset_id
    )
    if resolve_format(output_format, FORMATS) == "json":
        echo_json(found)
    elif recorded:
        echo(f"{finding_id}: {status}")
    else:
        echo(f"{finding_id}: already {status}; nothing changed")
    return 0


@findings.command(
    cls=Command, epilog=example("remediate findings events --since 2026-11-01T00:00:00Z")
)
@click.option("--finding", "finding", default=None, help="Only this finding's events.")
@click.option("--severity", type=click.Choice(SEVERITIES), default=None)
@click.option("--event-type", "event_type", type=click.Choice(EVENT_TYPES), default=None)
@click.option("--since", default=None, help="Events at or after T (RFC 3339).")
@click.option("--until", default=None, help="Events at or before T (RFC 3339).")
@click.option("--after", default=None, help="Only events newer than the event with this id.")
@click.option("--limit", type=int, default=100, show_default=True)
@repo_option
@format_option(*FORMATS)
def events(
    finding: str | None,
    severity: str | None,
    event_type: str | None,
    since: str | None,
    until: str | None,
    after: str | None,
    limit: int,
    repo: str,
    output_format: str | None,
) -> int:
    """The feed of finding events, newest first, each with a stable id.

    Pollers use the id as a dedupe key; --after ID lists only the events
    newer than that one.
    """
    from remediate import wiring
    from remediate.service.findings import events as run

    found = run(
        wiring.session(Path(repo)),
        finding,
        severity,
        event_type,
        time_value("--since", since),
        time_value("--until", until),
        after,
        _limit(limit),
    )
    if resolve_format(output_format, FORMATS) == "json":
        echo_json({"events": found})
    else:
        for e in found:
            echo(
                f"{e['at']}\t{e['id']}\t{e['eventType']}\t{e['findingId']}\t{e['status']}\t"
                f"{e['severity']}\t{_plain(e['actor'])}"
            )
    return 0
