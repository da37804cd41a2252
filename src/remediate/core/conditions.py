"""CEL conditions: compile once, bound at validate time, evaluate with memoisation.

The CEL library (`common-expression-language`, Rust) has no cost limit and no
timeout, segfaults on very long flat operator chains and lets nested
comprehensions grow without bound, so every expression is checked against
`bound_problems` before it is compiled. Evaluation cost is dominated by the
conversion of Python values into CEL values (about 3 µs per string), so a
condition receives only the fields it reads, and its result is memoised on
the tuple of those values: requests that agree on them share one evaluation.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from remediate.core.condition_checks import condition_problems

# Bounds a hostile or careless expression cannot exceed (see docs/policy.md).
MAX_LENGTH = 2000
MAX_DEPTH = 32
MAX_MACROS = 3
ROOTS = ("request", "now", "context")
MACROS = ("all", "exists", "exists_one", "map", "filter")
CACHE_LIMIT = 200_000

_STR = re.compile(
    r"""[rRbB]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')"""
)
_INDEX = re.compile(
    r"""\b(request|context)\s*\[\s*(?:"((?:\\.|[^"\\])*)"|'((?:\\.|[^'\\])*)')\s*\]"""
)
_DYNAMIC_INDEX = re.compile(r"(?<![\w.])(request|context)\s*\[")
_DOT = re.compile(r"(?<![\w.])(request|context)((?:\s*\.\s*[A-Za-z_]\w*)+)(\s*\()?")
_MACRO = re.compile(r"\.\s*(all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_ROOT_USE = re.compile(r"(?<![\w.])(request|context)\b")
_FIELD_USE = re.compile(r"\s*(?:\.\s*[A-Za-z_]\w*(?!\w|\s*\()|\[\s*\")")
_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*)")


class ConditionError(ValueError):
    """A condition that does not compile or breaks a bound; `line` is 1-based within it."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


def load_cel() -> Any:
    """Import the CEL library without its command line (typer, rich: ~250 ms)."""
    if "cel" not in sys.modules:
        sys.modules.setdefault("cel.cli", types.ModuleType("cel.cli"))
    import cel

    return cel


def _masked(source: str) -> str:
    """The source with string literals blanked, so their content is not read as code."""
    return _STR.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', source)


def _depth(masked: str) -> int:
    depth = deepest = 0
    for ch in masked:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    return deepest


def _macro_spans(masked: str) -> list[tuple[int, int]]:
    """(start, end) of the argument text of each comprehension macro call."""
    spans = []
    for m in _MACRO.finditer(masked):
        depth, pos = 1, m.end()
        while pos < len(masked) and depth:
            if masked[pos] == "(":
                depth += 1
            elif masked[pos] == ")":
                depth -= 1
            pos += 1
        spans.append((m.start(), pos))
    return spans


def bound_problems(source: str) -> list[str]:
    """Why `source` is too costly or too dynamic to evaluate safely (empty: fine)."""
    problems = []
    if len(source) > MAX_LENGTH:
        problems.append(f"expression is {len(source)} characters long; the limit is {MAX_LENGTH}")
        return problems
    masked = _masked(source)
    depth = _depth(masked)
    if depth > MAX_DEPTH:
        problems.append(f"expression nests brackets {depth} deep; the limit is {MAX_DEPTH}")
    spans = _macro_spans(masked)
    if len(spans) > MAX_MACROS:
        problems.append(
            f"expression uses {len(spans)} comprehensions (all, exists, exists_one, map, filter); "
            f"the limit is {MAX_MACROS}"
        )
    for i, (start, end) in enumerate(spans):
        if any(start < s < end for s, _ in spans[i + 1 :]):
            problems.append("a comprehension inside another comprehension is not allowed")
            break
    for m in _MACRO.finditer(masked):
        if m.group(2) in ROOTS:
            problems.append(
                f"comprehension variable {m.group(2)!r} would hide the input of that name"
            )
    for m in _DYNAMIC_INDEX.finditer(masked):
        if not masked[m.end() :].lstrip().startswith('"'):
            problems.append(
                f"fields of {m.group(1)} must be named literally "
                f'({m.group(1)}.x or {m.group(1)}["x"])'
            )
            break
    return problems


def whole_roots(source: str) -> frozenset[str]:
    """Roots used other than through a named field (`"x" in request`, `request.size()`)."""
    masked = _masked(source)
    return frozenset(
        m.group(1) for m in _ROOT_USE.finditer(masked) if not _FIELD_USE.match(masked, m.end())
    )


def referenced_paths(source: str) -> dict[str, frozenset[tuple[str, ...]]]:
    """Field paths under `request` and `context` that `source` reads.

    `request.action.parameters.replicas` reads that path only; a method call
    ends a path (`request.severity.startsWith(...)` reads `severity`), and
    `request["x"]` reads `x`. A root used bare reads everything (`whole_roots`).
    """
    out: dict[str, set[tuple[str, ...]]] = {}
    for m in _INDEX.finditer(source):
        key = m.group(2) if m.group(2) is not None else m.group(3)
        out.setdefault(m.group(1), set()).add((key,))
    for m in _DOT.finditer(_masked(source)):
        path = tuple(part.strip() for part in m.group(2).split(".")[1:])
        if m.group(3):  # the last name is a method called on the path before it
            path = path[:-1]
        out.setdefault(m.group(1), set()).add(path)
    return {root: frozenset(_minimal(paths)) for root, paths in out.items()}


def _minimal(paths: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Drop paths under another path (reading `a` covers `a.b`); `()` is everything."""
    return {p for p in paths if not any(q != p and p[: len(q)] == q for q in paths)}


@dataclass
class Condition:
    """A compiled condition and the inputs it reads (`None`: the whole input)."""

    source: str
    program: Any
    request_paths: tuple[tuple[str, ...], ...] | None
    context_paths: tuple[tuple[str, ...], ...] | None
    uses_request: bool
    uses_context: bool
    uses_now: bool
    cache: dict[Any, bool | str] = field(default_factory=dict, repr=False)
    # The one top-level request field a request-only condition reads (its memo key is
    # that value when it is a str or an int): the hot path of `evaluate`.
    single: str | None = None

    def __post_init__(self) -> None:
        paths = self.request_paths
        if (
            self.uses_request
            and not self.uses_context
            and not self.uses_now
            and paths is not None
            and len(paths) == 1
            and len(paths[0]) == 1
        ):
            self.single = paths[0][0]

    def key(self, request: Mapping[str, Any], context: Mapping[str, Any], now: datetime) -> Any:
        """The memo key: the values this condition reads, and nothing else."""
        paths = self.request_paths
        if self.uses_request:
            if paths is not None and len(paths) == 1 and len(paths[0]) == 1:
                value = request.get(paths[0][0], MISSING)
                kind = type(value)
                part = value if kind is str or kind is int else _hashable(value)
            else:
                part = input_key(request, paths)
        else:
            part = None
        if not self.uses_context and not self.uses_now:
            return part
        return (
            part,
            input_key(context, self.context_paths) if self.uses_context else None,
            now if self.uses_now else None,
        )

    def evaluate(
        self, request: Mapping[str, Any], context: Mapping[str, Any], now: datetime
    ) -> bool | str:
        """True/False, or the error text when evaluation failed (the caller fails closed)."""
        key = self.key(request, context, now)
        found = self.cache.get(key)
        if found is not None:
            return found
        return self.run(key, request, context, now)

    def run(
        self, key: Any, request: Mapping[str, Any], context: Mapping[str, Any], now: datetime
    ) -> bool | str:
        """Evaluate (a memo miss) and remember the result under `key`."""
        result = self._run(request, context, now)
        if len(self.cache) >= CACHE_LIMIT:
            self.cache.clear()
        self.cache[key] = result
        return result

    def _run(
        self, request: Mapping[str, Any], context: Mapping[str, Any], now: datetime
    ) -> bool | str:
        variables: dict[str, Any] = {}
        if self.uses_request:
            variables["request"] = _cut(request, self.request_paths)
        if self.uses_context:
            variables["context"] = _cut(context, self.context_paths)
        if self.uses_now:
            variables["now"] = now
        try:
            value = self.program.execute(variables)
        except Exception as exc:  # the library raises plain builtins; every one fails closed
            return f"{type(exc).__name__}: {exc}"
        if not isinstance(value, bool):
            return f"the condition gave {type(value).__name__} {value!r}, not true or false"
        return value


