"""`findings list|show|set-status|events`: the findings of the audit's `findings` stream.

Reads go through `audit_log.checked_at_head` (the checkpoint, then what was added
since; a warning when the audit fails verification); the feed reads every event
(`at_head(every=True)`, as `history` does). `set-status` is a state-changing command:
the documents of the fetched tip (`runtime.load`), operators only (Settings rbac, as
the lifecycle verbs), one `status_changed` event rebuilt on every push attempt.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from remediate.core import findings as fd
from remediate.core.drafting import Batch, Chain, new_id
from remediate.core.snapshot import AuditSnapshot
from remediate.core.streams import StreamEvent
from remediate.core.times import iso, parse_time
from remediate.errors import UsageError, UserError
from remediate.service import audit_log
from remediate.service.runtime import acting_identity, load, person
from remediate.service.session import Session


def _views(snap: AuditSnapshot) -> dict[str, dict[str, Any]]:
    states = snap.stream(fd.STREAM)
    latest = fd.latest_scans(s.value for s in states.values())
    return {
        subject: fd.view(state.value, latest)
        for subject, state in states.items()
        if fd.is_finding(state.value)
    }


def listed(
    session: Session,
    status: str | None = None,
    severity: str | None = None,
    tool: str | None = None,
    repository: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    found = _views(audit_log.checked_at_head(session))
    return [dict(f) for f in fd.select(found.values(), status, severity, tool, repository, limit)]


def show(session: Session, finding_id: str) -> dict[str, Any]:
    found = _views(audit_log.checked_at_head(session)).get(finding_id)
    if found is None:
        raise UserError(f"no finding {finding_id!r} (see `remediate findings list`)")
    return found


def events(
    session: Session,
    finding: str | None = None,
    severity: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    snap = audit_log.checked_at_head(session, every=True)
    try:
        return fd.feed(
            fd.ordered_events(snap.others),
            finding,
            severity,
            event_type,
            since,
            until,
            after,
            limit,
        )
    except KeyError:
        raise UserError(f"--after {after}: no finding event has that id") from None


def target_date(text: str | None) -> str | None:
    """A `--target-date`: an ISO 8601 date (2026-12-01) or an RFC 3339 time."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return iso(parse_time(text))
    except ValueError:
        raise UsageError(
            f"--target-date {text}: not an ISO 8601 date (2026-12-01) or time with an offset"
        ) from None


def set_status(
    session: Session,
    finding_id: str,
    status: str,
    owner: str | None = None,
    notes: str | None = None,
    target: str | None = None,
    asset_id: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Set a finding's status and backlog fields as the acting identity (an operator);
    (the finding after, whether an event was recorded)."""
    if status not in fd.STATUSES:
        raise UsageError(f"status {status!r} is not one of {', '.join(fd.STATUSES)}")
    backlog = {
        "owner": owner,
        "notes": notes,
        "targetDate": target_date(target),
        "assetId": asset_id,
    }
    for key, value in backlog.items():
        if value is not None and len(value) > fd.MAX_TEXT:
            raise UsageError(f"--{key}: at most {fd.MAX_TEXT} characters")
    rt = load(session)
    actor = acting_identity(session)
    if not rt.directory.is_operator(actor):
        raise UserError(
            f"{actor} is not an operator (Settings rbac) and cannot set the status of findings"
        )
    recorded = False

    def build(snap: AuditSnapshot) -> Batch | None:
        nonlocal recorded
        chain = Chain(snap)
        state = snap.subject(fd.STREAM, finding_id)
        if not fd.is_finding(state.value):
            raise UserError(f"no finding {finding_id!r} (see `remediate findings list`)")
        change = fd.status_change(state.value, status, backlog)
        recorded = change is not None
        if change is None:
            return None
        now = session.clock.now()
        chain.add_to(
            StreamEvent(
                id=new_id(),
                at=iso(now) or "",
                stream=fd.STREAM,
                subject=finding_id,
                verb=change.verb,
                actor=actor,
                details=change.details,
            )
        )
        return chain.batch(f"remediate findings set-status {finding_id} {status} by {actor}")

    audit_log.write(session, build, session.clock.now(), person(actor, rt.store), rt.runner)
    audit_log.save_checkpoint(session, rt.runner)
    snap = session.memo.get("audit@tip")
    assert isinstance(snap, AuditSnapshot)
    found = _views(snap)[finding_id]
    return found, recorded
