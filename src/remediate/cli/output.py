"""The one path by which the CLI prints: plain lines, JSON, and GitHub workflow commands.

Inside GitHub Actions every line a step prints is read by the runner, which takes a line
starting with `::` (after leading whitespace) as a workflow command, and one holding `##[`
anywhere as a legacy one. Text from documents (keys, names, messages) must never become a
command (`::add-mask::`, `::warning …`), so in GitHub mode:

- plain lines are neutralised: a WORD JOINER breaks `::` at the start of every physical
  line and every `##[`; the text reads the same;
- workflow commands (annotations) are the only lines that start with `::`, and their
  data and properties are escaped as the runner unescapes them. The runner parses a line
  as a legacy `##[` command only when it is no valid `::` command, so properties need no
  joiner (one in `file=` would name a file that does not exist); the message keeps it;
- JSON is escaped losslessly (`#` as `\\u0023` in `##[`), so it parses to the same value.
"""

from __future__ import annotations

import io
import re
import sys
import time
from collections.abc import Iterable
from typing import IO, Any, cast

import click

JOINER = "\u2060"  # WORD JOINER: invisible, not whitespace, so `:⁠:` is no command
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")
_IGNORED_AT_START = re.compile(r"[\s\u200b-\u200d\u2060\ufeff]*")


class _Mode:
    github = False


MODE = _Mode()


def configure(github: bool) -> None:
    """Set once per run by the boundary: is what we print read by a GitHub runner?"""
    MODE.github = github


def neutral(text: str) -> str:
    """`text` such that none of its physical lines is a workflow command."""
    parts = _LINE_BREAK.split(text)
    for i in range(0, len(parts), 2):  # even items are lines, odd ones their breaks
        line = parts[i]
        start = _IGNORED_AT_START.match(line)
        at = start.end() if start else 0
        if line.startswith("::", at):
            line = line[: at + 1] + JOINER + line[at + 1 :]
        parts[i] = line.replace("##[", "#" + JOINER + "#[")
    return "".join(parts)


def echo(text: str = "", err: bool = False, nl: bool = True) -> None:
    """Print lines for people (stdout, or stderr with `err`)."""
    click.echo(neutral(text) if MODE.github else text, err=err, nl=nl)


def echo_json(body: Any) -> None:
    """Print a JSON document on stdout, inert in a workflow log and exact when parsed."""
    click.echo(dumps(body).replace("##[", "#\\u0023["))


def echo_json_list(key: str, items: Iterable[Any], chunk: int = 1000) -> None:
    """`echo_json({key: list(items)})`, character for character, written `chunk` items at a
    time: the document is never held whole (`status` of 50,000 requests: ~10 MB of text,
    twice over with its escaped copy)."""
    head, inner = "{\n  " + dumps(key) + ": [", "\n    "
    batch: list[str] = []
    first = True
    for item in items:
        batch.append(dumps_at(item, inner))
        if len(batch) == chunk:
            click.echo((head if first else ",") + inner + ("," + inner).join(batch), nl=False)
            first, batch = False, []
    if batch:
        click.echo((head if first else ",") + inner + ("," + inner).join(batch), nl=False)
        first = False
    click.echo((head + "]" if first else "\n  ]") + "\n}")


def dumps_at(body: Any, indent: str) -> str:
    """`dumps(body)` as an item at `indent` (newline and spaces) of an indented document,
    escaped as `echo_json` escapes it."""
    import json

    try:
        text = _indented(body, indent)
    except _Other:
        text = json.dumps(body, indent=2).replace("\n", indent)
    return text.replace("##[", "#\\u0023[")


def dumps(body: Any) -> str:
    """`json.dumps(body, indent=2)`, character for character, at a fraction of its cost on
    a long list of flat objects (`status` of 10,000 requests: 60 → 35 ms): indenting makes
    the standard library use its pure-Python encoder, so each container whose items are
    all scalars is encoded by the C encoder with the newline and indentation as its item
    separator. Anything else (keys that are not strings, other types) goes through
    `json.dumps` itself."""
    import json

    try:
        return _indented(body, "\n")
    except _Other:
        return json.dumps(body, indent=2)


