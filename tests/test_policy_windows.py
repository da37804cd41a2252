"""Change windows (DST, midnight, several policies) and rate limits (boundaries, keys)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remediate.core.decision import Approval, Execution
from remediate.core.windows import ChangeWindow, next_open_all
from tests.policy_helpers import NOW, context, decide, policies, policy, request

BUSINESS = {"cron": "0 9 * * 1-5", "duration": "8h", "timezone": "Europe/Berlin"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def business() -> ChangeWindow:
    return ChangeWindow("0 9 * * 1-5", timedelta(hours=8), "Europe/Berlin")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-23T08:00:00Z", "2026-11-23T08:00:00+00:00"),  # opens exactly now (09:00 CET)
        ("2026-11-23T07:59:59Z", "2026-11-23T08:00:00+00:00"),
        ("2026-11-23T16:00:00Z", "2026-11-24T08:00:00+00:00"),  # closes at 17:00 CET
        ("2026-11-21T12:00:00Z", "2026-11-23T08:00:00+00:00"),  # Saturday → Monday
        # Friday evening before spring-forward: Monday 09:00 CEST is 07:00 UTC
        ("2026-03-27T16:30:00Z", "2026-03-30T07:00:00+00:00"),
        # Friday evening before fall-back: Monday 09:00 CET is 08:00 UTC
        ("2026-10-23T15:30:00Z", "2026-10-26T08:00:00+00:00"),
    ],
)
def test_next_open_business_hours_across_dst(now: str, expected: str) -> None:
    assert business().next_open(at(now)) == datetime.fromisoformat(expected)


def test_window_across_midnight() -> None:
    night = ChangeWindow("0 22 * * *", timedelta(hours=4), "Europe/Berlin")
    assert night.is_open(at("2026-11-24T00:59:00Z"))  # 01:59 CET, opened 22:00 CET
    assert not night.is_open(at("2026-11-24T01:00:00Z"))  # 02:00 CET: closed
    assert night.next_open(at("2026-11-24T01:00:00Z")) == at("2026-11-24T21:00:00Z")


def test_a_0230_window_opens_once_on_dst_nights() -> None:
    w = ChangeWindow("30 2 * * *", timedelta(hours=1), "Europe/Berlin")
    spring = w.next_open(at("2026-03-28T12:00:00Z"))
    assert spring == at("2026-03-29T01:00:00Z")  # 02:30 does not exist: 03:00 CEST
    assert w.next_opening(spring) == at("2026-03-30T00:30:00Z")
    fall = w.next_open(at("2026-10-24T12:00:00Z"))
    assert fall == at("2026-10-25T00:30:00Z")  # first 02:30 (CEST)
    assert w.next_opening(fall) == at("2026-10-26T01:30:00Z")  # not again at 02:30 CET


def test_all_policies_must_agree_on_a_window() -> None:
    berlin = business()
    new_york = ChangeWindow("0 9 * * 1-5", timedelta(hours=8), "America/New_York")
    # Monday 06:00 UTC: Berlin opens 08:00 UTC (till 16:00), New York opens 14:00 UTC
    assert next_open_all([[berlin], [new_york]], at("2026-11-23T06:00:00Z")) == at(
        "2026-11-23T14:00:00Z"
    )
    never = ChangeWindow("0 9 * * 6", timedelta(hours=1), "UTC")
    monday_only = ChangeWindow("0 9 * * 1", timedelta(hours=1), "UTC")
    assert next_open_all([[never], [monday_only]], NOW) is None


def test_outside_the_window_an_allowed_request_is_queued_but_deferred() -> None:
    ps = policies(
        policy("office", changeWindows=[BUSINESS], rules=[{"name": "ok", "effect": "allow"}])
    )
    d = decide(request(), ps, context(now=at("2026-11-21T12:00:00Z")))
    assert d.status == "QUEUED"
    assert d.deferred
    assert d.as_json()["notBefore"] == "2026-11-23T08:00:00.000Z"
    assert d.detail == (
        "Allowed. Policy match: office rule ok. Deferred: outside the change window of office; "
        "not before 2026-11-23 09:00 Europe/Berlin (2026-11-23T08:00:00Z)."
    )
    inside = decide(request(), ps, context(now=at("2026-11-23T10:00:00Z")))
    assert inside.not_before is None
    assert inside.as_json()["notBefore"] is None


def test_windows_do_not_defer_pending_or_violating_requests() -> None:
    ps = policies(
        policy("office", changeWindows=[BUSINESS], rules=[{"name": "d", "effect": "deny"}])
    )
    d = decide(request(), ps, context(now=at("2026-11-21T12:00:00Z")))
    assert d.status == "POLICY_VIOLATION"
    assert d.not_before is None


def restarts(*minutes_ago: float, service: str = "api-gateway", action: str = "restart-service"):  # type: ignore[no-untyped-def]
    return tuple(
        Execution(
            at=NOW - timedelta(minutes=m),
            service_name=service,
            environment="production",
            action_type=action,
        )
        for m in minutes_ago
    )


LIMIT = policy(
    "restart-rate-limit",
    match={"actionTypes": ["restart-*"]},
    rateLimit={"max": 5, "per": "1h", "by": ["serviceName", "environment"]},
)


def test_rate_limit_boundaries() -> None:
    ps = policies(LIMIT)
    assert decide(request(), ps, context(executions=restarts(1, 2, 3, 4))).status == "QUEUED"
    five = decide(request(), ps, context(executions=restarts(0, 2, 3, 4, 59.99)))
    assert five.status == "POLICY_VIOLATION"
    assert five.detail == (
        "Rate limit reached: 5 of 5 executions for serviceName=api-gateway, "
        "environment=production in the last 1h. "
        "Policy match: restart-rate-limit rateLimit allows 5 per 1h."
    )
    assert five.rules == ("restart-rate-limit/rateLimit",)
    # exactly one `per` ago is outside the trailing window
    assert decide(request(), ps, context(executions=restarts(1, 2, 3, 4, 60))).status == "QUEUED"
    # in the future counts: another runner claimed later than this one read its clock
    # (or its clock is ahead); ignoring it would let racing runners exceed the limit
    ahead = decide(request(), ps, context(executions=restarts(1, 2, 3, 4, -1)))
    assert ahead.status == "POLICY_VIOLATION"


def test_rate_limit_counts_per_key_and_only_matching_actions() -> None:
    ps = policies(LIMIT)
    other_service = restarts(1, 2, 3, 4, 5, service="billing")
    assert decide(request(), ps, context(executions=other_service)).status == "QUEUED"
    other_action = restarts(1, 2, 3, 4, 5, action="flush-cache")
    assert decide(request(), ps, context(executions=other_action)).status == "QUEUED"
    # service names compare like environments: case and normal form do not split the count
    shouted = restarts(1, 2, 3, 4, 5, service="API-Gateway")
    assert decide(request(), ps, context(executions=shouted)).status == "POLICY_VIOLATION"


def test_rate_limit_is_overridable_with_a_reason() -> None:
    ps = policies(LIMIT)
    override = Approval(
        "carol@example.com",
        reason="the fix needs one more restart",
        override=True,
        lifts=("restart-rate-limit/rateLimit",),
    )
    ctx = context(executions=restarts(1, 2, 3, 4, 5), approvals=(override,))
    d = decide(request(), ps, ctx)
    assert d.status == "QUEUED"
    assert [v.rule for v in d.overridden] == ["rateLimit"]


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
CRONS = ["0 9 * * 1-5", "30 2 * * *", "0 22 * * *", "*/20 8-9 * * 6", "0 0 1 * *"]


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(CRONS),
    st.integers(1, 26 * 60),
    st.sampled_from(ZONES),
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
)
def test_next_open_is_open_and_nothing_opens_earlier(
    cron: str, minutes: int, zone: str, now: datetime
) -> None:
    window = ChangeWindow(cron, timedelta(minutes=minutes), zone)
    first = window.next_open(now)
    assert first is not None and first >= now
    assert window.is_open(first)
    if first > now:
        # closed just before the opening, and at a few points between now and then
        span = first - now
        for k in (0, 1, 2, 3):
            assert not window.is_open(now + span * k / 4)
        assert not window.is_open(first - timedelta(microseconds=1))


def test_windows_that_never_overlap_are_a_violation_not_a_far_future_date() -> None:
    ps = policies(
        policy(
            "saturday",
            changeWindows=[{"cron": "0 9 * * 6", "duration": "1h", "timezone": "UTC"}],
        ),
        policy(
            "monday",
            changeWindows=[{"cron": "0 9 * * 1", "duration": "1h", "timezone": "UTC"}],
        ),
    )
    d = decide(request(), ps)
    assert d.status == "POLICY_VIOLATION"
    assert d.not_before is None and not d.deferred
    assert d.as_json()["notBefore"] is None
    (v,) = d.violations
    assert (v.policy, v.rule, v.overridable) == ("monday+saturday", "changeWindows", True)
    assert d.rules == ("monday+saturday/changeWindows",)
    assert v.message == (
        "The change windows of policies monday and saturday never overlap "
        "(searched 1755 days): the request can never run."
    )
    assert d.detail == v.message + " Policy match: monday and saturday changeWindows."
    # an operator may override it like a deny: the request then runs, not deferred
    override = Approval("carol@example.com", reason="needed now", override=True, lifts=(v.ref,))
    lifted = decide(request(), ps, context(approvals=(override,)))
    assert lifted.status == "QUEUED"
    assert lifted.not_before is None
    assert "Inside the change window" not in lifted.detail
    assert "lifts: monday+saturday changeWindows" in lifted.detail


# DST nights: the window arithmetic is done in UTC, so an hourly window on a
# fall-back night (two 02:00s) and a daily one on a spring-forward night (no
# 02:30) open and close at the right instants.
DST_NIGHTS = [
    ("Europe/Berlin", "2026-10-25T00:00:00Z"),  # fall-back: 03:00 CEST → 02:00 CET at 01:00Z
    ("Europe/Berlin", "2026-03-29T00:00:00Z"),  # spring-forward: 02:00 CET → 03:00 CEST at 01:00Z
    ("America/New_York", "2026-11-01T04:00:00Z"),  # fall-back at 06:00Z
    ("America/New_York", "2026-03-08T05:00:00Z"),  # spring-forward at 07:00Z
]
DST_WINDOWS = [
    ("0 * * * *", timedelta(minutes=30)),
    ("0 * * * *", timedelta(minutes=90)),
    ("30 2 * * *", timedelta(hours=1)),
    ("0 1 * * *", timedelta(hours=2)),
]


def _fires(window: ChangeWindow, start: datetime, end: datetime) -> list[datetime]:
    """Openings from forward iteration, which cronsim does right, as the oracle."""
    from cronsim import CronSim

    fires = []
    for fire in CronSim(window.cron, start.astimezone(window._zone())):
        if fire.astimezone(UTC) > end:
            return fires
        fires.append(fire.astimezone(UTC))
    return fires


@pytest.mark.parametrize(("zone", "night"), DST_NIGHTS)
@pytest.mark.parametrize(("cron", "duration"), DST_WINDOWS)
def test_windows_open_and_close_at_every_hour_boundary_of_dst_nights(
    zone: str, night: str, cron: str, duration: timedelta
) -> None:
    window = ChangeWindow(cron, duration, zone)
    start = at(night)
    fires = _fires(window, start - timedelta(days=2), start + timedelta(days=3))
    for hour in range(-2, 10):
        boundary = start + timedelta(hours=hour)
        for offset in (-60, -1, 0, 1, 15 * 60, 30 * 60 - 1, 30 * 60, 59 * 60):
            now = boundary + timedelta(seconds=offset)
            inside = any(f <= now < f + duration for f in fires)
            assert window.is_open(now) is inside, now
            following = next(f for f in fires if f > now)
            assert window.next_opening(now) == following, now


def test_an_hourly_window_on_the_berlin_fall_back_night() -> None:
    # The reproduction: 00:00Z (02:00 CEST) opens till 00:30Z; 01:00Z (02:00 CET) opens again.
    window = ChangeWindow("0 * * * *", timedelta(minutes=30), "Europe/Berlin")
    assert not window.is_open(at("2026-10-25T00:59:00Z"))
    assert window.is_open(at("2026-10-25T01:15:00Z"))
    assert window.next_open(at("2026-10-25T00:59:00Z")) == at("2026-10-25T01:00:00Z")


def test_window_arithmetic_never_overflows_at_the_ends_of_the_calendar() -> None:
    """A duration longer than the time since 0001 (`999999d999999d`), a now near 9999, a zone
    east of UTC at 0001-01-01: open or closed, never OverflowError; no opening past 9000."""
    huge = ChangeWindow("0 9 * * 1-5", timedelta(days=1999998), "Pacific/Kiritimati")
    assert huge.is_open(at("2026-11-23T10:00:00Z"))
    assert huge.next_open(at("2026-11-23T10:00:00Z")) == at("2026-11-23T10:00:00Z")
    late = business()
    assert late.next_opening(at("9999-12-31T20:00:00Z")) is None
    assert not late.is_open(at("9999-12-31T20:00:00Z"))
    assert late.next_opening(at("9000-12-31T20:00:00Z")) is None  # 9001 is out of range
    assert not ChangeWindow("0 0 * * *", timedelta(hours=1), "Etc/GMT-14").is_open(
        datetime(1, 1, 1, tzinfo=UTC)
    )
    assert next_open_all([[business()]], at("9999-12-31T20:00:00Z")) is None


# Lord Howe shifts by 30 minutes: 02:00 (+10:30) → 02:30 (+11:00) on 2026-10-04 (15:30Z),
# 02:00 (+11:00) → 01:30 (+10:30) on 2026-04-05 (15:00Z). cronsim steps expressions with a
# `*` in the minute or hour field in elapsed time and jumps over 02:30 and the second 01:30;
# the windows find those openings from wall-clock time across any offset change.
LORD_HOWE_NIGHTS = ["2026-10-03T15:30:00Z", "2026-04-04T15:00:00Z"]
# (expressions at a fixed minute and hour step in wall time, Debian cron's way, on purpose:
# an imaginary 02:15 fires at 02:30, an ambiguous 01:45 once; tests above)
ELAPSED_CRONS = ["30 * * * *", "0 * * * *", "*/15 * * * *", "15,45 * * * *", "* 2 * * *"]


def _wall_clock_fires(cron: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """The oracle: every UTC minute whose local wall-clock time the expression matches."""
    from zoneinfo import ZoneInfo

    from cronsim import CronSim

    fires, moment = [], start
    while moment <= end:
        wall = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        if next(CronSim(cron, wall - timedelta(minutes=1))) == wall:
            fires.append(moment)
        moment += timedelta(minutes=1)
    return fires


@pytest.mark.parametrize("night", LORD_HOWE_NIGHTS)
@pytest.mark.parametrize("cron", ELAPSED_CRONS)
def test_windows_open_at_every_wall_clock_fire_of_a_half_hour_dst_night(
    night: str, cron: str
) -> None:
    window = ChangeWindow(cron, timedelta(minutes=20), "Australia/Lord_Howe")
    middle = at(night)
    fires = _wall_clock_fires(
        cron, window.timezone, middle - timedelta(hours=5), middle + timedelta(hours=30)
    )
    for step in range(-4 * 6, 4 * 6):
        now = middle + timedelta(minutes=10 * step, seconds=-1)
        following = next(f for f in fires if f > now)
        assert window.next_opening(now) == following, now
        inside = any(f <= now < f + window.duration for f in fires)
        assert window.is_open(now) is inside, now
