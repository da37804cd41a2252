"""`remediate report`, `report runs`, `report retry RUN_ID`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from remediate.cli import Command, example, format_option, repo_option, resolve_format, time_value
from remediate.cli.output import echo, echo_json
from remediate.cli.plan import now_option, resolve_now
from remediate.errors import UsageError


def _period(text: str | None) -> timedelta | None:
    if text is None:
        return None
    from remediate.core.reports import period

    try:
        return period(text)
    except ValueError as exc:
        raise UsageError(f"--period {text}: {exc}") from None


class ReportGroup(click.Group):
    """`report` runs itself when no subcommand follows (`report runs`, `report retry`)."""

    def invoke(self, ctx: click.Context) -> Any:
        from remediate.cli import Invocation

        invocation = ctx.find_object(Invocation)
        chosen = ctx.params.get("output_format")
        if invocation is not None and chosen:
            invocation.output_format = chosen
        return super().invoke(ctx)


@click.group(
    cls=ReportGroup,
    invoke_without_command=True,
    epilog=example("remediate report --period 7d --output report.html"),
)
@click.option("--period", "period_text", default=None, help="24h, 7d, … (default: the cadence's).")
@click.option("--output", "output_file", default=None, help="Write it to FILE (.md or .html).")
@click.option("--send", is_flag=True, help="E-mail it to reportRecipients and record a run.")
@click.option(
    "--html",
    "html_dir",
    default=None,
    metavar="DIR",
    help="Write the control center, DIR/index.html (static, self-contained: GitHub Pages).",
)
@now_option
@repo_option
@format_option("markdown", "json", default="markdown")
@click.pass_context
def report(
    ctx: click.Context,
    period_text: str | None,
    output_file: str | None,
    send: bool,
    html_dir: str | None,
    now: str | None,
    repo: str,
    output_format: str | None,
) -> int:
    """The digest of a period: totals, failures, approvals, overrides, the signal.

    Totals by status and by environment of the requests changed in the period,
    failures with their errors, pending approvals and who may give them,
    overrides with their reasons, policy exceptions that expire within 14 days,
    the priority signal and the outcomes per day (UTC). Markdown on stdout;
    --output FILE writes FILE instead (.md, or .html); --send e-mails it (HTML
    with a text part and the period's CSV) through SMTP_* and records a report
    run: exit 1 unless every recipient received it. --html DIR writes the
    control center to DIR/index.html: the signal, stats, pending approvals and
    who may approve, recent executions, failures, overrides and charts, one
    page with no script and nothing from the network.
    """
    if ctx.invoked_subcommand is not None:
        return 0
    from remediate import wiring
    from remediate.service.reports.report import build, rendered
    from remediate.service.reports.report import send as send_report
    from remediate.service.repository import require

    require(Path(repo), False)
    length = _period(period_text)
    suffix = Path(output_file).suffix.lower() if output_file else None
    if suffix not in (None, ".md", ".html"):
        raise UsageError(f"--output {output_file}: write a .md or a .html file")
    session = wiring.session(Path(repo))
    moment = resolve_now(now, session)
    if send:
        sent = send_report(session, moment, length)
        digest, code = (
            sent.digest,
            _show_run(
                sent.run,
                resolve_format(output_format, ("markdown", "json")) == "json" and not output_file,
            ),
        )
    else:
        digest, code = build(session, moment, length), 0
    if html_dir:
        target = Path(html_dir)
        if target.exists() and not target.is_dir():
            raise UsageError(f"--html {html_dir}: not a directory")
        target.mkdir(parents=True, exist_ok=True)
        (target / "index.html").write_text(rendered(session, digest, "control"), encoding="utf-8")
        echo(f"wrote {target / 'index.html'}", err=True)
    if html_dir and not output_file and not send:
        pass
    elif output_file:
        text = rendered(session, digest, "html" if suffix == ".html" else "markdown")
        Path(output_file).write_text(text, encoding="utf-8")
        echo(f"wrote {output_file}", err=True)
    elif not send:
        if resolve_format(output_format, ("markdown", "json")) == "json":
            echo_json(digest.as_json())
        else:
            echo(rendered(session, digest, "markdown"), nl=False)
    return code


def _show_run(run: Any, as_json: bool) -> int:
    if as_json:
        echo_json(run.as_json())
    else:
        echo(
            f"report run {run.id}: {run.status}, delivered to {run.delivered} of {len(run.recipients)}"
        )
        for recipient, error in run.failures:
            echo(f"  {recipient}: {error}", err=True)
        if run.error and not run.failures:
            echo(f"  {run.error}", err=True)
    return 0 if run.status == "success" else 1


@report.command(cls=Command, epilog=example("remediate report runs --status failed --format json"))
@click.option("--status", "status_filter", type=click.Choice(("running", "success", "failed")))
@click.option("--from", "since", default=None, help="Runs started at or after T.")
@click.option("--to", "until", default=None, help="Runs started at or before T.")
@click.option("--limit", type=int, default=50, show_default=True)
@repo_option
@format_option("text", "json", "csv")
def runs(
    status_filter: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    repo: str,
    output_format: str | None,
) -> int:
    """Report runs, newest first (the seed's fields).

    --from and --to bound startedAt (RFC 3339 times with an offset).
    """
    from remediate import wiring
    from remediate.core.report_runs import FIELDS, csv_row
    from remediate.core.stats import csv_lines
    from remediate.service.reports.runs import listed

    if limit < 1:
        raise UsageError("--limit must be 1 or more")
    found = listed(
        wiring.session(Path(repo)),
        status_filter,
        time_value("--from", since),
        time_value("--to", until),
        limit,
    )
    chosen = output_format or "text"
    if chosen == "json":
        echo_json({"runs": [r.as_json() for r in found]})
    elif chosen == "csv":
        for line in csv_lines(FIELDS, (csv_row(r) for r in found)):
            echo(line, nl=False)
    else:
        for r in found:
            body = r.as_json()
            echo(
                f"{body['id']}\t{body['status']}\t{body['startedAt']}\t"
                f"{body['deliveredCount']}/{len(r.recipients)} delivered\t{body['from']} – {body['to']}"
            )
    return 0


@report.command(
    cls=Command, epilog=example("remediate report retry 94000000-0000-4000-8000-000000000001")
)
@click.argument("run_id")
@repo_option
@format_option("text", "json")
def retry(run_id: str, repo: str, output_format: str | None) -> int:
    """Send the period of run RUN_ID again, as a new run.

    Exit 1 unless every recipient received it.
    """
    from remediate import wiring
    from remediate.service.reports.report import retry as run_retry

    session = wiring.session(Path(repo))
    sent = run_retry(session, run_id, resolve_now(None, session))
    return _show_run(sent.run, output_format == "json")
