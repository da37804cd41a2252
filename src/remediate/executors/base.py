"""What every executor receives and returns, templating and redaction."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from remediate.adapters import environment as runner_environment
from remediate.adapters.process import LocalProcesses
from remediate.core.model import DEFAULT_EXECUTOR_ENVIRONMENT, ActionType, Request
from remediate.core.processes import ProcessRunner
from remediate.executors.redaction import MAX_OUTPUT as MAX_OUTPUT
from remediate.executors.redaction import REDACTED as REDACTED
from remediate.executors.redaction import Redactor as Redactor
from remediate.executors.templates import MAX_RENDERED as MAX_RENDERED
from remediate.executors.templates import MAX_TEMPLATE_STEPS as MAX_TEMPLATE_STEPS
from remediate.executors.templates import TEMPLATE_NAMES as TEMPLATE_NAMES
from remediate.executors.templates import RenderError, is_template, render_pieces

if TYPE_CHECKING:
    from remediate.service.ports import Forge

SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH)", re.IGNORECASE)


class ExecutorError(Exception):
    """The action could not be carried out as configured (a template, a missing secret)."""


@dataclass(frozen=True)
class ExecutionContext:
    request: Request
    action: ActionType
    environment: Mapping[str, str]  # the runner's environment; executors pick by allow-list
    allowed_environment: tuple[str, ...]  # Settings.executor_environment
    root: Path
    idempotency_key: str
    attempt: int = 1
    # what runs the action's processes: the session's, passed down by the execute phase
    processes: ProcessRunner = field(default_factory=LocalProcesses)
    runner: str = ""  # the runner's e-mail (Settings.spec.runner): its commits, and only them
    forge: Mapping[str, Any] = field(default_factory=dict)  # Settings.spec.forge
    # opens the Forge port of Settings.spec.forge (wiring builds it: GitHub or local git)
    open_forge: Callable[[], Forge] | None = None


@dataclass(frozen=True)
class ExecutionResult:
    ok: bool
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    outcome_unknown: bool = False


class Executor(Protocol):
    def run(self, context: ExecutionContext) -> ExecutionResult: ...


def refuse_characters(where: str, value: str, characters: str = "\x00") -> str:
    """`value`, unless it holds one of `characters` (NUL by default: no process takes it)."""
    found = sorted({c for c in characters if c in value})
    if found:
        names = ", ".join("NUL" if c == "\x00" else repr(c) for c in found)
        raise ExecutorError(f"{where} contains a control character ({names}) after rendering")
    return value


# What any action may receive; beyond it only what the runner allows (REMEDIATE_PASS_ENV)
SAFE_ENVIRONMENT = frozenset(DEFAULT_EXECUTOR_ENVIRONMENT)


def check_environment(context: ExecutionContext, wanted: Iterable[tuple[str, str]]) -> None:
    """Refuse every (field, variable name) the runner does not let actions receive.

    The repository names variables (`passEnv`, `executorEnvironment`, `secretHeaders`);
    the runner's own REMEDIATE_PASS_ENV caps them, so no commit can reach its secrets.
    """
    allowed = SAFE_ENVIRONMENT | runner_environment.pass_env_ceiling(context.environment)
    refused = [
        f"{where} {name} is not allowed by this runner "
        f"(allow it with {runner_environment.PASS_ENV})"
        for where, name in wanted
        if name not in allowed
    ]
    if refused:
        raise ExecutorError("; ".join(dict.fromkeys(refused)))


def redact_result(result: ExecutionResult, environment: Mapping[str, str]) -> ExecutionResult:
    """`result` with the runner's secret-looking variables redacted once more: the last
    guard, for any executor (a plugin's too), before the audit and the output."""
    return redacted(result, Redactor(ambient_secrets(environment)))


def redacted(result: ExecutionResult, redact: Redactor) -> ExecutionResult:
    """`redact_result` with the redactor of the environment made once (a run's variables
    do not change between its actions)."""
    if not redact.secrets:
        return result
    error = redact(result.error) if result.error is not None else None
    return replace(result, details=redact.value(dict(result.details)), error=error)


def ambient_secrets(environment: Mapping[str, str]) -> list[str]:
    """Values of the runner's variables whose names look secret: redacted wherever they show."""
    return [v for k, v in environment.items() if SECRET_NAME.search(k) and len(v) >= 6]


def template_data(request: Request) -> dict[str, Any]:
    """What a template may read: the request's own data (as data, never as templates)."""
    return {
        "parameters": request.parameters,
        "request": {
            "name": request.name,
            "actionType": request.action_type,
            "serviceName": request.service_name,
            "environment": request.environment,
            "severity": request.severity,
            "incidentId": request.incident_id,
            "findingId": request.spec.get("findingId"),
            "assetId": request.spec.get("assetId"),
        },
    }


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


def render(value: Any, data: Mapping[str, Any]) -> Any:
    """Render every string inside `value` (an executor's config) from `data`."""
    if isinstance(value, str):
        return "".join(_pieces(value, data)) if is_template(value) else value
    if isinstance(value, list):
        return [render(v, data) for v in value]
    if isinstance(value, dict):
        return {k: render(v, data) for k, v in value.items()}
    return value


def render_argv(argv: Iterable[Any], data: Mapping[str, Any]) -> list[str]:
    """Render each argv item; an item whose first visible character is a `-` that request
    data put there (not the template's own text) is refused: a program would read it as an
    option (`-oProxyCommand=…`, `--upload-pack=…`). Blanks before it do not hide it: some
    programs and wrappers strip them. `--` is no escape either: after it, `kubectl exec`,
    `env` or `sudo` hand the rest to another program, which reads options again. Nor may
    data add a `-` to a lone `-` the template wrote (`-{{ x }}` with x = `-upload-pack=…`):
    the template meant a short option, the data made it a long one."""
    items = []
    for i, item in enumerate(argv):
        text = str(item)
        if not is_template(text):
            items.append(text)
            continue
        pieces = _pieces(text, data)
        rendered = "".join(pieces)
        why = _data_dash(pieces)
        if why:
            raise ExecutorError(
                f"argv[{i}] {_short(repr(text))} renders to {_short(repr(rendered))}: {why}"
            )
        items.append(rendered)
    return items


_STARTS = (
    "a request value may not start an argument with '-' (a program would read it as an "
    "option); only the template's own text may, as in '--name={{ … }}'"
)
_LENGTHENS = (
    "a request value may not add a '-' to the template's lone '-' (a program would read "
    "'--…' as a long option); write the option in the template, as in '--name={{ … }}'"
)


def _data_dash(pieces: Iterable[str]) -> str | None:
    """Why the item's leading `-` is the data's, or None: the first visible character is a
    value's `-`, or a value's `-` follows a lone `-` of the template's own text."""
    from remediate.executors.sandbox import Literal

    written = ""  # the visible text before this piece, all of it the template's
    for piece in pieces:
        text = piece if written else piece.lstrip()
        if not text:
            continue  # blanks (the template's or a value's) and empty pieces
        if not isinstance(piece, Literal):
            if text[0] != "-":
                return None
            return _LENGTHENS if written else _STARTS
        written += text
        if written != "-":
            return None
    return None


def _pieces(source: str, data: Mapping[str, Any]) -> list[str]:
    try:
        return render_pieces(source, data)
    except RenderError as exc:
        if exc.oversize:
            raise ExecutorError(f"template {_short(repr(source))} {exc}") from None
        raise ExecutorError(f"template {_short(repr(source))}: {_short(str(exc), 300)}") from None
