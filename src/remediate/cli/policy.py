"""`remediate policy test`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import Command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_json
from remediate.cli.plan import now_option, resolve_now

FORMATS = ("text", "json")


@click.group(epilog=example("remediate policy test"))
def policy() -> None:
    """Guardrail policies: run their tests."""


@policy.command(
    "test",
    cls=Command,
    policy_library=True,
    epilog=example("remediate policy test policies/tests/baseline.yaml --format json"),
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@now_option
@repo_option
@format_option(*FORMATS)
def test(paths: tuple[str, ...], now: str | None, repo: str, output_format: str | None) -> int:
    """Run PolicyTest cases and show expected vs actual decisions.

    With PATHs, only the PolicyTest documents under them. Cases without a
    `now` in their context are decided as of --now (default: the current
    time). Exit 0 when every case passes, 1 on any mismatch or invalid
    document.
    """
    from remediate import wiring
    from remediate.service.policytest import run_tests

    session = wiring.session(Path(repo))
    report = run_tests(session, paths, resolve_now(now, session))
    if resolve_format(output_format, FORMATS) == "json":
        echo_json(report.as_json())
    else:
        for case in report.cases:
            mark = "ok  " if case.ok else "FAIL"
            echo(f"{mark} {case.test}: {case.name}")
            if not case.ok:
                for mismatch in case.mismatches:
                    echo(f"     {mismatch}")
                echo(f"     {case.actual['detail']}")
        echo(f"{report.passed} passed, {report.failed} failed")
    return 0 if report.failed == 0 else 1
