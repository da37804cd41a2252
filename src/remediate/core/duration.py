"""Durations as written in documents: `30s`, `5m`, `8h`, `1h30m`, `7d`, `250ms`."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"([0-9]{1,6})(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}

# The longest duration there is: ten years (as `retentionDays`' 3650). A lease, window,
# rate limit or backoff that long never ends in practice, and one such duration added to
# or taken from any supported time (core.times: 1970 to 9000) stays inside datetime's
# calendar. Sums and multiples of durations are clamped where they are computed
# (core.times.later and earlier).
LONGEST = timedelta(days=3650)
_LONGEST_TEXT = "3650d (ten years)"


def parse_duration(text: str) -> timedelta:
    """Parse a duration of at most LONGEST; ValueError names what is wrong."""
    problem = duration_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return timedelta(seconds=_seconds(text) or 0.0)


def duration_problem(text: str) -> str | None:
    """What is wrong with `text` as a duration (not one, or longer than LONGEST), or None."""
    seconds = _seconds(text)
    if seconds is None:
        return f"{text!r} is not a duration (expected e.g. 30s, 5m, 8h, 1h30m, 7d)"
    if seconds > LONGEST.total_seconds():
        return f"{text!r} is longer than {_LONGEST_TEXT}, the longest duration allowed"
    return None


def too_long(text: str) -> bool:
    """Is `text` a duration longer than LONGEST? (The schema's `remediate-duration` format.)"""
    seconds = _seconds(text)
    return seconds is not None and seconds > LONGEST.total_seconds()


def _seconds(text: str) -> float | None:
    pos, seconds = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        seconds += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return seconds if text and pos == len(text) else None


def format_duration(delta: timedelta) -> str:
    """The shortest of our own spellings for a whole number of seconds."""
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
