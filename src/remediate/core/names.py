"""Which characters a name may hold, and how to name one it may not.

Environment and service names hold only ASCII letters, digits, `-`, `_` and
`.` (PRODUCT.md, "Files"), so a look-alike letter (Cyrillic `р` in
`рroduction`), a fullwidth letter or an invisible joiner is an error that
names the character, instead of a name that silently matches nothing.
"""

from __future__ import annotations

import string
import unicodedata

NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_.")
NAME_RULE = "hold only ASCII letters, digits, '-', '_' and '.'"
# What a reader cannot tell apart from something else: anything but visible ASCII.
_VISIBLE_ASCII = frozenset(chr(c) for c in range(0x21, 0x7F))


def describe_character(char: str) -> str:
    """`U+0440 CYRILLIC SMALL LETTER ER`: the code point and its Unicode name."""
    name = (
        unicodedata.name(char, "")
        or _CONTROLS.get(char)
        or _UNNAMED.get(unicodedata.category(char), "character")
    )
    return f"U+{ord(char):04X} {name}"


# Unicode gives control characters no name, only aliases: these are the ones YAML lets through.
_CONTROLS = {"\t": "CHARACTER TABULATION", "\n": "LINE FEED", "\r": "CARRIAGE RETURN"}
_UNNAMED = {"Cc": "control character", "Co": "private-use character", "Cn": "unassigned"}


def first_invisible(text: str) -> str | None:
    """`character 1 is U+0440 CYRILLIC SMALL LETTER ER` for the first character that is not
    visible ASCII (a look-alike, a space, a joiner), or None."""
    for i, char in enumerate(text, 1):
        if char not in _VISIBLE_ASCII:
            return f"character {i} is {describe_character(char)}"
    return None


def first_outside_name(text: str) -> str | None:
    """The same description for the first character a name may not hold, or None."""
    for i, char in enumerate(text, 1):
        if char not in NAME_CHARACTERS:
            return f"character {i} is {describe_character(char)}"
    return None
