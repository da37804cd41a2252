"""A syntax tree for CEL conditions, for `validate`'s checks only.

The CEL library evaluates conditions but exposes no syntax tree, and the checks
that names are compared in the case conditions see them need one
(`core.name_flow`). This is a small recursive-descent parser of CEL's grammar
(cel-spec `langdef.md`): ternary, `||`, `&&`, relations with `in`, `+ - * / %`,
unary `!` and `-`, member, index and call, list, map and message literals,
string and bytes literals with every escape (raw and triple-quoted too),
numbers, `true`, `false` and `null`. It runs only on expressions the library
has already compiled; where it cannot read one (`CelSyntaxError`) the caller
falls back to token checks, so it can never refuse a valid condition.

Operators of one precedence level form one n-ary `Chain` (left to right), so a
long flat `a || b || ...` is a wide node, not a deep one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""(?P<space>[ \t\n\f\r]+|//[^\n]*)
    |(?P<string>(?:[rR][bB]?|[bB][rR])(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"[^"\n\r]*"|'[^'\n\r]*')
        |[bB]?(?:\"\"\"(?:\\[\s\S]|[^\\])*?\"\"\"|'''(?:\\[\s\S]|[^\\])*?'''
        |"(?:\\.|[^"\\\n\r])*"|'(?:\\.|[^'\\\n\r])*'))
    |(?P<number>0x[0-9a-fA-F]+[uU]?|(?:\d+\.\d+|\.\d+)(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+[uU]?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>==|!=|<=|>=|&&|\|\||[-+*/%!<>?:.,()\[\]{}])""",
    re.VERBOSE,
)
_ESCAPE = re.compile(
    r"""\\(?:(?P<char>[\\?"'`abfnrtv])|[xX](?P<hex>[0-9a-fA-F]{2})|u(?P<u4>[0-9a-fA-F]{4})
    |U(?P<u8>[0-9a-fA-F]{8})|(?P<oct>[0-3][0-7]{2})|(?P<bad>[\s\S]?))""",
    re.VERBOSE,
)
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_KEYWORDS = {"true": True, "false": False, "null": None}
# Operators by precedence, loosest first; each level is one `Chain`.
_LEVELS = (("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in"), ("+", "-"), ("*", "/", "%"))


class CelSyntaxError(ValueError):
    """Text this parser does not read; `start` is the offset in the source."""

    def __init__(self, message: str, start: int) -> None:
        super().__init__(f"{message} at offset {start}")
        self.start = start


@dataclass(frozen=True)
class Token:
    kind: str  # string | number | ident | op | end
    text: str
    start: int


@dataclass(frozen=True)
class Literal:
    value: str | bytes | int | float | bool | None
    start: int
    text: str  # as written


@dataclass(frozen=True)
class Ident:
    name: str
    start: int


@dataclass(frozen=True)
class Select:
    operand: Node
    field: str
    start: int


@dataclass(frozen=True)
class Index:
    operand: Node
    index: Node
    start: int


@dataclass(frozen=True)
class Call:
    target: Node | None  # `x.f(...)`; None for a global `f(...)`
    function: str
    args: tuple[Node, ...]
    start: int


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Node, ...]
    start: int


@dataclass(frozen=True)
class MapExpr:
    entries: tuple[tuple[Node, Node], ...]
    start: int


@dataclass(frozen=True)
class Message:
    type_name: str
    fields: tuple[tuple[str, Node], ...]
    start: int


@dataclass(frozen=True)
class Unary:
    ops: str  # e.g. "!!" or "-"
    operand: Node
    start: int


@dataclass(frozen=True)
class Chain:
    """`operands[0] ops[0] operands[1] ops[1] ...`, left-associative, one precedence level."""

    ops: tuple[str, ...]
    operands: tuple[Node, ...]
    start: int


@dataclass(frozen=True)
class Ternary:
    condition: Node
    then: Node
    other: Node
    start: int


Node = (
    Literal | Ident | Select | Index | Call | ListExpr | MapExpr | Message | Unary | Chain | Ternary
)


def tokens(source: str) -> list[Token]:
    out = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            raise CelSyntaxError(f"unexpected character {source[pos]!r}", pos)
        kind = m.lastgroup or "op"
        if kind != "space":
            out.append(Token(kind, m.group(), pos))
        pos = m.end()
    out.append(Token("end", "", len(source)))
    return out


def string_value(text: str, start: int = 0) -> str | bytes:
    """The value of a string or bytes literal as written (`r"..."`, `b'''...'''`, escapes)."""
    prefix = text[: len(text) - len(text.lstrip("rRbB"))].lower()
    body = text[len(prefix) :]
    quote = 3 if body[:3] in ('"""', "'''") else 1
    inner = body[quote:-quote]
    octets = "b" in prefix
    if "r" not in prefix:
        inner = _ESCAPE.sub(lambda m: _unescape(m, start, octets), inner)
    # in bytes, `\xff` and `\377` are one octet each: carried as surrogate escapes
    return inner.encode("utf-8", "surrogateescape") if octets else inner


