"""GitHub mode of `validate`: annotations on the diff and a table in the job summary.

Annotations name files relative to GITHUB_WORKSPACE, where GitHub looks them up (not to
`--repo`, which may be a subdirectory). The summary lists errors, then warnings, with
every cell escaped, and stays under GitHub's limit of 1 MiB per step (counting what
earlier commands of the step wrote there): past it, GitHub drops the whole summary, so
the table ends with how many problems it left out.
"""

from __future__ import annotations

import os
from pathlib import Path

from remediate.cli.output import command_line, echo
from remediate.documents.repository import ValidationReport
from remediate.errors import Problem
from remediate.service.markdown import SUMMARY_LIMIT, cell, fit


class Workspace:
    """Maps a file relative to the repository to the path GitHub knows it by."""

    def __init__(self, repo: Path, workspace: str | None) -> None:
        self.repo = repo.resolve()
        self.base = Path(workspace).resolve() if workspace else Path.cwd()

    def __call__(self, file: str) -> str:
        try:
            return (self.repo / file).relative_to(self.base).as_posix()
        except ValueError:  # outside the workspace: as the repository names it
            return file


def annotation(problem: Problem, file: str | None = None) -> str:
    """`::error file=…,line=…::key.path: message` (or `::warning …`)."""
    level = "error" if problem.severity == "error" else "warning"
    message = f"{problem.path}: {problem.message}" if problem.path else problem.message
    return command_line(level, message, file=file or problem.file, line=problem.line)


def headline(report: ValidationReport) -> str:
    warnings = len(report.problems) - len(report.errors)
    tail = f", {warnings} warning(s)" if warnings else ""
    if report.valid:
        return f"{report.count} documents in {report.files} files: valid{tail}"
    return f"{len(report.errors)} error(s) in {report.files} files{tail}"


def summary(report: ValidationReport, where: Workspace, room: int) -> str:
    """The summary in at most `room` bytes (UTF-8): a headline and a table of problems."""
    head = f"### remediate validate\n\n{headline(report)}\n"
    problems = report.errors + [p for p in report.problems if p.severity != "error"]
    if not problems:
        return head
    head += "\n| level | file | line | key | problem |\n|---|---|---|---|---|\n"
    rows = [
        f"| {p.severity} | {cell(where(p.file))} | {p.line} | {cell(p.path)} | {cell(p.message)} |\n"
        for p in problems
    ]
    errors = len(report.errors)  # the rows hold the errors first

    def left_out(shown: int) -> str:
        more_errors = max(errors - shown, 0)
        return _left_out(more_errors, len(problems) - shown - more_errors)

    text, _ = fit(head, rows, left_out, size=room)
    return text


def _left_out(errors: int, warnings: int) -> str:
    if not errors and not warnings:
        return ""
    parts = [f"{errors} more error(s)"] if errors else []
    if warnings:
        parts.append(f"{warnings} more warning(s)")
    return f"\n… and {' and '.join(parts)}: see the log of this step.\n"


def write_summary(path: str, report: ValidationReport, where: Workspace) -> None:
    """Append the summary to GITHUB_STEP_SUMMARY, within what is left of the limit."""
    try:
        room = SUMMARY_LIMIT - (os.path.getsize(path) if os.path.exists(path) else 0)
        text = summary(report, where, room)
        if len(text.encode()) > room:
            return  # earlier commands used the room: the log has everything
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        echo(f"remediate: warning: cannot write the job summary {path}: {exc.strerror}", err=True)
