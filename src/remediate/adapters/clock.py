"""The clock adapters: the wall clock (or REMEDIATE_NOW standing in for it), a fixed one."""

from __future__ import annotations

from datetime import UTC, datetime

from remediate.core.times import RANGE, OutOfRange, parse_time
from remediate.errors import UsageError


class SystemClock:
    """The wall clock; `override` (REMEDIATE_NOW, as `wiring` reads it) replaces it so that
    tests never depend on today. A malformed override fails when the time is asked for."""

    def __init__(self, override: str | None = None) -> None:
        self.override = override or None

    def now(self) -> datetime:
        if self.override is None:
            return datetime.now(UTC)
        try:
            return parse_time(self.override)
        except OutOfRange:
            raise UsageError(
                f"REMEDIATE_NOW={self.override!r}: outside the supported range ({RANGE})"
            ) from None
        except ValueError:
            raise UsageError(
                f"REMEDIATE_NOW={self.override!r} is not an RFC 3339 time with an offset "
                "(e.g. 2026-11-23T10:00:00Z)"
            ) from None


class FixedClock:
    """Always the same moment."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment
