"""User text made inert in Markdown, and Markdown kept within GitHub's limits.

Text from documents must not ping people, link anywhere, add table columns or carry
HTML because someone wrote it into a key, a request or a policy message. Past its limit
GitHub drops a job summary whole (1 MiB per step) and refuses a comment (65,536
characters), so a table is cut between rows, never inside one (nor a character), and
ends with how many rows it left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

SUMMARY_LIMIT = 1024 * 1024  # bytes GitHub keeps of one step's job summary
COMMENT_LIMIT = 65536  # characters GitHub accepts in a comment body

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(//)")
_WWW = re.compile(r"\b(www)\.", re.IGNORECASE)
_JOINER = "\u2060"  # WORD JOINER: invisible, breaks mentions and autolinks


def neutral(value: object) -> str:
    """One line, no mentions, links, emphasis or tables (HTML is escaped by the caller)."""
    text = " ".join(str(value).split())
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    text = text.replace("@", "@" + _JOINER)
    text = _SCHEME.sub(lambda m: f"{m.group(1)}:{_JOINER}{m.group(2)}", text)
    text = _WWW.sub(lambda m: f"{m.group(1)}{_JOINER}.", text)
    return text


def cell(value: object) -> str:
    """A Markdown table cell: `neutral`, with HTML escaped (no template escapes it here)."""
    return neutral(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(
    head: str,
    rows: Sequence[str],
    tail: Callable[[int], str],
    chars: int | None = None,
    size: int | None = None,
) -> tuple[str, int]:
    """`head`, as many whole `rows` as fit, then `tail(shown)`, in at most `chars`
    characters and `size` bytes (UTF-8); with how many rows were shown. Rows end with a
    newline; `tail(len(rows))` is what follows a whole table (usually nothing)."""
    out, used_chars, used_bytes = [head], len(head), len(head.encode())
    for shown, row in enumerate(rows):
        end = tail(shown + 1)  # what follows if this row is the last shown
        more_chars = used_chars + len(row) + len(end)
        more_bytes = used_bytes + len(row.encode()) + len(end.encode())
        if (chars is not None and more_chars > chars) or (size is not None and more_bytes > size):
            return "".join(out) + tail(shown), shown
        out.append(row)
        used_chars += len(row)
        used_bytes += len(row.encode())
    return "".join(out) + tail(len(rows)), len(rows)
