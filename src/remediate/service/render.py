"""Plan output for people: text for terminals, markdown for pull-request comments.

The markdown is rendered from a jinja2 template shipped in the package, with
autoescaping on, and every user-provided string goes through `neutral` first:
a comment must not ping people, link anywhere or carry HTML because someone
wrote it into a request or a policy message (`remediate.service.markdown`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from remediate.core.decision import iso
from remediate.service.markdown import COMMENT_LIMIT, SUMMARY_LIMIT, fit, neutral
from remediate.service.plan import Planned, PlanReport

MARKER = "<!-- remediate:plan -->"


def summary(report: PlanReport) -> str:
    counts = Counter(d.status for d in report.decisions)
    if not counts:
        return "0 requests"
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    total = len(report.decisions)
    return f"{total} request{'s' if total != 1 else ''}: {parts}"


@dataclass(frozen=True)
class Markdown:
    """The comment body, and the entries it had no room for (to be listed elsewhere)."""

    body: str
    left_out: tuple[Planned, ...] = ()


def render_markdown(report: PlanReport, limit: int = COMMENT_LIMIT) -> Markdown:
    """The body of the pull-request comment; starts with `<!-- remediate:plan -->`.

    At most `limit` characters (a comment body's limit, and within a job summary's
    1 MiB): whole rows only, then "… and N more requests: see the log of this step."
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("remediate", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["neutral"] = neutral
    template = env.get_template("plan.md.j2")
    given = {
        "summary": summary(report),
        "base": report.base,
        "now": iso(report.now),
        "automation": [
            {"file": a.file, "approvers": ", ".join(a.approvers) or "-"} for a in report.automation
        ],
    }
    module = template.make_module({**given, "entries": report.entries})
    head = str(module)
    rows = [str(module.row(_entry(e))) for e in report.entries]  # type: ignore[attr-defined]
    total = len(rows)

    def tail(shown: int) -> str:
        more = total - shown
        if not more:
            return "\n"
        return f"\n… and {more} more request{'s' if more != 1 else ''}: see the log of this step.\n"

    body, shown = fit(head, rows, tail, chars=limit, size=SUMMARY_LIMIT)
    return Markdown(body, report.entries[shown:])


def _entry(e: Planned) -> dict[str, Any]:
    return {
        "decision": e.decision,
        "approvers": ", ".join(e.decision.approvers) or "-",
        "not_before": iso(e.decision.not_before),
    }


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
    lines += [a.sentence for a in report.automation]
    lines.append(f"{summary(report)} (as of {iso(report.now)})")
    return "\n".join(lines)
