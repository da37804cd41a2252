"""Redaction: a secret is replaced by [REDACTED] in every form an action could print it in.

Forms, each a regular expression built once per secret:

- *escaped*: the secret character by character, each either itself, URL-encoded (`%2F` or
  `%2f`, `+` for a space: `quote` and `quote_plus`) or JSON-escaped (`\\"`, `\\/`, `\\n`,
  `\\u00f6`, Go's `\\u003c`), so the raw secret and its URL and JSON forms are one pattern;
- *base64*, standard and URL-safe, padded or not, at each of the three alignments a secret
  can have inside a longer encoded stream (the characters that mix in a neighbour's bits
  stay: they carry less than one character of the secret), with line breaks anywhere, as
  `base64`, `openssl` and PEM wrap it, each maybe followed by an indent of up to 16
  spaces or tabs (YAML block scalars, `kubectl describe`, quoted e-mail);
- *hex*, either case, line breaks allowed;

and the same for each string leaf of a secret that is a JSON document (a service-account
key: its `private_key` alone must not show either).

Minimum lengths: a secret shorter than 4 characters is not redacted, nor are its base64
and hex forms below 6 bytes, nor JSON leaves below 6 characters. Such strings (`true`,
`1`, `en`, the empty string, a 5-character base64 run) occur in ordinary output:
redacting them would wipe it out without protecting anything (the runner's
secret-looking variables count from 6 characters for the same reason).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

REDACTED = "[REDACTED]"
MAX_OUTPUT = 4 * 1024  # per stream, kept in the audit
MIN_SECRET = 4
MIN_ENCODED = 6
MIN_LEAF = 6
MAX_LEAVES = 1000  # string leaves taken from one JSON secret
MAX_INDENT = 16  # spaces or tabs after a line break inside a wrapped encoding
# Bounded, so that `Form.longest` (what a cut capture drops at its edge) stays finite.
_BREAK = rf"(?:\r?\n[ \t]{{0,{MAX_INDENT}}})?"
_JSON_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
_JSON_SHORT.update({"\r": "\\r", "\t": "\\t"})
_URLSAFE = str.maketrans("+/", "-_")


@dataclass(frozen=True)
class Form:
    pattern: re.Pattern[str]
    longest: int  # the most characters a match can span


def secret_values(secrets: Iterable[str]) -> list[str]:
    """The secrets and the string leaves of those that are JSON documents, longest first."""
    found: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET:
            found.add(secret)
            found.update(leaf for leaf in _leaves(secret) if len(leaf) >= MIN_LEAF)
    return sorted(found, key=lambda s: (-len(s), s))


@lru_cache(maxsize=256)
def forms(secret: str) -> tuple[Form, ...]:
    """Every pattern that finds `secret` (see the module's doc); built once per secret (a
    long token's patterns take ~0.2 s to compile)."""
    found = [_escaped(secret)]
    data = secret.encode()
    if len(data) >= MIN_ENCODED:
        found.extend(_base64(data))
        found.append(_wrapped(data.hex(), re.IGNORECASE))
    return tuple(found)


def _escaped(secret: str) -> Form:
    parts, longest = [], 0
    for char in secret:
        options = [re.escape(char), "".join(f"%{_either(f'{b:02x}')}" for b in char.encode())]
        if char == " ":
            options.append(r"\+")
        if char in _JSON_SHORT:
            options.append(re.escape(_JSON_SHORT[char]))
        units = char.encode("utf-16-be")
        escapes = [f"{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2)]
        options.append("".join(rf"\\u{_either(e)}" for e in escapes))
        parts.append(f"(?:{'|'.join(options)})")
        longest += max(1, 3 * len(char.encode()), 6 * len(escapes))
    return Form(re.compile("".join(parts)), longest)


def _either(hex_digits: str) -> str:
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in hex_digits)


def _base64(data: bytes) -> Iterator[Form]:
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + data).decode()
        start, end = -(-8 * shift // 6), 8 * (shift + len(data)) // 6
        core, rest = encoded[start:end], encoded[end:] if shift == 0 else ""
        for text, tail in ((core, rest), (core.translate(_URLSAFE), rest.translate(_URLSAFE))):
            yield _wrapped(text, 0, tail)


def _wrapped(text: str, flags: int, optional_tail: str = "") -> Form:
    """`text`, line breaks allowed between its characters, then maybe `optional_tail` (the
    last character and padding of a standalone encoding; padding may be left off)."""
    pattern = _BREAK.join(re.escape(c) for c in text)
    tail = ""
    for char in reversed(optional_tail):  # each next one optional, a break only before one
        tail = f"(?:{_BREAK}{re.escape(char)}{tail})?"
    pattern += tail
    chars = len(text) + len(optional_tail)
    return Form(re.compile(pattern, flags), (3 + MAX_INDENT) * chars)


def _leaves(secret: str, depth: int = 0) -> Iterator[str]:
    text = secret.strip()
    if depth > 3 or text[:1] not in ("{", "["):
        return
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return
    stack, count = [document], 0
    while stack and count < MAX_LEAVES:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            count += 1
            yield node
            yield from _leaves(node, depth + 1)


def spans(patterns: Iterable[re.Pattern[str]], text: str) -> list[tuple[int, int]]:
    """Where any pattern matches in `text`, overlapping matches included, merged."""
    found = []
    for pattern in patterns:
        position = 0
        while match := pattern.search(text, position):
            found.append(match.span())
            position = match.start() + 1
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class Redactor:
    """Replaces every form of every secret (and of its JSON leaves) by [REDACTED]."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = secret_values(secrets)
        found = [form for secret in self.secrets for form in forms(secret)]
        self.patterns = [form.pattern for form in found]
        # a form cut by a capture limit no longer matches: its longest match, less one, is
        # what may be left of it at that edge
        self.edge = max((form.longest for form in found), default=1) - 1

    def __call__(self, text: str) -> str:
        return self._redact_between(text, 0, len(text))

    def value(self, value: Any) -> Any:
        """`value` with every string inside it redacted (the details of a result)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def output(self, data: bytes, *, cut_start: bool = False, cut_end: bool = False) -> str:
        """Decoded, redacted, then truncated to its last MAX_OUTPUT characters.

        `cut_start`/`cut_end`: the capture cut `data` there, maybe inside a secret's form,
        whose rest no longer matches it. The characters a form could reach into from that
        edge (`edge`) are dropped, after the forms that do match were found, so a whole
        form crossing that margin is still redacted.
        """
        text = data.decode("utf-8", "replace")
        if not self.edge or not (cut_start or cut_end):
            text = self(text)
        else:
            low = min(self.edge, len(text)) if cut_start else 0
            high = max(low, len(text) - self.edge) if cut_end else len(text)
            note = f"[… {len(text) - (high - low)} characters dropped at the capture limit …]"
            kept = self._redact_between(text, low, high)
            text = (note if cut_start else "") + kept + (note if cut_end else "")
        if len(text) > MAX_OUTPUT:
            text = f"[… {len(text) - MAX_OUTPUT} characters cut …]" + text[-MAX_OUTPUT:]
        return text

    def _redact_between(self, text: str, low: int, high: int) -> str:
        """`text[low:high]` redacted, forms found in the whole `text` (crossing the edges)."""
        pieces: list[str] = []
        position = low
        for start, end in spans(self.patterns, text):
            if end <= low or start >= high:
                continue
            pieces += [text[position : max(start, low)], REDACTED]
            position = min(end, high)
        pieces.append(text[position:high])
        return "".join(pieces)
