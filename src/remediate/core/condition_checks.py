"""What `validate` checks in a condition beyond syntax: the fields it reads and the names
it compares.

The CEL library exposes no syntax tree (only the variables and functions an
expression references). Field reads are found on a token stream: string
literals are single tokens, so their content is never mistaken for code, and
`.name` and `["name"]` are the only ways to read a field (`conditions.bound_problems`
refuses dynamic ones). The literals a name field is compared with are found
exactly, on our own syntax tree (`core.cel_syntax`, `core.name_flow`), for
the conditions that read a name field; where that parser cannot read an
expression the library accepted, the token shapes below (`name_literals`)
are checked instead, so a condition is never refused for our parser's sake.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from remediate.core.cel_syntax import CelSyntaxError
from remediate.core.name_flow import name_uses
from remediate.core.name_patterns import lowered, upper_case_letters
from remediate.core.names import NAME_RULE, first_invisible, first_outside_name

LEAF = "leaf"  # a value without fields (a string, a list)
MAP = "map"  # a free-form map: any key below it may exist
Fields = dict[str, Any]  # name → LEAF, MAP or a nested Fields

# What `core.evaluate` binds (`cel_request`, `cel_context`); a test holds both to these and
# the request fields to the RemediationRequest schema.
REQUEST_FIELDS: Fields = {
    "action": {"type": LEAF, "parameters": MAP},
    "serviceName": LEAF,
    "environment": LEAF,
    "severity": LEAF,
    "incidentId": LEAF,
    "findingId": LEAF,
    "assetId": LEAF,
    "owner": LEAF,
    "notes": LEAF,
    "targetDate": LEAF,
    "labels": MAP,
    "name": LEAF,
}
CONTEXT_FIELDS: Fields = {"requester": LEAF, "approvers": LEAF}
ROOT_FIELDS = {"request": REQUEST_FIELDS, "context": CONTEXT_FIELDS}
# request fields holding names, which conditions see normalized (lower case)
NAME_FIELDS = {"environment": "environment", "serviceName": "service"}
_LITERAL_METHODS = ("startsWith", "endsWith", "contains", "matches")
_EQUALITY = ("==", "!=")

_TOKEN = re.compile(
    r"""(?P<space>\s+|//[^\n]*)
    |(?P<string>[rRbB]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''
        |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
    |(?P<number>0[xX][0-9a-fA-F]+[uU]?|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?[uU]?)
    |(?P<ident>[A-Za-z_]\w*)
    |(?P<op>==|!=|<=|>=|&&|\|\||\S)""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | number | ident | op
    text: str
    start: int


@dataclass(frozen=True)
class FieldRead:
    """`root.a.b` (or `root["a"]`) at `start`; `end` is the index of the token after it."""

    root: str
    path: tuple[str, ...]
    start: int
    first: int  # index of the root token
    end: int
    method: str | None  # the method called on the path, if any


def tokens(source: str) -> list[Token]:
    out = []
    for m in _TOKEN.finditer(source):
        kind = m.lastgroup or "op"
        if kind != "space":
            out.append(Token(kind, m.group(), m.start()))
    return out


def field_reads(toks: list[Token], decode: Callable[[str], Any]) -> Iterator[FieldRead]:
    """Every read of a field under `request` or `context` (not `x.request`)."""
    for i, tok in enumerate(toks):
        if tok.kind != "ident" or tok.text not in ROOT_FIELDS:
            continue
        if i and toks[i - 1].text == ".":
            continue
        path: list[str] = []
        j = i + 1
        while j + 1 < len(toks):
            if toks[j].text == "." and toks[j + 1].kind == "ident":
                path.append(toks[j + 1].text)
                j += 2
            elif toks[j].text == "[" and toks[j + 1].kind == "string" and _at(toks, j + 2) == "]":
                key = decode(toks[j + 1].text)
                if not isinstance(key, str):
                    break
                path.append(key)
                j += 3
            else:
                break
        method = None
        if path and _at(toks, j) == "(" and toks[j - 2].text == ".":
            method = path.pop()
        yield FieldRead(tok.text, tuple(path), tok.start, i, j, method)


def _at(toks: list[Token], i: int) -> str:
    return toks[i].text if 0 <= i < len(toks) else ""


def unknown_field(read: FieldRead) -> str | None:
    """Why `read` names a field the evaluator never binds, with the nearest valid one."""
    table: Any = ROOT_FIELDS[read.root]
    where = read.root
    for i, part in enumerate(read.path):
        if table == MAP:
            return None
        full = ".".join((read.root, *read.path[: i + 1]))
        if table == LEAF:
            return f"unknown field {full!r} ({where} has no fields)"
        if part not in table:
            guess = _nearest(part, list(table))
            if guess:
                return f"unknown field {full!r} (did you mean {where + '.' + guess!r}?)"
            return f"unknown field {full!r} ({where} has: {', '.join(sorted(table))})"
        table = table[part]
        where = f"{where}.{part}"
    return None


def _nearest(name: str, choices: list[str]) -> str | None:
    folded = {c.casefold(): c for c in choices}
    if name.casefold() in folded:
        return folded[name.casefold()]
    found = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return found[0] if found else None


def name_literals(toks: list[Token], read: FieldRead) -> Iterator[Token]:
    """The string literals compared with a name field (whole, a part, or a `matches` regex)."""
    i, j = read.first, read.end
    if read.method is not None:
        if read.method in _LITERAL_METHODS and _kind(toks, j + 1) == "string":
            yield from [toks[j + 1]] if _at(toks, j + 2) == ")" else []
        return
    # `"x" == request.environment`, unless the literal is part of a larger operand
    if _at(toks, i - 1) in _EQUALITY and _kind(toks, i - 2) == "string":
        yield from [toks[i - 2]] if _at(toks, i - 3) not in ("+", ".") else []
    if _at(toks, j) in _EQUALITY and _kind(toks, j + 1) == "string":
        yield from [toks[j + 1]] if _at(toks, j + 2) not in ("+", ".", "[") else []
    if _at(toks, j) == "in" and _at(toks, j + 1) == "[":
        k = j + 2
        while k < len(toks) and toks[k].text != "]":
            if toks[k].kind == "string" and _at(toks, k + 1) in (",", "]"):
                yield toks[k]
            k += 1


def _kind(toks: list[Token], i: int) -> str:
    return toks[i].kind if 0 <= i < len(toks) else ""


def literal_problem(
    field: str, value: str, method: str | None = None, shown: str | None = None
) -> str | None:
    """Why `value` can never equal (be part of, match) the name field `field`, or None.

    `shown` is how the literal is named in the message (default: its value, quoted).
    """
    shown = shown or json.dumps(value, ensure_ascii=False)
    kind = NAME_FIELDS[field]
    if method == "matches":
        return _regex_problem(field, value, shown)
    bad = first_outside_name(value)
    if bad:
        return f"{shown} is compared with request.{field} but {bad}: {kind} names {NAME_RULE}"
    if value != value.lower():
        lower = json.dumps(value.lower())
        return (
            f"{shown} is compared with request.{field}, which conditions see in lower case:"
            f" write {lower}"
        )
    return None


def _regex_problem(field: str, regex: str, shown: str) -> str | None:
    """A regex can hold any visible ASCII; invisible or look-alike characters, and letters
    that must match in upper case, are certain misses."""
    bad = first_invisible(regex)
    if bad:
        kind = NAME_FIELDS[field]
        return f"{shown} is matched against request.{field} but {bad}: {kind} names {NAME_RULE}"
    upper = upper_case_letters(regex)
    if not upper:
        return None
    return (
        f"{shown} is matched against request.{field}, which conditions see in lower case:"
        f" {json.dumps(regex[upper[0]])} (character {upper[0] + 1}) can never match;"
        f" write {json.dumps(lowered(regex, upper), ensure_ascii=False)} or begin it with (?i)"
    )


_HOW = {"whole": None, "part": "startsWith", "regex": "matches"}


def condition_problems(source: str, decode: Callable[[str], Any]) -> list[tuple[str, int]]:
    """(message, 1-based line within `source`) for each unknown field and bad name literal,
    in the order they appear.

    `decode` turns a string literal's source text into its value (the CEL
    library's own reading, escapes included).
    """
    toks = tokens(source)
    found: list[tuple[int, str]] = []  # (offset, message)
    names = []
    for read in field_reads(toks, decode):
        message = unknown_field(read)
        if message:
            found.append((read.start, message))
        elif read.root == "request" and len(read.path) == 1 and read.path[0] in NAME_FIELDS:
            names.append(read)
    if names:  # only conditions that read a name field are parsed
        found.extend(_name_problems(source, toks, names, decode))
    found.sort(key=lambda item: item[0])
    return [(message, source.count("\n", 0, at) + 1) for at, message in dict.fromkeys(found)]


def _name_problems(
    source: str, toks: list[Token], reads: list[FieldRead], decode: Callable[[str], Any]
) -> list[tuple[int, str]]:
    try:
        uses = name_uses(source)
    except (CelSyntaxError, RecursionError):  # not read by our parser: the token shapes
        return _token_name_problems(toks, reads, decode)
    out = []
    for use in uses:
        text = use.text
        problem = literal_problem(use.field, text.value, _HOW[use.how], text.shown)
        if problem:
            out.append((text.start, problem))
    return out


def _token_name_problems(
    toks: list[Token], reads: list[FieldRead], decode: Callable[[str], Any]
) -> list[tuple[int, str]]:
    out = []
    for read in reads:
        for tok in name_literals(toks, read):
            value = decode(tok.text)
            problem = (
                literal_problem(read.path[0], value, read.method)
                if isinstance(value, str)
                else None
            )
            if problem:
                out.append((tok.start, problem))
    return out
