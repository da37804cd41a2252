"""`remediate github`."""

from __future__ import annotations

import os
from pathlib import Path

from remediate.cli import command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_command, echo_json
from remediate.service.markdown import SUMMARY_LIMIT

FORMATS = ("text", "json")


@command(epilog=example("remediate github --format json"))
@repo_option
@format_option(*FORMATS)
def github(repo: str, output_format: str | None) -> int:
    """Act on the current GitHub Actions event.

    On a pull request (opened, synchronize, reopened): plan the requests it adds
    or changes as of its head commit, keep one comment on it (marked
    <!-- remediate:plan -->) and set the commit status remediate/plan. On a
    submitted review: say which reviews approve the head commit, and refresh
    both. Reads GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY,
    GITHUB_API_URL and GITHUB_TOKEN. Exit 0, or 1 when a document is invalid or
    GitHub cannot be reached.
    """
    from remediate import wiring
    from remediate.cli.annotations import Workspace, annotation
    from remediate.service.github import run

    root = Path(repo)
    outcome = run(wiring.github(root))
    if resolve_format(output_format, FORMATS) == "json":
        echo_json(outcome.as_json())
        return outcome.code
    if os.environ.get("GITHUB_ACTIONS") == "true":
        where = Workspace(root, os.environ.get("GITHUB_WORKSPACE"))
        for problem in outcome.problems:
            echo_command(annotation(problem, where(problem.file)))
        _summary(os.environ.get("GITHUB_STEP_SUMMARY"), outcome.summary)
    for line in outcome.lines:
        echo(line)
    return outcome.code


def _summary(path: str | None, text: str) -> None:
    """Append the comment's Markdown to the job summary while it fits GitHub's 1 MiB."""
    if not path or not text:
        return
    try:
        room = SUMMARY_LIMIT - (os.path.getsize(path) if os.path.exists(path) else 0)
        if len(text.encode()) <= room:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text)
    except OSError as exc:
        echo(f"remediate: warning: cannot write the job summary {path}: {exc.strerror}", err=True)
