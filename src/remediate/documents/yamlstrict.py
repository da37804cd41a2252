"""Strict, safe YAML: text → plain data plus the line of every key path.

PyYAML's C parser composes the node graph; a small walk then builds the data
itself, so that we decide every rule instead of inheriting YAML 1.1's:

* only safe loading, and only the core schema's tags (`!!python/...`,
  `!!binary`, `!!set`, custom tags are refused);
* plain scalars resolve as in YAML 1.2's core schema, so `NO`, `on`, `9:30`
  and `2026-12-01` stay strings; an integer with a leading zero (`0123`) is
  ambiguous between YAML versions and stays a string too;
* duplicate keys, anchors and aliases (billion laughs), complex keys and
  nesting deeper than `MAX_DEPTH` are errors;
* bytes are checked before parsing: a size cap, strict UTF-8, and no NUL,
  control or bidirectional-override characters (Trojan Source).

Every error carries the 1-based line from the YAML node marks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

import yaml

from remediate.core.document import LineMap

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_DOCUMENTS = 1000
# libyaml's composer recurses once per nesting level and crashes the process
# (SIGSEGV) somewhere past 20,000 levels. Files that could nest that deep --
# larger than this, or with many flow openers -- have their depth checked on
# the flat event stream before composing. Below it, a file cannot nest past
# ~8,000 levels, which composes safely and is then refused by the walk.
_DEPTH_CHECK_BYTES = 16 * 1024
_FLOW_OPENERS_CHECK = 256

_LOADER_BASE: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
HAVE_LIBYAML = _LOADER_BASE is not yaml.SafeLoader

_PLAIN = "tag:remediate,2026:plain"
_T = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = _T + "str", _T + "int", _T + "float", _T + "bool", _T + "null"
_MAP, _SEQ = _T + "map", _T + "seq"
_ALLOWED_TAGS = "!!str, !!int, !!float, !!bool, !!null, !!seq, !!map"

_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_CHAR_NAMES = {
    "\x00": "NUL",
    "\ufeff": "zero-width no-break space (a byte-order mark inside the file)",
    "\u061c": "Arabic letter mark (bidirectional control)",
    "\u200e": "left-to-right mark (bidirectional control)",
    "\u200f": "right-to-left mark (bidirectional control)",
}
_INT_RE = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_OCT_HEX_RE = re.compile(r"0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOATS = {
    **{v: float("inf") for v in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{v: float("-inf") for v in ("-.inf", "-.Inf", "-.INF")},
    **{v: float("nan") for v in (".nan", ".NaN", ".NAN")},
}
_CONSTANTS: dict[str, Any] = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    "true": True, "True": True, "TRUE": True,
    "false": False, "False": False, "FALSE": False,
}  # fmt: skip
_MAYBE_NOT_STRING = frozenset("~nNtTfF0123456789-+.")


@dataclass(frozen=True)
class YamlProblem(Exception):
    """A problem found while reading YAML: line (1-based, 0 = whole file), key path, message."""

    line: int
    path: str
    message: str


@dataclass(frozen=True)
class ParsedDocument:
    data: Any
    lines: LineMap
    index: int


class _Loader(_LOADER_BASE):  # type: ignore[misc]
    """The C parser with our own scalar resolution: plain scalars get a marker tag."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        # Called by the C composer for every untagged node: keep it minimal.
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP

    # Path-based resolvers are never used; skipping them saves two calls per node.
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


def decode(raw: bytes) -> str:
    """Bytes → text, refusing what is not clean UTF-8 text."""
    if len(raw) > MAX_BYTES:
        raise YamlProblem(0, "", f"file is {len(raw)} bytes; the limit is {MAX_BYTES} bytes")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise YamlProblem(1, "", "file starts with a UTF-16 byte-order mark; save it as UTF-8")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start]
        raise YamlProblem(
            line, "", f"file is not valid UTF-8 (byte 0x{byte:02x} at offset {exc.start})"
        ) from None
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        char = bad.group()
        name = _CHAR_NAMES.get(char)
        if name is None:
            kind = "bidirectional control" if char > "\x7f" else "control character"
            name = f"{kind} U+{ord(char):04X}"
        line = text.count("\n", 0, bad.start()) + 1
        raise YamlProblem(line, "", f"forbidden character: {name}")
    return text


