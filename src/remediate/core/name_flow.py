"""Which string literals of a condition can meet a name field, found by following values.

Conditions see `request.environment` and `request.serviceName` in lower case,
so a literal compared with one of them must be a lower-case name. This walk
over the syntax tree (`core.cel_syntax`) gives every expression a `Flow`: the
string literals and name fields its value may be, and for a list or map what
its members (elements, keys) and entries (elements, values) may be. Wherever
two flows meet — `==`, `!=`, `in`, a map indexed by a key, a comprehension
variable bound to a list's members, `startsWith`, `endsWith`, `contains`,
`matches` — each name field on one side meets each literal on the other.

It over-approximates (a literal in either branch of `?:` may meet the field),
which is what a check of "can never match" wants: a literal that may meet a
name field and cannot equal any name is a mistake either way. Concatenations of
literals are folded (`"STA" + "GING"` is checked as `"STAGING"`); a value
built from a field (`request.environment + "-x"`) is no longer the field, and
orderings (`<`) are not matches, so neither is checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import product

from remediate.core.cel_syntax import (
    Call,
    Chain,
    Ident,
    Index,
    ListExpr,
    Literal,
    MapExpr,
    Message,
    Node,
    Select,
    Ternary,
    Unary,
    parse,
)

NAME_FIELDS = ("environment", "serviceName")
MACROS = ("all", "exists", "exists_one", "filter", "map")
PART_METHODS = ("startsWith", "endsWith", "contains")
IDENTITY_FUNCTIONS = ("string", "dyn")
MAX_FOLDED = 64  # concatenations folded per expression, at most


@dataclass(frozen=True)
class Text:
    """A string a literal (or a concatenation of literals) spells, and where it starts."""

    value: str
    start: int
    shown: str  # as a person should recognise it: the literal, or `"STA" + "GING"`


@dataclass(frozen=True)
class Use:
    """`text` meets the name field `field`: as a whole name, a part of one, or a regex."""

    text: Text
    field: str
    how: str  # "whole" | "part" | "regex"


@dataclass(frozen=True)
class Flow:
    texts: tuple[Text, ...] = ()
    fields: frozenset[str] = frozenset()
    members: Flow | None = None  # what `in` tests and a comprehension ranges over
    entries: Flow | None = None  # what indexing yields
    keyed: bool = False  # a map: indexing compares the index with the members (keys)


NOTHING = Flow()


def name_uses(source: str) -> list[Use]:
    """Every place a string literal of `source` meets a name field (CelSyntaxError, or
    RecursionError for a tree too deep to walk: the caller falls back)."""
    walk = _Walk()
    walk.flow(parse(source), {})
    return sorted(set(walk.uses), key=lambda u: (u.text.start, u.field, u.how))


def union(flows: Iterable[Flow | None]) -> Flow:
    present = [f for f in flows if f is not None]
    if not present:
        return NOTHING
    if len(present) == 1:
        return present[0]
    members = [f.members for f in present if f.members is not None]
    entries = [f.entries for f in present if f.entries is not None]
    return Flow(
        texts=tuple(dict.fromkeys(t for f in present for t in f.texts)),
        fields=frozenset().union(*(f.fields for f in present)),
        members=union(members) if members else None,
        entries=union(entries) if entries else None,
        keyed=any(f.keyed for f in present),
    )


Env = dict[str, Flow]


@dataclass
class _Walk:
    uses: list[Use] = field(default_factory=list)

    def flow(self, node: Node, env: Env) -> Flow:
        return _HANDLERS[type(node)](self, node, env)

    def meet(self, a: Flow | None, b: Flow | None, how: str = "whole") -> None:
        """Record every name field of one side meeting every literal of the other."""
        if a is None or b is None:
            return
        for one, other in ((a, b), (b, a)):
            for name in one.fields:
                self.uses.extend(Use(text, name, how) for text in other.texts)
        if how == "whole":
            self.meet(a.members, b.members)
            self.meet(a.entries, b.entries)

    def all_of(self, nodes: Iterable[Node], env: Env) -> list[Flow]:
        return [self.flow(n, env) for n in nodes]


def _literal(walk: _Walk, node: Literal, env: Env) -> Flow:
    if isinstance(node.value, str):
        return Flow(texts=(Text(node.value, node.start, _shown(node.value)),))
    return NOTHING


def _shown(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _ident(walk: _Walk, node: Ident, env: Env) -> Flow:
    return env.get(node.name, NOTHING)


def _is_request(node: Node, env: Env) -> bool:
    return isinstance(node, Ident) and node.name.lstrip(".") == "request" and "request" not in env


def _select(walk: _Walk, node: Select, env: Env) -> Flow:
    if _is_request(node.operand, env):
        return Flow(fields=frozenset({node.field})) if node.field in NAME_FIELDS else NOTHING
    walk.flow(node.operand, env)
    return NOTHING


def _index(walk: _Walk, node: Index, env: Env) -> Flow:
    key = node.index
    if _is_request(node.operand, env) and isinstance(key, Literal):
        name = key.value if isinstance(key.value, str) else ""
        return Flow(fields=frozenset({name})) if name in NAME_FIELDS else NOTHING
    operand = walk.flow(node.operand, env)
    index = walk.flow(key, env)
    if operand.keyed:
        walk.meet(index, operand.members)
    return operand.entries or NOTHING


def _list(walk: _Walk, node: ListExpr, env: Env) -> Flow:
    items = union(walk.all_of(node.items, env))
    return Flow(members=items, entries=items)


def _map(walk: _Walk, node: MapExpr, env: Env) -> Flow:
    keys = union(walk.all_of((k for k, _ in node.entries), env))
    values = union(walk.all_of((v for _, v in node.entries), env))
    return Flow(members=keys, entries=values, keyed=True)


def _message(walk: _Walk, node: Message, env: Env) -> Flow:
    walk.all_of((v for _, v in node.fields), env)
    return NOTHING


def _unary(walk: _Walk, node: Unary, env: Env) -> Flow:
    walk.flow(node.operand, env)
    return NOTHING


def _ternary(walk: _Walk, node: Ternary, env: Env) -> Flow:
    walk.flow(node.condition, env)
    return union([walk.flow(node.then, env), walk.flow(node.other, env)])


def _chain(walk: _Walk, node: Chain, env: Env) -> Flow:
    flows = walk.all_of(node.operands, env)
    if node.ops[0] in ("+", "-"):
        return _sum(node.ops, flows)
    if node.ops[0] in ("*", "/", "%", "||", "&&"):
        return NOTHING
    left = flows[0]
    for op, right in zip(node.ops, flows[1:], strict=True):
        if op in ("==", "!="):
            walk.meet(left, right)
        elif op == "in":
            walk.meet(left, right.members)
        left = NOTHING  # a relation's value is a bool
    return NOTHING


def _sum(ops: tuple[str, ...], flows: list[Flow]) -> Flow:
    """`a + b + ...`: lists concatenate their members; literals fold into their join."""
    if "-" in ops:
        return NOTHING
    if any(f.members is not None for f in flows):  # lists (adding anything else fails)
        return union(f for f in flows if f.members is not None)
    if any(f.fields or f.members is not None or not f.texts for f in flows):
        return NOTHING
    combos = list(product(*(f.texts for f in flows)))
    if len(combos) > MAX_FOLDED:
        return NOTHING
    return Flow(texts=tuple(_joined(parts) for parts in combos))


def _joined(parts: tuple[Text, ...]) -> Text:
    return Text("".join(p.value for p in parts), parts[0].start, " + ".join(p.shown for p in parts))


def _call(walk: _Walk, node: Call, env: Env) -> Flow:
    if node.target is not None and node.function in MACROS and _binds(node):
        return _macro(walk, node, node.target, env)
    receiver = walk.flow(node.target, env) if node.target is not None else None
    args = walk.all_of(node.args, env)
    if receiver is not None and len(args) == 1:
        if node.function in PART_METHODS:
            walk.meet(receiver, args[0], "part")
        elif node.function == "matches":
            walk.meet(receiver, args[0], "regex")
    elif receiver is None and len(args) == 2 and node.function == "matches":
        walk.meet(args[0], args[1], "regex")
    elif receiver is None and len(args) == 1 and node.function in IDENTITY_FUNCTIONS:
        return args[0]
    return NOTHING


def _binds(node: Call) -> bool:
    return len(node.args) in (2, 3) and isinstance(node.args[0], Ident)


def _macro(walk: _Walk, node: Call, target: Node, env: Env) -> Flow:
    ranged = walk.flow(target, env)
    variable = node.args[0]
    assert isinstance(variable, Ident)
    inner = {**env, variable.name: ranged.members or NOTHING}
    results = walk.all_of(node.args[1:], inner)
    if node.function == "filter":
        return Flow(members=ranged.members, entries=ranged.members)
    if node.function == "map":
        return Flow(members=results[-1], entries=results[-1])
    return NOTHING


# one handler per node type (each takes its own type: hence `...`)
_HANDLERS: dict[type, Callable[..., Flow]] = {
    Literal: _literal,
    Ident: _ident,
    Select: _select,
    Index: _index,
    ListExpr: _list,
    MapExpr: _map,
    Message: _message,
    Unary: _unary,
    Ternary: _ternary,
    Chain: _chain,
    Call: _call,
}
