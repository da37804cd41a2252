"""The chart of outcomes per day: pygal draws it as SVG; we keep it inert.

pygal (a maintained, pure-Python SVG charting library; see docs/dependencies.md) always
adds a `<script>` with its interactive configuration, three comments (one with today's
date) and a random id. Reports and the control center carry no script and must not
change with the day they are rendered: the script and comments are removed from the
element tree pygal returns (`render_tree`), and the id is fixed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

COMPLETED_COLOUR, FAILED_COLOUR = "#2e7d32", "#c62828"


def outcomes_svg(days: Sequence[tuple[str, int, int]], chart_id: str = "outcomes") -> str:
    """A stacked bar chart, one bar per day (completed, failed), as an `<svg>` element."""
    import pygal
    from pygal.style import Style

    style = Style(
        background="white",
        plot_background="white",
        colors=(COMPLETED_COLOUR, FAILED_COLOUR),
        font_family="sans-serif",
    )
    chart = pygal.StackedBar(
        js=[],
        no_prefix=True,
        disable_xml_declaration=True,
        width=720,
        height=260,
        style=style,
        show_legend=True,
        legend_at_bottom=True,
        x_label_rotation=0 if len(days) <= 8 else 45,
        print_values=False,
        title="Outcomes per day (UTC)",
    )
    chart.x_labels = [day[5:] for day, _, _ in days]
    peak = max((c + f for _, c, f in days), default=0)
    step = max(1, -(-peak // 5))  # whole counts on the y axis, at most ~6 labels
    chart.y_labels = list(range(0, max(peak, 1) + step, step))
    chart.add("completed", [c for _, c, _ in days])
    chart.add("failed", [f for _, _, f in days])
    return _inert(chart, chart_id, "Outcomes per day: completed and failed")


# the control center's chart by environment: one colour per status, in this order
STATUS_COLOURS = {
    "COMPLETED": COMPLETED_COLOUR,
    "FAILED": FAILED_COLOUR,
    "EXECUTING": "#0969da",
    "QUEUED": "#8250df",
    "PENDING_APPROVAL": "#9a6700",
    "POLICY_VIOLATION": "#bc4c00",
    "REJECTED": "#59636e",
    "CANCELLED": "#afb8c1",
}


def environments_svg(
    by_environment: Mapping[str, Mapping[str, int]], chart_id: str = "environments"
) -> str:
    """A horizontal stacked bar per environment: its requests by status, as an `<svg>`."""
    import pygal
    from pygal.style import Style

    statuses = [s for s in STATUS_COLOURS if any(c.get(s) for c in by_environment.values())]
    statuses += sorted({s for c in by_environment.values() for s in c} - set(STATUS_COLOURS))
    style = Style(
        background="white",
        plot_background="white",
        colors=tuple(STATUS_COLOURS.get(s, "#6e7781") for s in statuses) or ("#6e7781",),
        font_family="sans-serif",
    )
    envs = list(by_environment)
    chart = pygal.HorizontalStackedBar(
        js=[],
        no_prefix=True,
        disable_xml_declaration=True,
        width=720,
        height=max(260, 120 + 40 * len(envs)),
        style=style,
        show_legend=True,
        legend_at_bottom=True,
        print_values=False,
        title="Requests by environment and status",
    )
    chart.x_labels = envs
    peak = max((sum(c.values()) for c in by_environment.values()), default=0)
    step = max(1, -(-peak // 5))  # whole counts on the value axis
    chart.y_labels = list(range(0, max(peak, 1) + step, step))
    for status in statuses:
        chart.add(status, [by_environment[env].get(status, 0) for env in envs])
    return _inert(chart, chart_id, "Requests by environment and status")


def _inert(chart: Any, chart_id: str, label: str) -> str:
    """The chart's SVG with no script, no comment and a fixed id."""
    tree = chart.render_tree()
    _strip(tree)
    tree.set("id", chart_id)
    tree.set("role", "img")
    tree.set("aria-label", label)
    ET.register_namespace("", "http://www.w3.org/2000/svg")
    return ET.tostring(tree, encoding="unicode")


def _strip(element: ET.Element) -> None:
    """Remove every script and comment under `element`."""
    for child in list(element):
        tag: object = child.tag
        if tag is ET.Comment or str(tag).rsplit("}", 1)[-1] == "script":
            element.remove(child)
        else:
            _strip(child)