class _Other(Exception):
    """A value `_indented` leaves to `json.dumps`."""


_CONTAINERS = (dict, list, tuple)
_SCALARS = (str, int, float, bool, type(None))
_FLAT: dict[str, Any] = {}


def _flat(indent: str) -> Any:
    """The C encoder that separates items by `,` + `indent` (scalars only, no nesting)."""
    found = _FLAT.get(indent)
    if found is None:
        from json.encoder import (  # type: ignore[attr-defined]
            c_make_encoder,
            encode_basestring_ascii,
        )

        if c_make_encoder is None:  # an interpreter without the C accelerator
            raise _Other
        found = _FLAT[indent] = c_make_encoder(
            None, _refuse, encode_basestring_ascii, None, ": ", "," + indent, False, False, True
        )
    return found


def _refuse(value: Any) -> Any:
    raise _Other


def _indented(value: Any, indent: str) -> str:
    kind = type(value)
    if kind is dict or kind is list or kind is tuple:
        if not value:
            return "{}" if kind is dict else "[]"
        inner = indent + "  "
        items = value.values() if kind is dict else value
        if kind is dict and any(type(k) is not str for k in value):
            raise _Other  # json.dumps turns such keys into strings its own way
        if all(type(v) in _SCALARS for v in items):
            text = "".join(_flat(inner)(value, 0))
            return text[0] + inner + text[1:-1] + indent + text[-1]
        if kind is dict:
            from json.encoder import encode_basestring_ascii

            body = ("," + inner).join(
                encode_basestring_ascii(k) + ": " + _indented(v, inner) for k, v in value.items()
            )
            return "{" + inner + body + indent + "}"
        return "[" + inner + ("," + inner).join(_indented(v, inner) for v in value) + indent + "]"
    if type(value) in _SCALARS:
        return "".join(_flat(indent)(value, 0))
    raise _Other


def _percent(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_data(text: str) -> str:
    """A workflow command's message, as the runner unescapes it (and no legacy `##[`)."""
    return _percent(text).replace("##[", "#" + JOINER + "#[")


def escape_property(text: str) -> str:
    """A workflow command's property value (`file=…`), as the runner unescapes it: exact,
    so that an annotation points at the file even when its name holds `##[`."""
    return _percent(text).replace(":", "%3A").replace(",", "%2C")


def command_line(name: str, message: str, **properties: str | int | None) -> str:
    """`::name key=value,…::message`, escaped: the only kind of line that may start with `::`.
    Properties that are None, empty or 0 (no line) are left out."""
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value not in (None, "", 0)
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def echo_command(line: str) -> None:
    """Print a workflow command made by `command_line` (one physical line) on stdout."""
    if not line.startswith("::") or _LINE_BREAK.search(line):
        raise ValueError(f"not an escaped workflow command: {line!r}")
    click.echo(line)


class ErrorStream(io.TextIOBase):
    """A file for click's own messages (usage errors) that passes them through `echo`."""

    def write(self, text: str) -> int:
        echo(text, err=True, nl=False)
        return len(text)


def error_stream() -> IO[Any]:
    """Where click writes its own messages: stderr, through `echo`."""
    return cast(IO[Any], ErrorStream())


class Progress:
    """A progress bar on stderr, only when stderr is a terminal and the export has taken
    longer than `DELAY` seconds (a short export prints nothing more)."""

    DELAY = 0.5

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.bar: Any = None
        self.shown = 0
        self.done = False

    def update(self, done: int, total: int) -> None:
        if self.done:
            return
        if self.bar is None:
            if time.monotonic() - self.started < self.DELAY or not sys.stderr.isatty():
                return
            self.bar = click.progressbar(
                length=total, label=self.label, file=sys.stderr
            ).__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def finish(self) -> None:
        if self.bar is not None and not self.done:
            self.bar.render_progress()  # the last state, however soon after the previous
            self.bar.__exit__(None, None, None)
        self.done = True
