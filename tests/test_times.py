"""The one time parser (`core.times`): documents, audit events, locks, --now, REMEDIATE_NOW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from remediate.core.times import iso, parse_time


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
