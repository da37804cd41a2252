"""Change windows: a cron expression in an IANA time zone opens a window of a duration.

The cron expression is read in the window's own zone (cronsim, with zoneinfo,
so 09:00 Europe/Berlin stays 09:00 local across DST changes, and a 02:30 fire
on spring-forward night fires once, like cronie); the duration is elapsed
time from each opening. A window is open at `now` when an opening lies less
than `duration` before it (or at it). Arithmetic is on instants (UTC), never on
local wall time. All times here are aware. Openings are sought within the range
of `core.times` (1970 to 9000): none lies outside it, so nothing here overflows
at the ends of `datetime`'s calendar whatever `now` or the duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from remediate.core.times import EARLIEST, LATEST

# How far ahead to look for a time when every policy's windows are open together.
SEARCH_STEPS = 500


@dataclass(frozen=True)
class ChangeWindow:
    cron: str
    duration: timedelta
    timezone: str

    def describe(self) -> str:
        from remediate.core.duration import format_duration

        return f"{self.cron} for {format_duration(self.duration)} ({self.timezone})"

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_opening(self, now: datetime) -> datetime | None:
        """The first opening strictly after `now`."""
        from cronsim import CronSim, CronSimError

        moment = now.astimezone(UTC)
        if moment > LATEST:
            return None
        try:
            # Started inside a fall-back night's repeated hour (fold=1),
            # cronsim can yield the first pass's fire, which is already past.
            fires = CronSim(self.cron, max(moment, EARLIEST).astimezone(self._zone()))
            for fire in islice(fires, 4):
                if fire.astimezone(UTC) > moment:
                    found = fire.astimezone(UTC)
                    return found if found <= LATEST else None
        except (CronSimError, OverflowError):
            return None
        return None

    def is_open(self, now: datetime) -> bool:
        """Open when some opening lies in (now − duration, now].

        Asked forward, from `now − duration` (an instant, so DST cannot move
        it): cronsim's forward iteration keeps a fall-back night's two 02:00s
        apart, where reverse iteration in wall time skips one of them.
        """
        try:
            since = now - self.duration
        except OverflowError:  # a duration longer than the time since year 1
            since = EARLIEST
        opened = self.next_opening(since)
        return opened is not None and opened <= now

    def next_open(self, now: datetime) -> datetime | None:
        """`now` when open, else the next opening (None: never opens again)."""
        return now if self.is_open(now) else self.next_opening(now)


def next_open(windows: Sequence[ChangeWindow], now: datetime) -> datetime | None:
    """The earliest time at or after `now` when any of `windows` is open."""
    found = [t for t in (w.next_open(now) for w in windows) if t is not None]
    return min(found) if found else None


def next_open_all(groups: Sequence[Sequence[ChangeWindow]], now: datetime) -> datetime | None:
    """The earliest time at or after `now` when every group has an open window.

    Each group is one policy's windows (any of them will do); every policy
    must agree. None: no common time found (`common_opening`).
    """
    return common_opening(groups, now)[0]


def common_opening(
    groups: Sequence[Sequence[ChangeWindow]], now: datetime
) -> tuple[datetime | None, datetime]:
    """The first common open time (None: not found) and how far ahead the search got.

    Jumping to the latest of the groups' next openings and checking again
    converges on the first common time, or gives up after `SEARCH_STEPS`
    jumps, or when a window never opens again.
    """
    moment = now
    for _ in range(SEARCH_STEPS):
        candidates = [next_open(group, moment) for group in groups]
        if any(c is None for c in candidates):
            return None, moment
        latest = max(c for c in candidates if c is not None)
        if latest == moment:
            return moment, moment
        moment = latest
    return None, moment
