"""The clock adapters: the wall clock (REMEDIATE_NOW only as an evaluation time), a fixed one."""

from __future__ import annotations

from datetime import UTC, datetime

from remediate.core.times import RANGE, OutOfRange, parse_time
from remediate.errors import UsageError


class SystemClock:
    """The wall clock. `override` (REMEDIATE_NOW, as `wiring` reads it) is only the time
    `plan` and `explain` evaluate at when no `--now` is given: it never stands in for
    the runner's clock, so it can neither back-date the audit nor move a state-changing
    command out of a freeze. A malformed override fails when it is asked for."""

    def __init__(self, override: str | None = None) -> None:
        self.text = override or None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def override(self) -> datetime | None:
        if self.text is None:
            return None
        try:
            return parse_time(self.text)
        except OutOfRange:
            raise UsageError(
                f"REMEDIATE_NOW={self.text!r}: outside the supported range ({RANGE})"
            ) from None
        except ValueError:
            raise UsageError(
                f"REMEDIATE_NOW={self.text!r} is not an RFC 3339 time with an offset "
                "(e.g. 2026-11-23T10:00:00Z)"
            ) from None


class FixedClock:
    """Always the same moment (for the runner's clock), and an optional override."""

    def __init__(self, moment: datetime, override: datetime | None = None) -> None:
        self.moment = moment
        self.evaluate_at = override

    def now(self) -> datetime:
        return self.moment

    def override(self) -> datetime | None:
        return self.evaluate_at
