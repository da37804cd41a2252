"""`remediate import sarif FILE… [--repository NAME]`."""

from __future__ import annotations

from pathlib import Path

import click

from remediate.cli import Command, example, format_option, repo_option, resolve_format
from remediate.cli.output import echo, echo_json

FORMATS = ("text", "json")


@click.group("import", epilog=example("remediate import sarif bandit.sarif --repository api"))
def import_() -> None:
    """Import security findings: SARIF 2.1.0 from any scanner."""


@import_.command(
    "sarif",
    cls=Command,
    epilog=example("remediate import sarif bandit.sarif semgrep.sarif --repository payments"),
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--repository",
    default=None,
    help="The findings' repository (default: the run's versionControlProvenance, "
    "else Settings metadata.name).",
)
@repo_option
@format_option(*FORMATS)
def sarif(
    files: tuple[Path, ...], repository: str | None, repo: str, output_format: str | None
) -> int:
    """Import SARIF 2.1.0 FILEs as findings, all or nothing.

    Every file is validated first; one that is not SARIF 2.1.0 (each problem as
    FILE: PATH: message) means nothing is imported from any (exit 1). The
    results of one tool and repository are one scan: a finding it no longer
    reports is resolved, one that comes back is reopened; ignored and
    false_positive findings stay as set. Re-importing never duplicates.
    """
    from remediate import wiring
    from remediate.service.importer import import_sarif

    done = import_sarif(wiring.session(Path(repo)), list(files), repository)
    for warning in done.warnings:
        echo(f"warning: {warning}", err=True)
    if resolve_format(output_format, FORMATS) == "json":
        echo_json(done.as_json())
        return 0
    for scan in done.scans:
        c = scan.counts
        echo(
            f"scan {scan.id}: {_plain(scan.tool)} {_plain(scan.repository)}: "
            f"{c['created']} created, {c['updated']} updated, {c['resolved']} resolved, "
            f"{c['reopened']} reopened, {c['unchanged']} unchanged"
        )
    if not done.scans:
        echo("no runs in the files: nothing imported")
    return 0


def _plain(text: str) -> str:
    """Text from a scanner, printable: control characters as `\\xNN`."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
