"""Executor templates: checking them (used by `validate`) and rendering them, within bounds.

Kept apart from `executors.base`, which pulls in the adapters, so that validating a
repository imports only jinja2, and only for templates that are more than simple
substitutions. Both checking and rendering use the bounded sandbox
(`executors.sandbox`), which evaluates nothing while compiling: a template that builds
a huge value is refused when it renders, and `validate` renders the templates that read
no data at all, so that such a constant is reported there, at its line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

# The names `executors.base.template_data` provides to every template.
TEMPLATE_NAMES = ("parameters", "request")
MAX_RENDERED = 64 * 1024  # one rendered string
MAX_TEMPLATE_STEPS = 100_000  # loop iterations and calls while rendering one string
_DELIMITERS = ("{{", "{%", "{#")


class RenderError(Exception):
    """A template that cannot render (within its bounds); the message names the cause."""

    def __init__(self, message: str, *, oversize: bool = False) -> None:
        super().__init__(message)
        self.oversize = oversize


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def render_pieces(source: str, data: Mapping[str, Any]) -> list[str]:
    """What `source` renders to, piece by piece: text the template wrote itself comes as
    `sandbox.Literal`, everything else (expressions, hence request data) as plain `str`.
    Streamed, so the size cap stops a loop; RenderError on any failure."""
    pieces: list[str] = []
    size = 0
    try:
        with environment().budget(MAX_TEMPLATE_STEPS):
            for piece in _compile(source).generate(data):
                pieces.append(piece)
                size += len(piece)
                if size > MAX_RENDERED:
                    break
    except Exception as exc:  # any failure of a template is the action's, with its cause
        raise RenderError(f"{type(exc).__name__}: {exc}") from None
    if size > MAX_RENDERED:
        raise RenderError(f"renders over {MAX_RENDERED} characters (the max)", oversize=True)
    return pieces


@lru_cache(maxsize=1)
def environment() -> Any:
    from jinja2 import StrictUndefined

    from remediate.executors.sandbox import BoundedSandbox

    return BoundedSandbox(MAX_RENDERED, undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    return environment().from_string(source)


def template_problems(
    value: Any, path: str = "", names: tuple[str, ...] = TEMPLATE_NAMES
) -> list[tuple[str, str]]:
    """(key path, message) for every template in `value` that cannot render: syntax or
    names (`names`: what its data holds; an executor's templates read TEMPLATE_NAMES, an
    auto-remediation rule's `finding`)."""
    if isinstance(value, dict):
        return [
            p
            for k, v in value.items()
            for p in template_problems(v, f"{path}.{k}" if path else k, names)
        ]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in template_problems(v, f"{path}[{i}]", names)]
    if not isinstance(value, str) or not is_template(value):
        return []
    problem = _check(value, names)
    return [(path, problem)] if problem else []


# `{{ parameters.x }}`, `{{ request.serviceName }}`: most templates are only such
# substitutions, which always parse and read only allowed names; they are
# accepted without importing jinja2 (~60 ms), everything else is parsed.
_SIMPLE = re.compile(r"\{\{\s*(?:parameters|request)(?:\.[A-Za-z_][A-Za-z0-9_]*)*\s*\}\}")


@lru_cache(maxsize=4096)
def _check(source: str, allowed: tuple[str, ...] = TEMPLATE_NAMES) -> str | None:
    rest = _SIMPLE.sub("", source) if allowed == TEMPLATE_NAMES else source
    if not any(d in rest for d in _DELIMITERS):
        return None
    import jinja2

    from remediate.executors.sandbox import undeclared_names

    try:
        names = undeclared_names(environment(), source)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    except Exception as exc:  # the compiler's own refusals (TemplateAssertionError, …)
        return f"template cannot compile: {type(exc).__name__}: {exc}"
    unknown = sorted(names - set(allowed))
    if unknown:
        return f"template reads {', '.join(unknown)}; it may read only {', '.join(allowed)}"
    if not names:  # the same on every request: render it now, within the same bounds
        try:
            render_pieces(source, {})
        except RenderError as exc:
            return f"template cannot render: {exc}"
    return None
