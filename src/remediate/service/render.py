"""Plan output for people: text for terminals, markdown for pull-request comments.

The markdown is rendered from a jinja2 template shipped in the package, with
autoescaping on, and every user-provided string goes through `neutral` first:
a comment must not ping people, link anywhere or carry HTML because someone
wrote it into a request or a policy message.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from remediate.core.decision import iso
from remediate.service.plan import PlanReport

MARKER = "<!-- remediate:plan -->"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(//)")
_WWW = re.compile(r"\b(www)\.", re.IGNORECASE)
_JOINER = "\u2060"  # WORD JOINER: invisible, breaks mentions and autolinks


def neutral(value: object) -> str:
    """User text made inert in markdown: one line, no mentions, links, emphasis or tables."""
    text = " ".join(str(value).split())
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    text = text.replace("@", "@" + _JOINER)
    text = _SCHEME.sub(lambda m: f"{m.group(1)}:{_JOINER}{m.group(2)}", text)
    text = _WWW.sub(lambda m: f"{m.group(1)}{_JOINER}.", text)
    return text


def summary(report: PlanReport) -> str:
    counts = Counter(d.status for d in report.decisions)
    if not counts:
        return "0 requests"
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    total = len(report.decisions)
    return f"{total} request{'s' if total != 1 else ''}: {parts}"


def render_markdown(report: PlanReport) -> str:
    """The body of the pull-request comment; starts with `<!-- remediate:plan -->`."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("remediate", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["neutral"] = neutral
    entries: list[dict[str, Any]] = [
        {
            "decision": e.decision,
            "approvers": ", ".join(e.decision.approvers) or "-",
            "not_before": iso(e.decision.not_before),
        }
        for e in report.entries
    ]
    body: str = env.get_template("plan.md.j2").render(
        summary=summary(report), base=report.base, now=iso(report.now), entries=entries
    )
    return body


def render_text(report: PlanReport) -> str:
    lines = []
    for e in report.entries:
        d = e.decision
        lines.append(f"{d.request_id}: {d.status}")
        lines.append(f"  {d.detail}")
        if d.approvers:
            lines.append(f"  approvers: {', '.join(d.approvers)}")
        if d.not_before is not None:
            lines.append(f"  not before: {iso(d.not_before)}")
    lines.append(f"{summary(report)} (as of {iso(report.now)})")
    return "\n".join(lines)
