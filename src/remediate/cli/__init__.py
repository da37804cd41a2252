"""The `remediate` command line: a thin click layer over `remediate.service`.

Commands live one per module and are imported only when run, so that
`remediate --help` does not pay for git, GitHub, jinja2 or CEL. `main` is the
one boundary that turns errors into exit codes: 1 when the user must act, 2
for misuse, 70 for a bug (with a one-line message, never a bare traceback);
under `--format json` each error is also `{"error": {"message", "code"}}` on
stdout. Everything printed goes through `remediate.cli.output`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any, TypeVar

import click

from remediate import __version__
from remediate.cli import output

if TYPE_CHECKING:
    from datetime import datetime

# command name → (module under remediate.cli, function, one-line help). The one-liner is
# the first paragraph of the command's docstring (a meta-test holds them equal), copied
# here so that `remediate --help` imports no command module.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("init", "init", "Scaffold a remediation repository in DIRECTORY (default: here)."),
    "validate": ("validate", "validate", "Check every document: YAML, schema, references."),
    "apply": (
        "apply",
        "apply",
        "Record decisions, execute QUEUED requests, write the audit, push.",
    ),
    "approve": ("approve", "approve", "Approve a PENDING_APPROVAL request as the acting identity."),
    "reject": ("reject", "reject", "Reject a PENDING_APPROVAL request; it never executes."),
    "cancel": (
        "cancel",
        "cancel",
        "Cancel a request that has not started.",
    ),
    "status": ("status", "status", "The current status of every request, or of one."),
    "history": ("history", "history", "Audit events of one incident's requests, newest first."),
    "actions": (
        "actions",
        "actions",
        "Audit events, newest first, filtered by status and environment.",
    ),
    "audit": ("audit", "audit", "The audit log: verify its hash chains and authorship."),
    "plan": ("plan", "plan", "Decide every request that has not started, with no side effects."),
    "explain": ("explain", "explain", "Why request ID is in its state, and what would change it."),
    "policy": ("policy", "policy", "Guardrail policies: run their tests."),
    "github": ("github", "github", "Act on the current GitHub Actions event."),
    "stats": ("stats", "stats", "Aggregate counts of the recorded requests, and the success rate."),
    "signal": (
        "stats",
        "signal",
        "The operator priority signal: normal, warning or critical, and why.",
    ),
    "report": (
        "report",
        "report",
        "The digest of a period: totals, failures, approvals, overrides, the signal.",
    ),
    "export": (
        "export",
        "export",
        "Export the audit: one CSV row per request in its current state.",
    ),
    "retention": (
        "retention",
        "retention",
        "Audit retention: replace events older than retentionDays by checkpoints.",
    ),
    "import": ("importer", "import_", "Import security findings: SARIF 2.1.0 from any scanner."),
    "findings": (
        "findings",
        "findings",
        "Security findings and their lifecycle: list, show, set-status, events.",
    ),
    "tick": (
        "tick",
        "tick",
        "Run the schedules that are due, once each, catching up as each schedule says.",
    ),
}

EXIT_BUG = 70


class Invocation:
    """What the boundary knows of this run: the output format its errors must take."""

    def __init__(self, output_format: str) -> None:
        self.output_format = output_format


class Command(click.Command):
    """A remediate command: tells the boundary its format, then checks `--repo`.

    Every command that takes `--repo` needs a remediation repository there (see
    `remediate.service.repository`); `policy test` also accepts a policy library.
    """

    def __init__(self, *args: Any, policy_library: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy_library = policy_library

    def invoke(self, ctx: click.Context) -> Any:
        invocation = ctx.find_object(Invocation)
        chosen = ctx.params.get("output_format")
        if invocation is not None and chosen:
            invocation.output_format = chosen
        if ctx.params.get("repo") is not None:
            from pathlib import Path

            from remediate.service.repository import require

            require(Path(ctx.params["repo"]), self.policy_library)
        return super().invoke(ctx)


F = TypeVar("F", bound=Any)


def command(**kwargs: Any) -> Callable[[F], click.Command]:
    """`@click.command` with the boundary's `Command` class."""
    return click.command(cls=Command, **kwargs)


def time_value(flag: str, text: str | None) -> datetime | None:
    """The RFC 3339 time a `--since`/`--from`… option gives (None without one); a bad
    one is misuse (exit 2) naming the flag."""
    if text is None:
        return None
    from remediate.core.times import parse_time
    from remediate.errors import UsageError

    try:
        return parse_time(text)
    except ValueError as exc:
        raise UsageError(f"{flag} {text}: {exc}") from None


def example(*lines: str) -> str:
    """A help epilog with one example: `Example:` and the command line, kept as written."""
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        found: click.Command = getattr(import_module(f"remediate.cli.{module}"), attribute)
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=example("remediate validate && remediate plan --now 2026-11-23T10:00:00Z"),
)
@click.version_option(__version__, prog_name="remediate")
def cli() -> None:
    """GitOps remediation runner: validate, plan and apply remediation requests kept in git.

    Every command but init runs in a remediation repository: remediate.yaml at
    the root of --repo, in a git repository. Exit 0 on success, 1 when the
    documents, a policy test or an action failed, 2 on misuse.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map every outcome to an exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    invocation = Invocation(_format_in(args))
    github = os.environ.get("GITHUB_ACTIONS") == "true" or invocation.output_format == "github"
    output.configure(github)
    try:
        code = cli.main(args=args, prog_name="remediate", standalone_mode=False, obj=invocation)
    except click.exceptions.Abort:
        sys.exit(_fail("aborted", 1, invocation))
    except click.ClickException as exc:
        exc.show(file=output.error_stream())
        sys.exit(
            _fail(
                exc.format_message(),
                2 if exc.exit_code == 2 else exc.exit_code,
                invocation,
                shown=True,
            )
        )
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # the one place that catches every error
        sys.exit(_report(exc, invocation))
    sys.exit(code if isinstance(code, int) else 0)


def _format_in(args: list[str]) -> str:
    """The `--format` given on the command line, before click parsed it (errors in parsing
    are reported in it too); "text" when none."""
    found = "text"
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--format" and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith("--format="):
            found = arg.partition("=")[2]
    return found


def _report(exc: Exception, invocation: Invocation) -> int:
    """Print an error for people and return its exit code (imported late: --help stays fast)."""
    from remediate.errors import RemediateError

    if isinstance(exc, RemediateError):
        return _fail(str(exc), exc.exit_code, invocation, problems=getattr(exc, "problems", []))
    if os.environ.get("REMEDIATE_DEBUG"):
        raise exc
    return _fail(f"internal error: {type(exc).__name__}: {exc}", EXIT_BUG, invocation)


def _fail(
    message: str,
    code: int,
    invocation: Invocation,
    problems: list[Any] | None = None,
    shown: bool = False,
) -> int:
    """Say what went wrong: on stderr for people, and as JSON on stdout under --format json."""
    if not shown:
        output.echo(f"remediate: {message}", err=True)
        for problem in problems or []:
            output.echo(str(problem), err=True)
        if code == EXIT_BUG:
            output.echo(
                "remediate: this is a bug; set REMEDIATE_DEBUG=1 for the traceback", err=True
            )
    if invocation.output_format == "json":
        body: dict[str, Any] = {"error": {"message": message, "code": code}}
        if problems:
            body["errors"] = [p.as_json() for p in problems]
        output.echo_json(body)
    return code


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
