"""User text made inert in Markdown: pull-request comments and job summaries.

Text from documents must not ping people, link anywhere, add table columns or carry
HTML because someone wrote it into a key, a request or a policy message.
"""

from __future__ import annotations

import re

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
