"""Read the derived state: `status`, `history`, `actions` (no side effects)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from remediate.core.audit import Event, RequestState, newest_first
from remediate.core.snapshot import AuditSnapshot
from remediate.errors import UserError
from remediate.service import checkpoint
from remediate.service.audit_log import at_head
from remediate.service.session import Session


@dataclass(frozen=True)
class StatusRow:
    request_id: str
    status: str
    action_type: str | None
    environment: str | None
    service_name: str | None
    updated_at: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "requestId": self.request_id,
            "status": self.status,
            "actionType": self.action_type,
            "environment": self.environment,
            "serviceName": self.service_name,
            "updatedAt": self.updated_at,
        }


def _file_requests(session: Session, snap: AuditSnapshot) -> dict[str, Any]:
    """Requests in the files (for NEW ones): a read command shows what it can, so documents
    that do not pass validation are left out here (`apply` and the verbs fail closed).
    Files of settled requests are not parsed: their state is all status shows of them."""
    from remediate.core.model import build_repository

    report = session.documents.validate(skip=checkpoint.settled(checkpoint.of(snap)))
    return dict(build_repository(report.documents).requests) if report.documents else {}


def status(session: Session, request_id: str | None = None) -> list[StatusRow]:
    snap = at_head(session)
    requests = _file_requests(session, snap)
    names = set(requests) | set(snap.states)
    if request_id is not None:
        if request_id not in names:
            raise UserError(f"no request named {request_id!r}")
        names = {request_id}
    rows = []
    for name in sorted(names):
        state = snap.states.get(name) or RequestState(name)
        request = requests.get(name)
        rows.append(
            StatusRow(
                name,
                state.status,
                state.action_type or (request.action_type if request else None),
                state.environment or (request.environment if request else None),
                state.service_name or (request.service_name if request else None),
                state.updated_at,
            )
        )
    return rows


def history(session: Session, incident_id: str) -> list[Event]:
    snap = at_head(session, every=True)
    return newest_first(e for e in snap.events if e.incident_id == incident_id)


def actions(
    session: Session, status_filter: str | None, environment: str | None, limit: int
) -> list[Event]:
    snap = at_head(session, every=True)
    chosen = [
        e
        for e in snap.events
        if (status_filter is None or e.to == status_filter)
        and (environment is None or e.environment == environment)
    ]
    return newest_first(chosen)[:limit]
