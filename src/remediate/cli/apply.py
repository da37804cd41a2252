"""`remediate apply`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from remediate.cli import command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_json
from remediate.errors import UsageError

if TYPE_CHECKING:
    from remediate.service.apply.report import ApplyReport, Failure


@command(epilog=example("remediate apply --dry-run"))
@click.option("--dry-run", is_flag=True, help="Show what would happen; record and run nothing.")
@click.option("--max", "max_actions", type=int, default=None, help="Execute at most N actions.")
@click.option(
    "--concurrency",
    type=int,
    default=4,
    show_default=True,
    help="Actions on different targets that may run at once.",
)
@repo_option
@format_option("text", "json")
def apply(
    dry_run: bool, max_actions: int | None, concurrency: int, repo: str, output_format: str | None
) -> int:
    """Record decisions, execute QUEUED requests, write the audit, push.

    Decisions are recorded for new requests; the audit is committed and pushed.

    Each request attempt is claimed on the shared remote before it runs, so
    racing runners execute it once. Each failure is printed with its reason
    and its retry time (or why it is not retried). Exit 0 when every executed
    action completed, 1 when one failed, an outcome could not be recorded, or
    a document is invalid (then nothing runs).
    """
    from remediate import wiring
    from remediate.service.apply import apply as run_apply
    from remediate.service.runtime import actor_or_none

    if max_actions is not None and max_actions < 0:
        raise UsageError("--max must be 0 or more")
    if concurrency < 1:
        raise UsageError("--concurrency must be 1 or more")
    session = wiring.session(Path(repo))
    with wiring.stop_on_signals(session):
        report = run_apply(session, actor_or_none(session), dry_run, max_actions, concurrency)
        stopped = session.processes.stopping()
    for warning in report.warnings:
        echo(f"remediate: warning: {warning}", err=True)
    for note in report.notes:  # a rule's request that would not validate: not made
        echo(f"remediate: note: {note}", err=True)
    for name, status in report.late:
        echo(
            f"remediate: warning: {name} was marked abandoned by another run while its action "
            f"ran; its real outcome, {status}, is recorded now",
            err=True,
        )
    for name, status in report.unrecorded:
        echo(
            f"remediate: WARNING: the outcome of {name} ({status}) could not be recorded: "
            "another run marked it abandoned and it has been queued or run again since; "
            "check what the action did",
            err=True,
        )
    if resolve_format(output_format) == "json":
        echo_json(report.as_json())
    else:
        _text(report, dry_run)
    if stopped:
        echo(
            f"remediate: stopped by {stopped}: what had run is recorded, a stopped action as "
            "FAILED with the outcome unknown, an action not started as QUEUED",
            err=True,
        )
        return 1
    return 1 if report.failed else 0


def _text(report: ApplyReport, dry_run: bool) -> None:
    prefix = "would record" if dry_run else "recorded"
    failures = {f.request_id: f for f in report.failures}
    made = "would make" if dry_run else "made"
    for name, rule in report.created:
        echo(f"{name}: {made} by rule {rule} (recorded in the audit, no file)")
    for name, status in report.decided:
        echo(f"{name}: {prefix} {status}")
    for name, status in report.recovered:
        echo(f"{name}: recovered → {status}" + _why(failures, name, status))
    for name, status in report.executed:
        echo(f"{name}: executed → {status}" + _why(failures, name, status))
    for name, why in report.skipped:
        echo(f"{name}: skipped ({why})")
    echo(
        f"{len(report.executed)} executed, {report.stats.commits} commit(s), "
        f"{report.stats.pushes} push(es)"
    )


def _why(failures: dict[str, Failure], name: str, status: str) -> str:
    """`: reason; retry 1 of 2 at T` (or `; not retried: why`) after a FAILED."""
    found = failures.get(name)
    if status != "FAILED" or found is None:
        return ""
    unknown = " (the outcome is unknown)" if found.outcome_unknown else ""
    return f": {found.error}{unknown}; {found.then}"
