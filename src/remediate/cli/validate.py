"""`remediate validate`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from remediate.cli import format_option, repo_option, resolve_format
from remediate.errors import Problem
from remediate.service.validate import ValidationReport
from remediate.service.validate import validate as run_validate

FORMATS = ("text", "json", "github")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@repo_option
@format_option(*FORMATS)
def validate(paths: tuple[str, ...], repo: str, output_format: str | None) -> int:
    """Check every document: YAML, schema, references.

    Each problem is printed as `file:line: key.path: message`. With PATHs, only
    those files or directories are checked (against the repository's action
    types, policies and settings). Exit 0 when valid, 1 when any document is
    invalid, 2 on misuse.
    """
    from remediate.documents.yamlstrict import HAVE_LIBYAML

    if not HAVE_LIBYAML:
        click.echo(
            "remediate: warning: PyYAML has no libyaml here; parsing is ~8x slower", err=True
        )
    report = run_validate(Path(repo), paths, keep_documents=False)
    RENDERERS[resolve_format(output_format, FORMATS)](report)
    return 0 if report.valid else 1


def _text(report: ValidationReport) -> None:
    for problem in report.problems:
        click.echo(str(problem), err=problem.severity == "error")
    documents = report.count
    if report.valid:
        click.echo(f"{documents} documents in {report.files} files: valid")
    else:
        click.echo(f"{len(report.errors)} error(s) in {report.files} files", err=True)


def _json(report: ValidationReport) -> None:
    body = {
        "valid": report.valid,
        "errors": [p.as_json() for p in report.errors],
        "warnings": [p.as_json() for p in report.problems if p.severity == "warning"],
    }
    click.echo(json.dumps(body, indent=2))


def _github(report: ValidationReport) -> None:
    for problem in report.problems:
        click.echo(annotation(problem))
    _text(report)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(_summary(report))


def annotation(problem: Problem) -> str:
    """A GitHub workflow command: `::error file=…,line=…::message`."""
    level = "error" if problem.severity == "error" else "warning"
    props = f"file={_escape_property(problem.file)}"
    if problem.line:
        props += f",line={problem.line}"
    message = f"{problem.path}: {problem.message}" if problem.path else problem.message
    return f"::{level} {props}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _summary(report: ValidationReport) -> str:
    if report.valid:
        return f"### remediate validate\n\n{report.count} documents: valid\n"
    rows = "".join(
        f"| `{p.file}` | {p.line} | {_cell(p.path)} | {_cell(p.message)} |\n" for p in report.errors
    )
    return (
        f"### remediate validate\n\n{len(report.errors)} error(s)\n\n"
        f"| file | line | key | problem |\n|---|---|---|---|\n{rows}"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


RENDERERS = {"text": _text, "json": _json, "github": _github}