def parse(text: str) -> list[ParsedDocument]:
    """Parse every document of a YAML stream strictly; raise `YamlProblem` on the first error."""
    if len(text) > _DEPTH_CHECK_BYTES or text.count("[") + text.count("{") > _FLOW_OPENERS_CHECK:
        _check_depth(text)
    docs: list[ParsedDocument] = []
    try:
        for index, node in enumerate(yaml.compose_all(text, Loader=_Loader)):
            if index >= MAX_DOCUMENTS:
                raise YamlProblem(
                    node.start_mark.line + 1, "", f"more than {MAX_DOCUMENTS} documents in one file"
                )
            lines: dict[str, int] = {"": node.start_mark.line + 1}
            data = _Walk(lines).value(node, "", 0)
            if data is None:
                continue  # an empty document (`---` alone)
            docs.append(ParsedDocument(data, LineMap(lines), index))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise YamlProblem(line, "", f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(0, "", f"YAML error: {exc}") from None
    except RecursionError:
        raise YamlProblem(0, "", f"nesting is deeper than {MAX_DEPTH} levels") from None
    return docs


def _check_depth(text: str) -> None:
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    raise YamlProblem(line, "", f"nesting is deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        # Newer parsers refuse deep nesting themselves (PyYAML 6.0.4 scans a
        # run of flow openers ahead and stops at its own limit). Whatever the
        # wording, a file whose flow brackets nest too deep gets our message;
        # any other syntax error is reported by the composer with its mark.
        line = _deep_flow_line(text)
        if line:
            raise YamlProblem(line, "", f"nesting is deeper than {MAX_DEPTH} levels") from None


def _deep_flow_line(text: str) -> int:
    """The line where flow brackets first nest deeper than `MAX_DEPTH`, or 0.

    A lexical scan (quotes and comments skipped), used only to name an error
    the parser already raised.
    """
    depth, line, quote, comment, previous = 0, 1, "", False, " "
    for char in text:
        if char == "\n":
            line, comment = line + 1, False
        elif comment:
            pass
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and previous in " \t":
            comment = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif char in "]}":
            depth = max(0, depth - 1)
        previous = char
    return 0


class _Walk:
    """Builds data from a node graph, recording the line of every key path."""

    __slots__ = ("lines", "seen")

    def __init__(self, lines: dict[str, int]) -> None:
        self.lines = lines
        self.seen: set[int] = set()

    def value(self, node: yaml.Node, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise YamlProblem(
                node.start_mark.line + 1, path, f"nesting is deeper than {MAX_DEPTH} levels"
            )
        if id(node) in self.seen:
            # compose() hands back the anchored node for every alias
            raise YamlProblem(
                self.lines.get(path, node.start_mark.line + 1),
                path,
                f"aliases are not allowed (it refers to the anchor at line {node.start_mark.line + 1})",
            )
        self.seen.add(id(node))
        tag = node.tag
        if tag == _PLAIN:
            return _plain(node.value)
        if tag == _STR:
            return node.value
        if tag == _MAP:
            return self.mapping(cast(yaml.MappingNode, node), path, depth)
        if tag == _SEQ:
            return self.sequence(cast(yaml.SequenceNode, node), path, depth)
        if tag in (_INT, _FLOAT, _BOOL, _NULL) and isinstance(node, yaml.ScalarNode):
            return _explicit(node, tag, self.lines.get(path, 0), path)
        shown = "!!" + tag[len(_T) :] if tag.startswith(_T) else tag
        raise YamlProblem(
            node.start_mark.line + 1, path, f"tag {shown} is not allowed (only {_ALLOWED_TAGS})"
        )

    def mapping(self, node: yaml.MappingNode, path: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        lines, seen = self.lines, self.seen
        for key_node, value_node in node.value:
            if type(key_node) is not yaml.ScalarNode or key_node.tag not in (_PLAIN, _STR):
                raise YamlProblem(
                    key_node.start_mark.line + 1, path, "mapping keys must be plain strings"
                )
            key = key_node.value
            child = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in out:
                raise YamlProblem(
                    line, child, f"duplicate key {key!r} (first defined at line {lines[child]})"
                )
            lines[child] = line
            # Fast path for the common case, an untagged scalar seen for the first time.
            tag, node_id = value_node.tag, id(value_node)
            if tag in (_PLAIN, _STR) and node_id not in seen:
                seen.add(node_id)
                out[key] = _plain(value_node.value) if tag == _PLAIN else value_node.value
            else:
                out[key] = self.value(value_node, child, depth + 1)
        return out

    def sequence(self, node: yaml.SequenceNode, path: str, depth: int) -> list[Any]:
        out: list[Any] = []
        for i, item in enumerate(node.value):
            child = f"{path}[{i}]"
            # an aliased item's mark is its anchor's; the sequence's own line is the best we know
            seen = id(item) in self.seen
            self.lines[child] = self.lines.get(path, 0) if seen else item.start_mark.line + 1
            out.append(self.value(item, child, depth + 1))
        return out


def _plain(text: str) -> Any:
    """Resolve a plain scalar by YAML 1.2's core schema (minus leading-zero integers)."""
    if not text:
        return None
    if text[0] not in _MAYBE_NOT_STRING:
        return text
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    if _INT_RE.fullmatch(text):
        return int(text)
    if _OCT_HEX_RE.fullmatch(text):
        return int(text, 0)
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if _FLOAT_RE.fullmatch(text):
        body = text.lstrip("+-")
        if body[0] == "0" and len(body) > 1 and body[1] not in ".eE":
            return text  # "012.5" keeps its leading zero, like "0123"
        return float(text)
    return text


_EXPECTED: dict[str, type | tuple[type, ...]] = {
    _INT: int,
    _FLOAT: (int, float),
    _BOOL: bool,
    _NULL: type(None),
}


def _explicit(node: yaml.ScalarNode, tag: str, line: int, path: str) -> Any:
    value: Any = _plain(node.value)
    if isinstance(value, _EXPECTED[tag]) and not (tag != _BOOL and isinstance(value, bool)):
        return float(cast(float, value)) if tag == _FLOAT else value
    raise YamlProblem(
        line or node.start_mark.line + 1, path, f"{node.value!r} is not a valid !!{tag[len(_T) :]}"
    )
