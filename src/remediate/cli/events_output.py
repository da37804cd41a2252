"""Shared output of `history` and `actions`: audit events."""

from __future__ import annotations

from remediate.cli import resolve_format
from remediate.cli.output import echo, echo_json


def show_events(events: list[object], output_format: str | None) -> None:
    from remediate.core.audit import Event

    listed = [e for e in events if isinstance(e, Event)]
    if resolve_format(output_format) == "json":
        echo_json({"events": [e.as_json() for e in listed]})
        return
    for e in listed:
        line = f"{e.at}\t{e.request_id}\t{e.from_} → {e.to}\t{e.actor}"
        echo(line + (f"\terror: {e.error}" if e.error else ""))