class _Missing:
    """A path that stops at `depth`: part of a memo key, never a CEL value."""

    __slots__ = ("depth",)

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Missing) and other.depth == self.depth

    def __hash__(self) -> int:
        return hash(("missing", self.depth))


MISSING = _Missing(0)  # a top-level field that is absent


def _at(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for depth, part in enumerate(path):
        if not isinstance(node, dict) or part not in node:
            return _Missing(depth)
        node = node[part]
    return node


def union_paths(
    groups: list[tuple[tuple[str, ...], ...] | None],
) -> tuple[tuple[str, ...], ...] | None:
    """The paths several conditions read together (None: one of them reads everything)."""
    if any(g is None for g in groups):
        return None
    merged = {p for g in groups if g is not None for p in g}
    return tuple(sorted(_minimal(merged)))


def input_key(data: Mapping[str, Any], paths: tuple[tuple[str, ...], ...] | None) -> Any:
    if paths is None:
        return _hashable(dict(data))
    return tuple(_hashable(_at(data, p)) for p in paths)


def _cut(data: Mapping[str, Any], paths: tuple[tuple[str, ...], ...] | None) -> Any:
    """Only the values at `paths`, nested as in `data`, converted for CEL.

    Maps along a path are kept even when the path stops early, so `has()`
    and missing keys behave exactly as they would on the whole input.
    """
    if paths is None or () in paths:
        return _plain(data)
    out: dict[str, Any] = {}
    for path in paths:
        source: Any = data
        target = out
        for i, part in enumerate(path):
            if not isinstance(source, dict) or part not in source:
                break
            value = source[part]
            if i == len(path) - 1 or not isinstance(value, dict):
                target[part] = _plain(value)
                break
            source = value
            target = target.setdefault(part, {})
    return out


def _plain(value: Any) -> Any:
    """Values CEL can take: dates become ISO strings, containers are walked."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _hashable(value: Any) -> Any:
    """A memo key for a value; types are tagged so True, 1 and 1.0 (equal in Python) differ."""
    kind = type(value)
    if kind is str or kind is int or kind is _Missing or value is None:
        return value
    if kind is bool or kind is float:
        return (kind.__name__, value)
    if isinstance(value, dict):
        return ("map", tuple(sorted((str(k), _hashable(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("list", tuple(_hashable(v) for v in value))
    return (kind.__name__, str(value))


def compile_condition(source: str, roots: tuple[str, ...] = ROOTS) -> Condition:
    """Check the bounds, compile, and check the names the expression uses (`roots`: the
    variables it may read; a follow-up's condition reads request, result and now)."""
    problems = bound_problems(source)
    if problems:
        raise ConditionError("; ".join(problems))
    cel = load_cel()
    try:
        program = cel.compile(source)
    except Exception as exc:  # ValueError with `<input>:line:col: message`
        raise _compile_error(source, str(exc)) from None
    comprehension_vars = {m.group(2) for m in _MACRO.finditer(_masked(source))}
    unknown = sorted(set(program.variables()) - set(roots) - comprehension_vars)
    if unknown:
        readable = ", ".join(roots[:-1]) + " and " + roots[-1]
        raise ConditionError(f"unknown variable {unknown[0]!r} (a condition can read {readable})")
    found = condition_problems(source, lambda text: _literal(cel, text))
    if found:
        raise ConditionError(*found[0])
    paths = referenced_paths(source)
    whole = whole_roots(source)
    used = set(program.variables())
    return Condition(
        source=source,
        program=program,
        request_paths=None if "request" in whole else tuple(sorted(paths.get("request", ()))),
        context_paths=None if "context" in whole else tuple(sorted(paths.get("context", ()))),
        uses_request="request" in used,
        uses_context="context" in used,
        uses_now="now" in used,
    )


def _literal(cel: Any, text: str) -> Any:
    """A literal's value as the CEL library reads it (escapes, raw strings), None if it fails."""
    try:
        return cel.compile(text).execute({})
    except Exception:  # the library raises plain builtins
        return None


def _compile_error(source: str, text: str) -> ConditionError:
    found = _POSITION.search(text)
    if found is None:
        return ConditionError(f"not a valid CEL expression: {text.splitlines()[0][:300]}")
    line, column, message = int(found.group(1)), int(found.group(2)), found.group(3)
    return ConditionError(
        f"not a valid CEL expression: line {line} column {column}: {message.strip()}", line
    )
