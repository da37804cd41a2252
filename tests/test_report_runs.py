"""Report runs: the seed's fields, their listing, CSV (pure)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from remediate.core.report_runs import FIELDS, ReportRun, csv_row, latest, select
from remediate.core.stats import csv_lines

T0 = datetime(2026, 4, 20, 6, tzinfo=UTC)


def _run(n: int, **changes: object) -> ReportRun:
    run = ReportRun(
        id=f"94000000-0000-4000-8000-00000000000{n}",
        organization="org_123",
        cadence="weekly",
        recipients=("sre@company.com", "=cmd@company.com"),
        started_at=T0 + timedelta(days=n),
        period_start=T0 + timedelta(days=n - 7),
        period_end=T0 + timedelta(days=n),
        total_actions=14,
        failed_actions=3,
        pending_approvals=1,
        queued_executions=2,
    )
    return ReportRun(**{**run.__dict__, **changes})  # type: ignore[arg-type]


def test_a_finished_run_has_the_seeds_fields_in_order() -> None:
    done = _run(1).finished(T0 + timedelta(days=1, seconds=5), {"=cmd@company.com": "550 no"})
    body = done.as_json()
    assert list(body)[: len(FIELDS)] == list(FIELDS)
    assert body == {
        "id": "94000000-0000-4000-8000-000000000001",
        "organizationId": "org_123",
        "cadence": "weekly",
        "recipients": ["sre@company.com", "=cmd@company.com"],
        "deliveredCount": 1,
        "failedDeliveryCount": 1,
        "deliveryFailures": [{"recipient": "=cmd@company.com", "error": "550 no"}],
        "deletedCount": 0,
        "totalActions": 14,
        "failedActions": 3,
        "pendingApprovals": 1,
        "queuedExecutions": 2,
        "status": "failed",
        "error": "1 of 2 deliveries failed",
        "startedAt": "2026-04-21T06:00:00.000Z",
        "completedAt": "2026-04-21T06:00:05.000Z",
        "from": "2026-04-14T06:00:00.000Z",
        "to": "2026-04-21T06:00:00.000Z",
        "retryOf": None,
    }
    assert ReportRun.from_json(body) == done
    ok = _run(2).finished(T0, {})
    assert (ok.status, ok.delivered, ok.error) == ("success", 2, None)
    broken = _run(3).finished(T0, {}, "could not render")
    assert (broken.status, broken.delivered, broken.error) == ("failed", 0, "could not render")


def test_the_latest_record_of_a_run_is_the_run_and_listing_is_newest_first() -> None:
    started = [_run(n) for n in (1, 2, 3)]
    finished = [started[0].finished(T0, {}), started[2].finished(T0, {"sre@company.com": "x"})]
    runs = latest([*started, *finished]).values()
    assert [(r.id[-1], r.status) for r in select(runs)] == [
        ("3", "failed"),
        ("2", "running"),
        ("1", "success"),
    ]
    assert [r.id[-1] for r in select(runs, status="failed")] == ["3"]
    assert [r.id[-1] for r in select(runs, since=T0 + timedelta(days=2))] == ["3", "2"]
    assert [r.id[-1] for r in select(runs, until=T0 + timedelta(days=2))] == ["2", "1"]
    assert [r.id[-1] for r in select(runs, limit=1)] == ["3"]


def test_csv_has_the_fields_as_header_and_lists_joined_by_semicolons() -> None:
    done = _run(1).finished(T0, {"=cmd@company.com": "550 no"})
    text = "".join(csv_lines(FIELDS, [csv_row(done)]))
    header, row = list(csv.reader(io.StringIO(text)))
    assert header == list(FIELDS)
    cells = dict(zip(header, row, strict=True))
    assert cells["recipients"] == "sre@company.com;=cmd@company.com"
    assert cells["deliveryFailures"] == "'=cmd@company.com: 550 no"  # never a formula
    assert cells["failedDeliveryCount"] == "1"
