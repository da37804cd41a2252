"""`remediate plan`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from remediate.cli import command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_json
from remediate.errors import UsageError

if TYPE_CHECKING:
    from remediate.service.session import Session

FORMATS = ("text", "markdown", "json")


F = TypeVar("F", bound=Callable[..., Any])


def now_option(func: F) -> F:
    """`--now T`: decide as if the time were T (RFC 3339; default: the current time)."""
    return click.option(
        "--now",
        "now",
        default=None,
        metavar="T",
        help="Decide as of T, e.g. 2026-11-23T10:00:00Z (default: now).",
    )(func)


def resolve_now(text: str | None, session: Session) -> datetime:
    """The moment to decide at: `--now`, else REMEDIATE_NOW (the clock's override), else
    the runner's clock (read here, never in core)."""
    if text is None:
        return session.clock.override() or session.clock.now()
    from remediate.core.times import RANGE, OutOfRange, parse_time

    try:
        return parse_time(text)
    except OutOfRange:
        raise UsageError(f"--now {text}: outside the supported range ({RANGE})") from None
    except ValueError:
        raise UsageError(
            f"--now {text}: not an RFC 3339 time with an offset (e.g. 2026-11-23T10:00:00Z)"
        ) from None


@command(epilog=example("remediate plan --base origin/main --now 2026-11-23T10:00:00Z"))
@click.option(
    "--base", default=None, metavar="REF", help="Only requests added or changed since REF."
)
@now_option
@repo_option
@format_option(*FORMATS)
def plan(base: str | None, now: str | None, repo: str, output_format: str | None) -> int:
    """Decide every request that has not started, with no side effects.

    With --base REF, only requests added or changed since REF (a pull
    request's view). With --now T, as if the time were T ("would this run at
    10:00 on Monday?"). Requests already started show their recorded status.
    --format markdown gives the body of a pull-request comment. Exit 0, or 1
    when any document is invalid (nothing is decided then).
    """
    from remediate import wiring
    from remediate.service.audit_log import history
    from remediate.service.markdown import COMMENT_LIMIT
    from remediate.service.plan import plan as run_plan
    from remediate.service.render import render_markdown, render_text

    session = wiring.session(Path(repo))
    report = run_plan(session, resolve_now(now, session), base, history(session))
    for warning in report.warnings:
        echo(f"remediate: warning: {warning}", err=True)
    chosen = resolve_format(output_format, FORMATS)
    if chosen == "json":
        echo_json(report.as_json())
    elif chosen == "markdown":
        markdown = render_markdown(report)
        echo(markdown.body, nl=False)
        if markdown.left_out:  # where the comment's "see the log" points
            shown = len(report.entries) - len(markdown.left_out)
            echo(
                f"remediate: the markdown plan shows {shown} of {len(report.entries)} requests"
                f" ({COMMENT_LIMIT} characters at most); the rest:",
                err=True,
            )
            echo(render_text(replace(report, entries=markdown.left_out)), err=True)
    else:
        echo(render_text(report))
    return 0
