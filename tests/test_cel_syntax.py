"""The parser behind `validate`'s name checks reads whatever the CEL library compiles.

Its one duty is never to be the reason a valid condition is checked less
exactly: every expression the library accepts must parse, and every string
literal must decode to the value the library gives it.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.core.cel_syntax import (
    Call,
    CelSyntaxError,
    Chain,
    Index,
    Literal,
    MapExpr,
    Message,
    Select,
    Ternary,
    parse,
    string_value,
)
from remediate.core.conditions import load_cel

CEL = load_cel()


def compiles(source: str) -> bool:
    try:
        CEL.compile(source)
    except Exception:  # the library raises plain builtins
        return False
    return True


VALID = [
    'request.severity in ["HIGH", "CRITICAL"]',
    'now >= timestamp("2026-12-20T00:00:00Z") && now < timestamp("2027-01-04T00:00:00Z")',
    "has(request.action.parameters.replicas) && request.action.parameters.replicas > 50",
    'request["labels"]["team"] == "sre" || !(request.owner != "a")',
    "true ? 1 : false ? 2 : 3",
    "[1, 2, 3,][0] + {1: 2, 3: 4,}[1] * -2 % 3 / 1 - --1",
    "[1].map(x, x > 0, x * 2).filter(y, y != 0).exists_one(z, z == 2)",
    '{"a": [1, 2]}.all(k, k.startsWith("a"))',
    "google.protobuf.Int64Value{value: 1} == google.protobuf.Int64Value{value: 1,}",
    ".request.environment == 'x'",
    "1u + 0x1Fu == 32u && 1.5e3 > .5 && 2e-3 < 1E3 && 1.e3 == 1",
    'size("abc") == 3 && "abc".size() == 3 && dyn(1) == 1 && type(1) == int',
    'b"\\xff" == b"\\377" && r"\\d" == "\\\\d" && R"x" == "x" && bR"y" == b"y"',
    '"""a\n"b"\n""" != \'\'\'c\'\'\' // a comment\n',
    'request.notes.matches("^[A-Z]+$") in [true, false] && null == null',
    "1 == 1 == true",
    "(((((1)))))",
]


@pytest.mark.parametrize("source", VALID)
def test_every_expression_the_library_compiles_parses(source: str) -> None:
    assert compiles(source), source
    parse(source)


@pytest.mark.parametrize(
    "text",
    [
        r'"\\ \? \" \' \` \a \b \f \n \r \t \v"',
        r'"\x41\X42\101\u0455\U0001F600"',
        r"'\u0440roduction'",
        r'r"a\n\"',
        r'R"""x\"""',
        r'"""a\"""b"""',
        r"'''x'y'''",
        r'b"\xff\377abc"',
        r'B"caf\303\251"',
        '"ünïcödé"',
        r'""',
    ],
)
def test_a_literal_decodes_as_the_library_reads_it(text: str) -> None:
    assert string_value(text) == CEL.compile(text).execute({})


def test_the_tree_keeps_the_shapes_apart() -> None:
    tree = parse('(request.environment) in ["a"] + ["b"] ? x.f(1)[2] : {"k": T{v: 1}}')
    assert isinstance(tree, Ternary)
    assert isinstance(tree.condition, Chain) and tree.condition.ops == ("in",)
    left, right = tree.condition.operands
    assert isinstance(left, Select) and left.field == "environment"
    assert isinstance(right, Chain) and right.ops == ("+",)
    assert isinstance(tree.then, Index) and isinstance(tree.then.operand, Call)
    assert isinstance(tree.other, MapExpr)
    assert isinstance(tree.other.entries[0][1], Message)
    literal = parse('"a" == "b"')
    assert isinstance(literal, Chain)
    first = literal.operands[0]
    assert isinstance(first, Literal) and first.start == 0


@pytest.mark.parametrize("source", ["a.?b", "[?a]", "1 +", '"\\z"', "a b", "in", "x.true"])
def test_what_it_does_not_read_is_an_error(source: str) -> None:
    with pytest.raises(CelSyntaxError):
        parse(source)


# --- generated: whatever the library compiles, the parser reads --------------------------

_ATOMS = st.sampled_from(
    [
        "request.environment",
        "x",
        "1",
        "2u",
        "1.5",
        "true",
        "null",
        '"s"',
        "'t'",
        'b"b"',
        'r"\\d"',
        '"""m"""',
        'request["serviceName"]',
        ".x",
        "now",
    ]
)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.sampled_from(
        ["||", "&&", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "%"]
    )
    return st.one_of(
        st.tuples(inner, binary, inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
        inner.map(lambda e: f"({e})"),
        st.tuples(st.sampled_from(["!", "-", "!!", "--"]), inner).map("".join),
        st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        st.lists(st.tuples(inner, inner), max_size=2).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"
        ),
        st.tuples(inner, st.sampled_from(["exists", "all", "map", "filter"]), inner).map(
            lambda t: f"{t[0]}.{t[1]}(e, {t[2]})"
        ),
        st.tuples(inner, st.sampled_from(["startsWith", "matches", "size"]), inner).map(
            lambda t: f"{t[0]}.{t[1]}({t[2]})"
        ),
        st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
        inner.map(lambda e: f"{e}.field"),
    )


@settings(max_examples=300, deadline=None)
@given(st.recursive(_ATOMS, _extend, max_leaves=8))
def test_generated_expressions_the_library_compiles_parse(source: str) -> None:
    if compiles(source):
        parse(source)


_PIECES = st.sampled_from(
    [
        "a",
        "Z",
        "ü",
        "\\n",
        "\\\\",
        "\\x41",
        "\\101",
        "\\u0455",
        "\\U0001F600",
        "\\'",
        '\\"',
        "\\?",
        "\\`",
        " ",
        "'",
        '"',
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(['"', "'", '"""', "'''", 'r"', "r'", 'b"']), st.lists(_PIECES, max_size=6))
def test_generated_literals_decode_as_the_library_reads_them(opening: str, pieces: Any) -> None:
    quote = opening.lstrip("rb")
    text = opening + "".join(pieces) + quote
    if compiles(text):
        assert string_value(text) == CEL.compile(text).execute({}), text
