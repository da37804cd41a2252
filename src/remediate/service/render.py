"""Plan output for people: text for terminals, markdown for pull-request comments.

The markdown is rendered from a jinja2 template shipped in the package, with
autoescaping on, and every user-provided string goes through `neutral` first:
a comment must not ping people, link anywhere or carry HTML because someone
wrote it into a request or a policy message (`remediate.service.markdown`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from remediate.core.decision import iso
from remediate.service.markdown import neutral
from remediate.service.plan import PlanReport

MARKER = "<!-- remediate:plan -->"


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
