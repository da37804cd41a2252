"""The one time parser (`core.times`): documents, audit events, locks, --now, REMEDIATE_NOW."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from remediate.core.times import iso, parse_time
from tests.conftest import Result, validate_problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T10:00:00Z", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        ("2026-11-23T10:00:00z", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        ("2026-11-23T10:00:00+00:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        ("2026-11-23T11:30:00+01:30", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        ("2026-11-23T05:00:00-05:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),
        ("2026-11-23T10:00:00.123Z", datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC)),
        (" 2026-11-23T10:00:00Z ", datetime(2026, 11, 23, 10, tzinfo=UTC)),
    ],
)
def test_z_offsets_and_milliseconds_become_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected and parsed.tzinfo == UTC


@pytest.mark.parametrize("text", ["2026-11-23T10:00:00", "2026-11-23T10:00:00.500", "2026-11-23"])
def test_a_time_without_an_offset_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="no time zone offset"):
        parse_time(text)


@pytest.mark.parametrize("text", ["monday", "", "2026-13-01T00:00:00Z", "10:00Z"])
def test_text_that_is_no_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_a_yaml_timestamp_is_taken_as_is_and_must_be_aware() -> None:
    aware = datetime(2026, 11, 23, 11, tzinfo=timezone(timedelta(hours=1)))
    assert parse_time(aware) == datetime(2026, 11, 23, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="no time zone offset"):
        parse_time(datetime(2026, 11, 23, 10))


def test_iso_writes_utc_with_milliseconds_and_parses_back() -> None:
    moment = datetime(2026, 11, 23, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert iso(moment) == "2026-11-23T10:00:00.123Z"
    assert parse_time(iso(moment) or "") == moment.replace(microsecond=123000)
    assert iso(None) is None


def test_remediate_now_without_an_offset_is_misuse(run_cli, quickstart, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REMEDIATE_NOW", "2026-11-23T10:00:00")
    done = run_cli("plan", "--repo", str(quickstart))
    assert done.code == 2
    assert "REMEDIATE_NOW='2026-11-23T10:00:00' is not an RFC 3339 time" in done.err


# Times are bounded to 1970-01-01T00:00:00Z .. 9000-12-31T23:59:59.999999Z (UTC): git cannot
# date anything before 1970, and the centuries after 9000 leave room for every duration,
# window search and backoff before datetime's year 9999 overflows.
@pytest.mark.parametrize(
    "text",
    [
        "1970-01-01T00:00:00Z",
        "1970-01-01T05:00:00+05:00",
        "9000-12-31T23:59:59.999Z",
        "9000-12-31T18:59:59-05:00",
    ],
)
def test_times_at_the_bounds_are_accepted(text: str) -> None:
    assert parse_time(text).tzinfo == UTC


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",  # before the start of datetime's calendar in UTC
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+01:00",
        "9001-01-01T00:00:00Z",
        "9000-12-31T23:00:00-05:00",
        "9999-12-31T23:59:59-14:00",  # after the end of datetime's calendar in UTC
    ],
)
def test_times_outside_the_supported_range_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"outside the supported range \(1970 to 9000, UTC\)"):
        parse_time(text)


def test_a_yaml_timestamp_outside_the_range_is_refused() -> None:
    from remediate.core.times import OutOfRange

    with pytest.raises(OutOfRange):
        parse_time(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))


@pytest.mark.parametrize("now", ["0001-01-01T00:00:00Z", "9999-12-31T20:00:00Z"])
def test_now_outside_the_range_is_misuse_naming_the_range(run_cli, quickstart, now) -> None:  # type: ignore[no-untyped-def]
    done = run_cli("plan", "--repo", str(quickstart), "--now", now)
    assert done.code == 2
    assert done.err.splitlines()[-1] == (
        f"remediate: --now {now}: outside the supported range (1970 to 9000, UTC)"
    )


def test_remediate_now_outside_the_range_is_misuse(run_cli, quickstart, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REMEDIATE_NOW", "9999-12-31T20:00:00Z")
    done = run_cli("plan", "--repo", str(quickstart))
    assert done.code == 2
    assert "REMEDIATE_NOW='9999-12-31T20:00:00Z': outside the supported range" in done.err


_EXCEPTION = """apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: edge}
spec:
  exceptions:
    - owner: alice@example.com
      reason: edge
      expires: '%s'
      services: [api-gateway]
"""


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        # the schema's pattern (for editors and check-jsonschema too)
        (
            "0001-01-01T00:00:00+14:00",
            '"0001-01-01T00:00:00+14:00" is not valid: An RFC 3339 time with an offset, from '
            "1970 to 9000 (UTC), such as 2026-11-23T10:00:00Z.",
        ),
        # the exact bound, which a pattern on the local year cannot see
        (
            "9000-12-31T23:00:00-05:00",
            "'9000-12-31T23:00:00-05:00' is outside the supported range (1970 to 9000, UTC)",
        ),
    ],
)
def test_a_document_time_outside_the_range_is_a_validate_error_at_its_line(  # type: ignore[no-untyped-def]
    run_cli, quickstart, expires: str, message: str
) -> None:
    (quickstart / "policies" / "edge.yaml").write_text(_EXCEPTION % expires)
    done = run_cli("validate", "--repo", str(quickstart))
    assert done.code == 1
    assert (
        done.err.splitlines()[0] == f"policies/edge.yaml:8: spec.exceptions[0].expires: {message}"
    )
    plan = run_cli("plan", "--repo", str(quickstart), "--now", "2026-11-23T10:00:00Z")
    assert plan.code == 1
    assert "internal error" not in plan.err


def test_sums_and_multiples_of_durations_are_clamped_at_the_latest_time() -> None:
    # Each duration is at most 3650d, but a lock over many actions' timeouts, or a backoff
    # doubled nine times, may pass 9000 (unreadable when read back) or 9999 (OverflowError).
    from remediate.core.audit import retry_time
    from remediate.core.times import LATEST, later

    ten_years = timedelta(days=3650)
    start = parse_time("8990-01-01T00:00:00Z")
    assert later(start, ten_years * 3) == LATEST
    assert later(start, ten_years * 400) == LATEST  # past year 9999
    assert later(start, timedelta(days=1)) == start + timedelta(days=1)
    assert retry_time(start, ten_years, 10) == LATEST
    assert parse_time(iso(LATEST) or "") <= LATEST


def test_every_duration_is_at_most_ten_years(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    # The schema's format bounds every duration, also those no later check reads (the
    # runner's clockSkew) and those written in many parts (a pattern cannot sum them).
    from remediate.core.duration import parse_duration

    settings = quickstart / "remediate.yaml"
    settings.write_text(
        settings.read_text().replace(
            "email: remediate-bot@example.com}",
            "email: remediate-bot@example.com, clockSkew: 3000d1000d}",
        )
    )
    action = quickstart / "actions" / "restart-service.yaml"
    action.write_text(action.read_text().replace("timeout: 60s", "timeout: 3650d"))
    assert validate_problems(quickstart, run_cli) == [
        "remediate.yaml:18: spec.runner.clockSkew: '3000d1000d' is longer than 3650d "
        "(ten years), the longest duration allowed"
    ]
    assert parse_duration("3650d") == timedelta(days=3650)
    with pytest.raises(ValueError, match="longer than 3650d"):
        parse_duration("3650d1ms")
