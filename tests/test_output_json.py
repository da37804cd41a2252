"""`cli.output.dumps` is `json.dumps(body, indent=2)` character for character (it only
takes a faster road to the same text)."""

from __future__ import annotations

import enum
import json
from collections import OrderedDict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remediate.cli.output import dumps, echo_json, echo_json_list

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
)
bodies = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=6),
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_dumps_is_json_dumps_with_indent_2(body: Any) -> None:
    assert dumps(body) == json.dumps(body, indent=2)


class Colour(enum.StrEnum):
    RED = "red"


def test_values_it_leaves_to_json_dumps_come_out_the_same() -> None:
    for body in (
        {1: "a", "b": [1, 2]},  # a key that is not a string
        {"c": Colour.RED, "d": {"e": [Colour.RED]}},  # a str subclass
        OrderedDict([("x", 1), ("y", [1.5, None])]),
        [{"é": "\u2028", "##[": "\x00"}, [], {}, [[]], [{}]],
        [],
        "text",
        float("nan"),
    ):
        assert dumps(body) == json.dumps(body, indent=2)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(items=st.lists(bodies, max_size=7), chunk=st.integers(min_value=1, max_value=4))
def test_a_streamed_list_prints_what_echo_json_prints(
    items: list[Any], chunk: int, capsys: Any
) -> None:
    """`echo_json_list` writes a few items at a time: the same characters as `echo_json`
    of the whole document, `##[` escaped the same way."""
    capsys.readouterr()
    items = [*items, "##[error]x", {"a": ["##[", 1]}]
    echo_json({"requests": items})
    whole = capsys.readouterr().out
    echo_json_list("requests", iter(items), chunk=chunk)
    assert capsys.readouterr().out == whole
    echo_json_list("requests", iter([]), chunk=chunk)
    assert capsys.readouterr().out == '{\n  "requests": []\n}\n'
