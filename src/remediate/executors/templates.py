"""Checking executor templates without running them (used by `validate`).

Kept apart from `executors.base`, which pulls in the adapters, so that
validating a repository imports only jinja2's parser. Parsing does not depend
on the sandbox: the sandbox limits what a template may *do* when rendered, and
`executors.base.render` renders with it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# The names `executors.base.template_data` provides to every template.
TEMPLATE_NAMES = ("parameters", "request")


def template_problems(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(key path, message) for every template in `value` that cannot render: syntax or names."""
    if isinstance(value, dict):
        return [
            p for k, v in value.items() for p in template_problems(v, f"{path}.{k}" if path else k)
        ]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in template_problems(v, f"{path}[{i}]")]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return []
    problem = _check(value)
    return [(path, problem)] if problem else []


# `{{ parameters.x }}`, `{{ request.serviceName }}`: most templates are only such
# substitutions, which always parse and read only allowed names; they are
# accepted without importing jinja2 (~60 ms), everything else is parsed.
_SIMPLE = re.compile(r"\{\{\s*(?:parameters|request)(?:\.[A-Za-z_][A-Za-z0-9_]*)*\s*\}\}")
_DELIMITERS = ("{{", "{%", "{#")


@lru_cache(maxsize=4096)
def _check(source: str) -> str | None:
    rest = _SIMPLE.sub("", source)
    if not any(d in rest for d in _DELIMITERS):
        return None
    import jinja2
    from jinja2 import meta

    try:
        names = meta.find_undeclared_variables(_parser().parse(source))
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    unknown = sorted(names - set(TEMPLATE_NAMES))
    if unknown:
        return f"template reads {', '.join(unknown)}; it may read only {', '.join(TEMPLATE_NAMES)}"
    return None


@lru_cache(maxsize=1)
def _parser() -> Any:
    import jinja2

    return jinja2.Environment(autoescape=False)
