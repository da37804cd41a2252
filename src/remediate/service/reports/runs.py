"""Report runs, recorded in the audit on the `reports` stream (one subject per run)."""

from __future__ import annotations

from datetime import datetime

from remediate.core.report_runs import ReportRun, latest, select
from remediate.errors import UserError
from remediate.service.session import Session


def record(session: Session, run: ReportRun) -> None:
    """Commit and push the run's record (before anything is sent, and when it ends)."""
    raise UserError("report runs need the audit's reports stream, which is not built yet")


def every(session: Session) -> list[ReportRun]:
    """Every run, each as its latest record says."""
    raise UserError("report runs need the audit's reports stream, which is not built yet")


def find(session: Session, run_id: str) -> ReportRun:
    found = latest(every(session)).get(run_id)
    if found is None:
        raise UserError(f"no report run {run_id!r}")
    return found


def listed(
    session: Session,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[ReportRun]:
    return select(latest(every(session)).values(), status, since, until, limit)
