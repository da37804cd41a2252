"""Change windows: a cron expression in an IANA time zone opens a window of a duration.

The cron expression is read in the window's own zone (cronsim, with zoneinfo,
so 09:00 Europe/Berlin stays 09:00 local across DST changes, and a 02:30 fire
on spring-forward night fires once, like cronie); the duration is elapsed
time from each opening. An expression with a `*` in its minute or hour field fires
at every instant whose wall-clock time matches (cronsim steps those in elapsed time,
which jumps over fires where the offset changes by other than an hour, as on Lord
Howe's 30-minute nights: across an offset change they are found from wall-clock
time). A window is open at `now` when an opening lies less
than `duration` before it (or at it). Arithmetic is on instants (UTC), never on
local wall time. All times here are aware. Openings are sought within the range
of `core.times` (1970 to 9000): none lies outside it, so nothing here overflows
at the ends of `datetime`'s calendar whatever `now` or the duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from itertools import islice
from zoneinfo import ZoneInfo

from remediate.core.times import EARLIEST, LATEST

# How far ahead to look for a time when every policy's windows are open together.
SEARCH_STEPS = 500
SLACK = timedelta(hours=3)  # more than any offset change, and than cronsim's steps back


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
        from cronsim import CronSimError

        moment = now.astimezone(UTC)
        if moment > LATEST:
            return None
        try:
            zone = self._zone()
            found = self._cronsim_next(moment, zone)
            # cronsim's steps may start up to an hour before `moment` (back to the hour)
            if found is not None and self._elapsed_steps and _shifts(zone, moment - SLACK, found):
                found = self._by_wall_clock(moment, found) or found
        except (CronSimError, OverflowError):
            return None
        return found if found is not None and found <= LATEST else None

    def _cronsim_next(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        from cronsim import CronSim

        # Started inside a fall-back night's repeated hour (fold=1),
        # cronsim can yield the first pass's fire, which is already past.
        fires = CronSim(self.cron, max(moment, EARLIEST).astimezone(zone))
        for fire in islice(fires, 4):
            if fire.astimezone(UTC) > moment:
                return fire.astimezone(UTC)
        return None

    @cached_property
    def _elapsed_steps(self) -> bool:
        """Whether cronsim steps this expression in elapsed time (a `*` in its minute or hour
        field): across an offset change other than one hour (Lord Howe's 30 minutes) such a
        step can jump over a fire. Expressions at a fixed minute and hour step in wall time,
        Debian cron's way, deliberately (a fall-back night's 01:30 fires once)."""
        minute, hour = self.cron.split()[:2]
        return minute.startswith("*") or hour.startswith("*")

    def _by_wall_clock(self, after: datetime, until: datetime) -> datetime | None:
        """The first instant in (after, until) whose local wall-clock time matches the
        expression: its matching wall-clock times, from naive (zone-less) iteration, each
        taken at both folds and kept where it exists. Asked only across an offset change."""
        from cronsim import CronSim

        zone = self._zone()
        start = after.astimezone(zone).replace(tzinfo=None) - SLACK
        end = until.astimezone(zone).replace(tzinfo=None) + SLACK
        found = []
        for wall in CronSim(self.cron, start):
            if wall > end:
                break
            for fold in (0, 1):
                instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
                exists = instant.astimezone(zone).replace(tzinfo=None) == wall
                if exists and after < instant < until:
                    found.append(instant)
        return min(found, default=None)

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


def _shifts(zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """Whether the zone's offset differs between two instants (an offset change between)."""
    return start.astimezone(zone).utcoffset() != end.astimezone(zone).utcoffset()


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
