"""The one way a time is read and written: RFC 3339 with an offset, always aware UTC.

Documents (`expires`, PolicyTest `now`), audit events (`at`, `deadline`, `retryAt`),
lock bodies, `--now` and `REMEDIATE_NOW` all go through `parse_time`; every time the
runner writes goes through `iso`. A time without an offset is refused, never guessed:
"10:00" in a runner's log must not mean a different instant on another machine.

Times are bounded to the years 1970 to 9000 in UTC (`EARLIEST`, `LATEST`): git cannot
date anything before 1970, and the centuries after 9000 leave room for every duration,
window search and backoff added to a time before `datetime` overflows at year 9999.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
RANGE = "1970 to 9000, UTC"


class OutOfRange(ValueError):
    """A well-formed time outside EARLIEST..LATEST; the message says so."""


def parse_time(value: str | datetime) -> datetime:
    """An RFC 3339 time (`Z` or an offset; fractions of a second kept) as aware UTC.

    A `datetime` (a YAML timestamp) is accepted as is. ValueError when there is no
    offset or the text is no ISO 8601 time; OutOfRange (a ValueError) outside 1970..9000.
    """
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone offset (write e.g. 2026-11-23T10:00:00Z)")
    # Compared before converting: astimezone itself overflows at the calendar's ends.
    if not EARLIEST <= moment <= LATEST:
        raise OutOfRange(f"{value!r} is outside the supported range ({RANGE})")
    return moment.astimezone(UTC)


def later(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, or LATEST when that is later. One duration (at most ten years:
    core.duration.LONGEST) added to a supported time stays well inside the calendar, but a
    sum of many (a lock over many actions' timeouts) or a backoff doubled many times may
    pass LATEST, or year 9999 where datetime overflows. A lease or retry time that far
    off never comes, and LATEST still reads back with parse_time."""
    try:
        return min(moment + delta, LATEST)
    except OverflowError:
        return LATEST


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds: 2026-11-23T09:00:00.000Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
