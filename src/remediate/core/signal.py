"""The operator priority signal: a level from approval, failure and execution pressure.

Pure. Each pressure is a count compared with two thresholds (a table, so tuning one is
changing a row); the signal's level is the highest any pressure reaches, and its
reason names every pressure above normal, in the seed's style
("Failures rising and approval queue growing.").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NORMAL, WARNING, CRITICAL = "normal", "warning", "critical"
LEVELS = (NORMAL, WARNING, CRITICAL)
LABELS = {NORMAL: "Normal", WARNING: "Warning", CRITICAL: "Critical"}

# pressure → (count at which it is a warning, count at which it is critical), then the
# phrase for each of those levels. Order is the order of the reason sentence.
THRESHOLDS: dict[str, tuple[int, int]] = {
    "failures": (3, 10),  # requests whose last failure is in the 24 h before now
    "approvals": (3, 20),  # requests in PENDING_APPROVAL now
    "executions": (5, 20),  # requests in EXECUTING now
}
PHRASES: dict[tuple[str, str], str] = {
    ("failures", WARNING): "failures rising",
    ("failures", CRITICAL): "failures spiking",
    ("approvals", WARNING): "approval queue growing",
    ("approvals", CRITICAL): "approval queue backed up",
    ("executions", WARNING): "execution load high",
    ("executions", CRITICAL): "execution load saturated",
}
CALM = "No approval, failure or execution pressure."


@dataclass(frozen=True)
class Signal:
    level: str
    reason: str
    pending_approvals: int
    active_executions: int
    failed_in_last_24h: int

    @property
    def label(self) -> str:
        return LABELS[self.level]

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "label": self.label,
            "reason": self.reason,
            "pendingApprovals": self.pending_approvals,
            "activeExecutions": self.active_executions,
            "failedInLast24h": self.failed_in_last_24h,
        }


def level_of(pressure: str, count: int) -> str:
    warning, critical = THRESHOLDS[pressure]
    return CRITICAL if count >= critical else WARNING if count >= warning else NORMAL


def signal(pending_approvals: int, active_executions: int, failed_in_last_24h: int) -> Signal:
    """The signal for these counts."""
    counts = {
        "failures": failed_in_last_24h,
        "approvals": pending_approvals,
        "executions": active_executions,
    }
    levels = {name: level_of(name, counts[name]) for name in THRESHOLDS}
    level = max(levels.values(), key=LEVELS.index)
    phrases = [PHRASES[(name, lv)] for name, lv in levels.items() if lv != NORMAL]
    return Signal(
        level, sentence(phrases), pending_approvals, active_executions, failed_in_last_24h
    )


def sentence(phrases: list[str]) -> str:
    """ "A, b and c." from phrases; the calm sentence for none."""
    if not phrases:
        return CALM
    text = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return text[0].upper() + text[1:] + "."
