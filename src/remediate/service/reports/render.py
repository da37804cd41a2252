"""A digest as Markdown (stdout, `.md`, the e-mail's text part) and as HTML (`.html`, the
e-mail's HTML part). Values from requests and policies are data: Markdown cells go
through `service.markdown.cell` (no mentions, links, tables or HTML), and the HTML is
rendered by jinja2 in its sandbox with autoescaping on (a `<script>` in a reason is text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from remediate.core.reports import Digest, Row
from remediate.core.times import iso
from remediate.service.markdown import cell
from remediate.service.reports.chart import outcomes_svg

TEMPLATE = "report.html.j2"


def title(digest: Digest) -> str:
    return f"Remediation report {digest.start:%Y-%m-%d %H:%M} – {digest.end:%Y-%m-%d %H:%M} UTC"


def _table(head: tuple[str, ...], rows: Sequence[tuple[object, ...]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _more(shown: int, count: int) -> list[str]:
    return [f"… and {count - shown} more"] if count > shown else []


def _rows(rows: tuple[Row, ...], *fields: str) -> list[tuple[object, ...]]:
    return [tuple(getattr(r, f) for f in fields) for r in rows]


def markdown(digest: Digest) -> str:
    """The digest as Markdown (GitHub-flavoured tables)."""
    s = digest.signal
    out = [f"# {title(digest)}", ""]
    org = f" of {cell(digest.organization)}" if digest.organization else ""
    out += [f"Signal{org}: **{s.label}**: {cell(s.reason)}", ""]
    out += [
        f"{digest.total} requests changed in the period; {s.pending_approvals} pending "
        f"approval, {s.active_executions} executing, {s.failed_in_last_24h} failed in the "
        "last 24 hours.",
        "",
        "## Totals by status",
        "",
    ]
    out += (
        _table(("status", "requests"), list(digest.by_status.items()))
        if digest.by_status
        else ["None."]
    )
    out += ["", "## Totals by environment", ""]
    statuses = sorted({k for c in digest.by_environment.values() for k in c})
    env_rows = [(env, *(c.get(k, 0) for k in statuses)) for env, c in digest.by_environment.items()]
    out += _table(("environment", *statuses), env_rows) if env_rows else ["None."]
    out += ["", "## Outcomes per day (UTC)", ""]
    peak = max((c + f for _, c, f in digest.days), default=0) or 1
    out += _table(
        ("day", "completed", "failed", ""),
        [
            (d, c, f, "█" * round(20 * c / peak) + "░" * round(20 * f / peak))
            for d, c, f in digest.days
        ],
    )
    out += ["", f"## Failures ({digest.failure_count})", ""]
    rows = _rows(digest.failures, "at", "request_id", "environment", "service_name", "text")
    out += _table(("at", "request", "environment", "service", "error"), rows) if rows else ["None."]
    out += _more(len(rows), digest.failure_count)
    out += ["", f"## Pending approvals ({digest.pending_count})", ""]
    rows = _rows(digest.pending, "request_id", "environment", "service_name", "who", "text")
    out += (
        _table(("request", "environment", "service", "may approve", "decision"), rows)
        if rows
        else ["None."]
    )
    out += _more(len(rows), digest.pending_count)
    out += ["", f"## Overrides ({digest.override_count})", ""]
    rows = _rows(digest.overrides, "at", "request_id", "environment", "who", "text")
    out += (
        _table(("at", "request", "environment", "operator", "reason"), rows) if rows else ["None."]
    )
    out += _more(len(rows), digest.override_count)
    out += ["", "## Exceptions expiring within 14 days", ""]
    ex = [(e.expires, e.policy, e.name, e.owner, e.reason) for e in digest.expiring]
    out += _table(("expires", "policy", "exception", "owner", "reason"), ex) if ex else ["None."]
    return "\n".join(out) + "\n"


def context(digest: Digest) -> dict[str, Any]:
    """What the HTML template reads: plain values only."""
    statuses = sorted({k for c in digest.by_environment.values() for k in c})
    return {
        "title": title(digest),
        "digest": digest,
        "signal": digest.signal,
        "start": iso(digest.start),
        "end": iso(digest.end),
        "statuses": statuses,
        "chart": outcomes_svg(digest.days),
    }


def html(digest: Digest) -> str:
    """The digest as one self-contained HTML page (inline CSS and SVG, no script)."""
    from markupsafe import Markup

    values = context(digest)
    values["chart"] = Markup(values["chart"])  # our own SVG, drawn from numbers only
    return str(environment().get_template(TEMPLATE).render(values))


CONTROL = "control.html.j2"


def control_center(digest: Digest) -> str:
    """The control center: one static, self-contained page (inline CSS and SVG charts, no
    script, font or image from anywhere) for GitHub Pages."""
    from markupsafe import Markup

    from remediate.service.reports.chart import STATUS_COLOURS, environments_svg

    values = context(digest)
    values["chart"] = Markup(values["chart"])  # our own SVG, drawn from numbers only
    values["environments"] = Markup(environments_svg(digest.by_environment))
    values["colours"] = STATUS_COLOURS
    return str(environment().get_template(CONTROL).render(values))


def environment() -> Any:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=jinja2.PackageLoader("remediate", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
