"""Schedules (pure): fire times in IANA zones across DST, catchUp, missed fires, names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from remediate.core.schedules import MAX_FIRES, Missed, Schedule, due, fire_name


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _schedule(cron: str, timezone: str, catch_up: str = "latest") -> Schedule:
    return Schedule("nightly", "schedules/nightly.yaml", cron, timezone, catch_up, "report", {})


def _z(moments: tuple[datetime, ...]) -> list[str]:
    return [m.astimezone(UTC).strftime("%m-%dT%H:%MZ") for m in moments]


@pytest.mark.parametrize(
    ("timezone", "since", "fires"),
    [
        # 06:00 local stays 06:00 local: 05:00Z in CET, 04:00Z in CEST (from 29 March)
        (
            "Europe/Berlin",
            "2026-03-27T06:00:00Z",
            ["03-28T05:00Z", "03-29T04:00Z", "03-30T04:00Z", "03-31T04:00Z"],
        ),
        # … and back on 25 October
        (
            "Europe/Berlin",
            "2026-10-23T06:00:00Z",
            ["10-24T04:00Z", "10-25T05:00Z", "10-26T05:00Z", "10-27T05:00Z"],
        ),
        # New York: EST 11:00Z, EDT from 8 March 10:00Z; back on 1 November
        (
            "America/New_York",
            "2026-03-06T12:00:00Z",
            ["03-07T11:00Z", "03-08T10:00Z", "03-09T10:00Z", "03-10T10:00Z"],
        ),
        (
            "America/New_York",
            "2026-10-30T12:00:00Z",
            ["10-31T10:00Z", "11-01T11:00Z", "11-02T11:00Z", "11-03T11:00Z"],
        ),
    ],
)
def test_catch_up_across_dst_all_latest_none(timezone: str, since: str, fires: list[str]) -> None:
    start = _at(since)
    last = [f for f in fires][-1]
    now = _at(f"{start.year}-{last[:5]}T{last[6:11]}:00Z") + timedelta(minutes=30)
    every = due(_schedule("0 6 * * *", timezone, "all"), start, now)
    assert _z(every.run) == fires and every.missed is None
    latest = due(_schedule("0 6 * * *", timezone, "latest"), start, now)
    assert _z(latest.run) == fires[-1:]
    assert latest.missed is not None and latest.missed.count == 3
    assert _z((latest.missed.first, latest.missed.last)) == [fires[0], fires[2]]
    # none: 30 minutes late runs; 90 minutes late runs nothing, every fire missed
    on_time = due(_schedule("0 6 * * *", timezone, "none"), start, now)
    assert _z(on_time.run) == fires[-1:] and on_time.missed is not None
    late = due(_schedule("0 6 * * *", timezone, "none"), start, now + timedelta(hours=1))
    assert late.run == () and late.missed is not None
    assert (late.missed.count, _z((late.missed.first, late.missed.last))) == (
        4,
        [fires[0], fires[-1]],
    )


@pytest.mark.parametrize(
    ("timezone", "day", "spring", "fall"),
    [
        # 02:30 does not exist on spring-forward night: it fires once, at 03:00 local;
        # on fall-back night it exists once (Berlin: 02:30 CEST; New York: 02:30 EST)
        ("Europe/Berlin", ("2026-03-28", "2026-10-24"), "03-29T01:00Z", "10-25T00:30Z"),
        ("America/New_York", ("2026-03-07", "2026-10-31"), "03-08T07:00Z", "11-01T07:30Z"),
    ],
)
def test_a_fire_in_the_dst_gap_or_overlap_fires_once(
    timezone: str, day: tuple[str, str], spring: str, fall: str
) -> None:
    for start, expected in zip(day, (spring, fall), strict=True):
        after = _at(f"{start}T12:00:00Z")
        found = due(_schedule("30 2 * * *", timezone, "all"), after, after + timedelta(days=1))
        assert _z(found.run) == [expected]


def test_hourly_fires_count_elapsed_hours_across_dst() -> None:
    # the fall-back night has 25 local hours, each fired once; spring-forward 23
    fall = due(
        _schedule("0 * * * *", "Europe/Berlin", "all"),
        _at("2026-10-24T22:00:00Z"),
        _at("2026-10-25T23:00:00Z"),
    )
    assert len(fall.run) == 25
    spring = due(
        _schedule("0 * * * *", "America/New_York", "all"),
        _at("2026-03-08T05:00:00Z"),
        _at("2026-03-09T03:00:00Z"),
    )
    assert len(spring.run) == 22 and len(set(spring.run)) == 22


def test_nothing_is_due_before_the_first_fire_and_a_suspended_schedule_never_fires() -> None:
    s = _schedule("0 6 * * 1", "Europe/Berlin")
    assert due(s, _at("2026-11-23T05:00:00Z"), _at("2026-11-23T05:00:00Z")).run == ()
    assert due(s, _at("2026-11-22T00:00:00Z"), _at("2026-11-23T04:59:00Z")).run == ()
    assert _z(due(s, _at("2026-11-22T00:00:00Z"), _at("2026-11-23T05:00:00Z")).run) == [
        "11-23T05:00Z"
    ]
    suspended = Schedule("n", "f", "0 6 * * 1", "Europe/Berlin", "all", "report", {}, True)
    assert due(suspended, _at("2026-01-01T00:00:00Z"), _at("2026-12-01T00:00:00Z")).run == ()


def test_a_long_outage_is_summarised_not_walked_and_all_is_bounded_per_tick() -> None:
    minute = _schedule("* * * * *", "UTC", "latest")
    found = due(minute, _at("2025-11-01T00:00:00Z"), _at("2026-11-01T00:00:30Z"))
    assert _z(found.run) == ["11-01T00:00Z"]
    assert found.missed is not None and not found.missed.exact and found.missed.count == 10_000
    assert _z((found.missed.first, found.missed.last)) == ["11-01T00:01Z", "10-31T23:59Z"]
    every = due(
        _schedule("* * * * *", "UTC", "all"),
        _at("2026-11-01T00:00:00Z"),
        _at("2026-11-01T12:00:00Z"),
    )
    assert len(every.run) == MAX_FIRES and every.more


def test_fire_names_are_the_schedule_and_the_utc_minute() -> None:
    assert fire_name("weekly-cert-check", _at("2026-11-23T05:00:00Z")) == (
        "weekly-cert-check-20261123T0500Z"
    )
    assert Missed(_at("2026-11-23T05:00:00Z"), _at("2026-11-24T05:00:00Z"), 2).as_json() == {
        "first": "2026-11-23T05:00:00.000Z",
        "last": "2026-11-24T05:00:00.000Z",
        "count": 2,
        "exact": True,
    }