def _unescape(m: re.Match[str], start: int, octets: bool) -> str:
    if m.group("char"):
        return _SIMPLE.get(m.group("char"), m.group("char"))
    if m.group("bad") is not None:
        raise CelSyntaxError(f"unknown escape {m.group()!r}", start)
    digits = m.group("hex") or m.group("u4") or m.group("u8")
    code = int(digits, 16) if digits else int(m.group("oct"), 8)
    if octets and 0x80 <= code <= 0xFF and not (m.group("u4") or m.group("u8")):
        return chr(0xDC00 + code)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise CelSyntaxError(f"escape {m.group()!r} is no character", start)
    return chr(code)


def _number(text: str) -> int | float:
    if text[-1] in "uU":
        text = text[:-1]
    if text.startswith("0x"):
        return int(text, 16)
    return float(text) if any(c in text for c in ".eE") else int(text)


def parse(source: str) -> Node:
    """The syntax tree of `source` (CelSyntaxError where this parser cannot read it)."""
    parser = _Parser(tokens(source))
    node = parser.expr()
    parser.expect("")
    return node


class _Parser:
    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.i = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def next(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        tok = self.peek()
        if tok.kind in ("op", "ident") and tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> Token:
        tok = self.peek()
        if tok.text != text or (text and tok.kind not in ("op", "ident")):
            raise CelSyntaxError(f"expected {text or 'the end'!r}, found {tok.text!r}", tok.start)
        return self.next()

    def expr(self) -> Node:
        start = self.peek().start
        condition = self.chain(0)
        if not self.accept("?"):
            return condition
        then = self.chain(0)
        self.expect(":")
        return Ternary(condition, then, self.expr(), start)

    def chain(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        start = self.peek().start
        operands = [self.chain(level + 1)]
        ops = []
        while self.peek().kind in ("op", "ident") and self.peek().text in _LEVELS[level]:
            ops.append(self.next().text)
            operands.append(self.chain(level + 1))
        return operands[0] if not ops else Chain(tuple(ops), tuple(operands), start)

    def unary(self) -> Node:
        start = self.peek().start
        ops = ""
        while self.peek().kind == "op" and self.peek().text in ("!", "-"):
            ops += self.next().text
        operand = self.member()
        return Unary(ops, operand, start) if ops else operand

    def member(self) -> Node:
        node = self.primary()
        while True:
            tok = self.peek()
            if self.accept("."):
                name = self.ident()
                if self.accept("("):
                    node = Call(node, name, self.items(")"), tok.start)
                else:
                    node = Select(node, name, tok.start)
            elif self.accept("["):
                node = Index(node, self.expr(), tok.start)
                self.expect("]")
            elif tok.text == "{" and tok.kind == "op" and _qualified(node):
                self.next()
                node = Message(_qualified(node), self.fields(), tok.start)
            else:
                return node

    def ident(self) -> str:
        tok = self.next()
        if tok.kind != "ident" or tok.text in _KEYWORDS or tok.text == "in":
            raise CelSyntaxError(f"expected a name, found {tok.text!r}", tok.start)
        return tok.text

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "string":
            self.next()
            return Literal(string_value(tok.text, tok.start), tok.start, tok.text)
        if tok.kind == "number":
            self.next()
            return Literal(_number(tok.text), tok.start, tok.text)
        if tok.kind == "ident" and tok.text in _KEYWORDS:
            self.next()
            return Literal(_KEYWORDS[tok.text], tok.start, tok.text)
        if self.accept("("):
            node = self.expr()
            self.expect(")")
            return node
        if self.accept("["):
            return ListExpr(self.items("]"), tok.start)
        if self.accept("{"):
            return MapExpr(self.entries(), tok.start)
        dot = self.accept(".")
        name = ("." if dot else "") + self.ident()
        if self.accept("("):
            return Call(None, name.lstrip("."), self.items(")"), tok.start)
        return Ident(name, tok.start)

    def items(self, close: str) -> tuple[Node, ...]:
        out: list[Node] = []
        while not self.accept(close):
            out.append(self.expr())
            if not self.accept(","):
                self.expect(close)
                break
        return tuple(out)

    def entries(self) -> tuple[tuple[Node, Node], ...]:
        out: list[tuple[Node, Node]] = []
        while not self.accept("}"):
            key = self.expr()
            self.expect(":")
            out.append((key, self.expr()))
            if not self.accept(","):
                self.expect("}")
                break
        return tuple(out)

    def fields(self) -> tuple[tuple[str, Node], ...]:
        out: list[tuple[str, Node]] = []
        while not self.accept("}"):
            name = self.ident()
            self.expect(":")
            out.append((name, self.expr()))
            if not self.accept(","):
                self.expect("}")
                break
        return tuple(out)


def _qualified(node: Node) -> str:
    """`a.b.C` for a chain of plain names (a message type), else ""."""
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Select):
        inner = _qualified(node.operand)
        return f"{inner}.{node.field}" if inner else ""
    return ""
