"""Unit tests of the strict YAML layer: types, marks, refusals."""

from __future__ import annotations

import pytest

from remediate.documents.yamlstrict import MAX_DEPTH, YamlProblem, decode, parse


def load(text: str) -> object:
    docs = parse(decode(text.encode()))
    assert len(docs) == 1
    return docs[0].data


def problem(raw: str | bytes) -> tuple[int, str, str]:
    data = raw.encode() if isinstance(raw, str) else raw
    with pytest.raises(YamlProblem) as info:
        parse(decode(data))
    return info.value.line, info.value.path, info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NO", "NO"),
        ("on", "on"),
        ("Off", "Off"),
        ("yes", "yes"),
        ("9:30", "9:30"),
        ("0123", "0123"),
        ("012.5", "012.5"),
        ("2026-12-01", "2026-12-01"),
        ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"),
        ("0x1F", 31),
        ("0o17", 15),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("42", 42),
        ("-7", -7),
        ("0", 0),
        ("1.5", 1.5),
        ("0.5", 0.5),
        ("1e3", 1000.0),
        (".inf", float("inf")),
        ("'0123'", "0123"),
        ('"true"', "true"),
        ("!!str 0123", "0123"),
        ("!!int '12'", 12),
        ("1_000", "1_000"),
    ],
)
def test_scalars_follow_the_core_schema_not_yaml_1_1(text: str, expected: object) -> None:
    assert load(f"value: {text}\n") == {"value": expected}


def test_line_of_every_key_path() -> None:
    docs = parse("a:\n  b:\n    - x\n    - {c: d}\n---\ne: f\n")
    assert docs[0].lines.lines == {"": 1, "a": 1, "a.b": 2, "a.b[0]": 3, "a.b[1]": 4, "a.b[1].c": 4}
    assert docs[0].lines.line("a.b[1].c.missing") == 4
    assert docs[1].data == {"e": "f"} and docs[1].lines.line("e") == 6


def test_plain_keys_stay_strings() -> None:
    assert load("on: 1\n80: http\nnull: x\n") == {"on": 1, "80": "http", "null": "x"}


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    assert problem("spec:\n  a: 1\n  b: 2\n  a: 3\n") == (
        4,
        "spec.a",
        "duplicate key 'a' (first defined at line 2)",
    )


def test_aliases_are_refused_before_they_expand() -> None:
    lol = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    assert problem(lol) == (
        2,
        "b[0]",
        "aliases are not allowed (it refers to the anchor at line 1)",
    )


def test_anchor_on_a_scalar_used_twice() -> None:
    assert problem("a: &x hello\nb: *x\n") == (
        2,
        "b",
        "aliases are not allowed (it refers to the anchor at line 1)",
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a: !!python/object/apply:os.system ['id']\n", "!!python/object/apply:os.system"),
        ("a: !!binary aGVsbG8=\n", "!!binary"),
        ("a: !!timestamp 2026-01-01\n", "!!timestamp"),
        ("a: !Ref other\n", "!Ref"),
        ("a: !!set {x: null}\n", "!!set"),
    ],
)
def test_tags_beyond_the_core_schema_are_refused(text: str, shown: str) -> None:
    line, path, message = problem(text)
    assert (line, path) == (1, "a")
    assert (
        message
        == f"tag {shown} is not allowed (only !!str, !!int, !!float, !!bool, !!null, !!seq, !!map)"
    )


def test_explicit_core_tag_with_a_wrong_value() -> None:
    assert problem("a: !!int twelve\n") == (1, "a", "'twelve' is not a valid !!int")


def test_complex_keys_are_refused() -> None:
    assert problem("? [a, b]\n: c\n") == (1, "", "mapping keys must be plain strings")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a: b\x00c\n", (1, "", "forbidden character: NUL")),
        (b"a: 1\nb: \xff\xfe\n", (2, "", "file is not valid UTF-8 (byte 0xff at offset 8)")),
        (
            b"\xff\xfea\x00:\x00",
            (1, "", "file starts with a UTF-16 byte-order mark; save it as UTF-8"),
        ),
        (
            "a: 1\nb: x\u202ey\n".encode(),
            (2, "", "forbidden character: bidirectional control U+202E"),
        ),
        ("a: \u2066x\n".encode(), (1, "", "forbidden character: bidirectional control U+2066")),
        (
            "a: x\u200fy\n".encode(),
            (1, "", "forbidden character: right-to-left mark (bidirectional control)"),
        ),
        (b"a: x\x1by\n", (1, "", "forbidden character: control character U+001B")),
        (
            "a: 1\nb: x\ufeff\n".encode(),
            (
                2,
                "",
                "forbidden character: zero-width no-break space (a byte-order mark inside the file)",
            ),
        ),
    ],
)
def test_bad_bytes_and_characters(raw: bytes, expected: tuple[int, str, str]) -> None:
    assert problem(raw) == expected


def test_a_utf8_byte_order_mark_at_the_start_is_accepted() -> None:
    assert parse(decode(b"\xef\xbb\xbfa: b\n"))[0].data == {"a": "b"}


def test_size_cap_is_checked_before_parsing() -> None:
    raw = b"a: " + b"x" * (1024 * 1024) + b"\n"
    assert problem(raw) == (0, "", f"file is {len(raw)} bytes; the limit is 1048576 bytes")


def test_deep_flow_nesting_is_refused_without_recursion() -> None:
    assert problem("a: " + "[" * 10000 + "]" * 10000 + "\n") == (
        1,
        "",
        f"nesting is deeper than {MAX_DEPTH} levels",
    )


def test_deep_block_nesting_is_refused() -> None:
    text = (
        "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5))
        + "  " * (MAX_DEPTH + 5)
        + "v\n"
    )
    line, path, message = problem(text)
    assert message == f"nesting is deeper than {MAX_DEPTH} levels"
    assert line == MAX_DEPTH + 2 and path.startswith("k0.k1.")


def test_syntax_error_has_the_line() -> None:
    assert problem("a: b\n c: d\n") == (
        2,
        "",
        "YAML syntax error: mapping values are not allowed in this context",
    )


def test_empty_stream_has_no_documents() -> None:
    assert parse("") == [] and parse("---\n...\n") == []


def test_deep_block_sequences_do_not_crash_the_process() -> None:
    """libyaml's composer segfaults past ~20,000 levels; the event-stream pre-check stops it first."""
    import subprocess
    import sys

    code = (
        "from remediate.documents.yamlstrict import parse, YamlProblem\n"
        "try:\n    parse('- ' * 100000 + 'x\\n')\n"
        "except YamlProblem as p:\n    print(p.line, p.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, f"1 nesting is deeper than {MAX_DEPTH} levels\n")


def test_deep_flow_nesting_names_its_line_whatever_the_parser_says() -> None:
    # The message and line are ours, not the YAML library's: newer PyYAML
    # releases refuse deep nesting with their own wording before our check.
    text = "a: b\n# [[[[ not counted\nc: '[[[['\nd: " + "[" * 5000 + "]" * 5000 + "\n"
    assert problem(text) == (4, "", f"nesting is deeper than {MAX_DEPTH} levels")


def test_a_syntax_error_in_a_large_file_is_still_a_syntax_error() -> None:
    text = "a: [" + ", ".join(["x"] * 300) + "\nb: ]\n"
    line, path, message = problem(text)
    assert message.startswith("YAML syntax error") and path == "" and line >= 1
