"""Report runs, recorded in the audit on the `reports` stream (`core.report_runs`): a
`start` event before anything is sent and a `finish` event with the outcome, committed
and pushed like every audit event (`audit_log.write`: never forced, rebuilt on a
rejected push)."""

from __future__ import annotations

from datetime import datetime

from remediate.core.commits import Person
from remediate.core.drafting import Batch, Chain, new_id
from remediate.core.report_runs import RUNNING, STREAM, ReportRun, run_of, select
from remediate.core.snapshot import AuditSnapshot
from remediate.core.streams import StreamEvent
from remediate.core.times import iso
from remediate.errors import UserError
from remediate.service import audit_log
from remediate.service.session import Session


def record(session: Session, run: ReportRun, author: Person, runner: Person) -> None:
    """Commit and push one record of `run`: its start, or how it ended."""
    now = session.clock.now()
    event = StreamEvent(
        id=new_id(),
        at=iso(now) or "",
        stream=STREAM,
        subject=run.id,
        verb="start" if run.status == RUNNING else "finish",
        actor=author.email,
        details={"run": run.as_json()},
        error=run.error,
    )

    def build(snap: AuditSnapshot) -> Batch | None:
        chain = Chain(snap)
        if chain.add_to(event) is None:
            return None  # already recorded (a push whose reply was lost)
        return chain.batch(f"remediate report run {run.id}: {run.status}")

    audit_log.write(session, build, now, author, runner)


def every(session: Session) -> list[ReportRun]:
    """Every run, as its latest record says."""
    snap = audit_log.at_head(session)
    found = (run_of(state.value) for state in snap.stream(STREAM).values())
    return [run for run in found if run is not None]


def find(session: Session, run_id: str) -> ReportRun:
    found = {run.id: run for run in every(session)}.get(run_id)
    if found is None:
        raise UserError(f"no report run {run_id!r} (see `remediate report runs`)")
    return found


def listed(
    session: Session,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[ReportRun]:
    return select(every(session), status, since, until, limit)
