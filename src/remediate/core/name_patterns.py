"""Whether a `matches()` regex can match a name as conditions see it (in lower case).

Only what is certain is reported: an ASCII upper-case letter that the regex
must match literally, outside escapes (`\\S`, `\\W`, `\\p{Lu}`), character
classes (`[A-Za-z]`) and group names (`(?P<Env>...)`). A regex that turns on
case-insensitive matching anywhere (`(?i)`) is accepted whole.
"""

from __future__ import annotations

import re

_BRACED_ESCAPE = re.compile(r"\\[pPxuU]\{[^}]*\}")
_GROUP_NAME = re.compile(r"\(\?P?<[^>]*>")
_FLAGS = re.compile(r"\(\?([a-zA-Z-]*)[:)]")


def upper_case_letters(regex: str) -> list[int]:
    """0-based positions of the letters in `regex` that can never match a lower-case name."""
    if any("i" in m.group(1).split("-")[0] for m in _FLAGS.finditer(regex)):
        return []
    found = []
    i = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            braced = _BRACED_ESCAPE.match(regex, i)
            i = braced.end() if braced else i + 2
        elif char == "[":
            i = _class_end(regex, i)
        elif regex.startswith("(?", i):
            group = _GROUP_NAME.match(regex, i) or _FLAGS.match(regex, i)
            i = group.end() if group else i + 2
        else:
            if "A" <= char <= "Z":
                found.append(i)
            i += 1
    return found


def _class_end(regex: str, start: int) -> int:
    """The position after the class opened at `start` (classes nest: `[a[:upper:]]`)."""
    depth = 0
    i = start
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            depth += 1
            i += 1
            # a `]` (after an optional `^`) first in a class is a member, not its end
            i += regex[i : i + 1] == "^"
            i += regex[i : i + 1] == "]"
            continue
        if char == "]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def lowered(regex: str, positions: list[int]) -> str:
    """`regex` with the letters at `positions` in lower case: what the author meant."""
    chars = list(regex)
    for i in positions:
        chars[i] = chars[i].lower()
    return "".join(chars)
