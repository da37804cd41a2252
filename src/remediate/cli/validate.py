"""`remediate validate`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from remediate.cli import command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_command, echo_json
from remediate.documents.repository import ValidationReport

FORMATS = ("text", "json", "github")


@command(epilog=example("remediate validate remediations/2026/ --format json"))
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@repo_option
@format_option(*FORMATS)
def validate(paths: tuple[str, ...], repo: str, output_format: str | None) -> int:
    """Check every document: YAML, schema, references.

    Each problem is printed as `file:line: key.path: message`. With PATHs, only
    those files or directories are checked (against the repository's action
    types, policies and settings). --format github (the default inside GitHub
    Actions) adds annotations and a job summary. Exit 0 when valid, 1 when any
    document is invalid, 2 on misuse.
    """
    from remediate.documents.yamlstrict import HAVE_LIBYAML

    if not HAVE_LIBYAML:
        echo("remediate: warning: PyYAML has no libyaml here; parsing is ~8x slower", err=True)
    from remediate import wiring
    from remediate.service.validate import validate as run_validate

    report = run_validate(wiring.session(Path(repo)), paths)
    chosen = resolve_format(output_format, FORMATS)
    if chosen == "json":
        _json(report)
    elif chosen == "github":
        _github(report, Path(repo))
    else:
        _text(report)
    return 0 if report.valid else 1


def _text(report: ValidationReport) -> None:
    for problem in report.problems:
        echo(str(problem), err=problem.severity == "error")
    if report.valid:
        echo(f"{report.count} documents in {report.files} files: valid")
    else:
        echo(f"{len(report.errors)} error(s) in {report.files} files", err=True)


def _json(report: ValidationReport) -> None:
    echo_json(
        {
            "valid": report.valid,
            "errors": [p.as_json() for p in report.errors],
            "warnings": [p.as_json() for p in report.problems if p.severity == "warning"],
        }
    )


def _github(report: ValidationReport, repo: Path) -> None:
    from remediate.cli.annotations import Workspace, annotation, write_summary

    where = Workspace(repo, os.environ.get("GITHUB_WORKSPACE"))
    for problem in report.problems:
        echo_command(annotation(problem, where(problem.file)))
    _text(report)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        write_summary(summary, report, where)
