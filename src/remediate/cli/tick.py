"""`remediate tick`."""

from __future__ import annotations

import gc
from pathlib import Path

from remediate.cli import command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_json
from remediate.cli.plan import now_option


@command(epilog=example("remediate tick --now 2026-11-23T06:00:00Z"))
@now_option
@repo_option
@format_option("text", "json")
def tick(now: str | None, repo: str, output_format: str | None) -> int:
    """Run the schedules that are due, once each, catching up as each schedule says.

    Each fire is claimed on the shared remote before its job runs, so racing
    runners fire it once. A schedule that never fired counts from the commit
    that added it. --now T (or REMEDIATE_NOW) sets which fires are due; events
    still carry the runner's real time and say what time was evaluated. A
    remediation fire records a request that the next `apply` decides. Exit 1
    when a job failed (a report not delivered to every recipient).
    """
    from remediate import wiring
    from remediate.cli.plan import resolve_now
    from remediate.service.tick import tick as run_tick

    session = wiring.session(Path(repo))
    moment = resolve_now(now, session) if now is not None else None
    # What is loaded by now lives as long as the process: the collector need not walk it
    # again. A tick that fires 1,000 schedules made one full collection of every object
    # the imports had made (~30 ms); the young objects are still collected as usual.
    gc.freeze()
    report = run_tick(session, moment)
    for warning in report.warnings:
        echo(f"remediate: warning: {warning}", err=True)
    if resolve_format(output_format) == "json":
        echo_json(report.as_json())
    else:
        for line in report.lines():
            echo(line)
    return 1 if report.failed else 0
