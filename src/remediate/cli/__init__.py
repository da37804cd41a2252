"""The `remediate` command line: a thin click layer over `remediate.service`.

Commands live one per module and are imported only when run, so that
`remediate --help` does not pay for git, GitHub, jinja2 or CEL. `main` is the
one boundary that turns errors into exit codes: 1 when the user must act, 2
for misuse, 70 for a bug (with a one-line message, never a bare traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any, TypeVar

import click

from remediate import __version__

# command name → (module under remediate.cli, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("init", "init", "Scaffold a remediation repository."),
    "validate": ("validate", "validate", "Check every document: schema, references, lines."),
    "apply": ("apply", "apply", "Record decisions, execute QUEUED requests, write the audit."),
    "approve": ("approve", "approve", "Approve (or, with a reason, override) a request."),
    "reject": ("reject", "reject", "Reject a PENDING_APPROVAL request."),
    "cancel": ("cancel", "cancel", "Cancel a request that has not started."),
    "status": ("status", "status", "Current status of every request, or of one."),
    "history": ("history", "history", "Audit events of one incident, newest first."),
    "actions": ("actions", "actions", "Audit events, newest first, filtered."),
    "audit": ("audit", "audit", "The audit log: verify its hash chains and authorship."),
    "plan": ("plan", "plan", "Decide requests that have not started, with no side effects."),
    "explain": ("explain", "explain", "Why a request is in its state, and what would change it."),
    "policy": ("policy", "policy", "Guardrail policies: run their tests (policy test)."),
}

EXIT_BUG = 70


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command: click.Command = getattr(import_module(f"remediate.cli.{module}"), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="remediate")
def cli() -> None:
    """GitOps remediation runner: validate, plan and apply remediation requests kept in git."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map every outcome to an exit code."""
    try:
        code = cli.main(args=argv, prog_name="remediate", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("remediate: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # the one place that catches every error
        sys.exit(_report(exc))
    sys.exit(code if isinstance(code, int) else 0)


def _report(exc: Exception) -> int:
    """Print an error for people and return its exit code (imported late: --help stays fast)."""
    from remediate.errors import RemediateError

    if isinstance(exc, RemediateError):
        click.echo(f"remediate: {exc}", err=True)
        for problem in getattr(exc, "problems", []):
            click.echo(str(problem), err=True)
        return exc.exit_code
    if os.environ.get("REMEDIATE_DEBUG"):
        raise exc
    click.echo(f"remediate: internal error: {type(exc).__name__}: {exc}", err=True)
    click.echo("remediate: this is a bug; set REMEDIATE_DEBUG=1 for the traceback", err=True)
    return EXIT_BUG


F = TypeVar("F", bound=Any)


def repo_option(func: F) -> F:
    """`--repo PATH`, taken by every command."""
    return click.option(
        "--repo",
        "repo",
        type=click.Path(file_okay=False, path_type=str),
        default=".",
        show_default=True,
        help="The remediation repository.",
    )(func)


def format_option(*choices: str, default: str = "text") -> Callable[[F], F]:
    """`--format`, defaulting to github annotations inside GitHub Actions when offered."""

    def decorate(func: F) -> F:
        return click.option(
            "--format",
            "output_format",
            type=click.Choice(choices),
            default=None,
            help=f"Output format (default {default}"
            + ("; github when GITHUB_ACTIONS=true" if "github" in choices else "")
            + ").",
        )(func)

    return decorate


def resolve_format(chosen: str | None, choices: tuple[str, ...] = ("text",)) -> str:
    if chosen:
        return chosen
    if "github" in choices and os.environ.get("GITHUB_ACTIONS") == "true":
        return "github"
    return "text"
