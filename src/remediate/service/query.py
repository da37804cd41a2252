"""Read the derived state: `status`, `history`, `actions` (no side effects)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from remediate.core.audit import Event, RequestState, newest_first
from remediate.core.lifecycle import NEW
from remediate.core.snapshot import AuditSnapshot, Layered
from remediate.errors import UserError
from remediate.service import checkpoint
from remediate.service.audit_log import checked_at_head
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

    keep: set[str] = set()
    if isinstance(snap.states, Layered) and snap.ahead is not None:
        keep = snap.states.top.keys() | snap.states.gone  # settled only after HEAD, maybe
    report = session.documents.validate(skip=checkpoint.settled(checkpoint.of(snap), keep))
    return dict(build_repository(report.documents).requests) if report.documents else {}


def status(session: Session, request_id: str | None = None) -> list[StatusRow]:
    snap = checked_at_head(session)
    if request_id is not None:
        return [_one(session, snap, request_id)]
    requests = _file_requests(session, snap)
    base = checkpoint.of(snap)
    if base is None or not isinstance(snap.states, Layered):
        return [_row(name, snap, requests) for name in sorted(set(requests) | set(snap.states))]
    # on a checkpoint: its buckets' JSON gives what a row shows, no state is decoded
    rows = base.rows()
    for name in snap.states.gone:  # recorded only after HEAD (a checkout behind the runner)
        rows.pop(name, None)
    top = snap.states.top
    out = []
    for name in sorted(set(requests) | set(rows) | set(top)):
        if name in top or name not in rows:
            out.append(_row(name, snap, requests))
            continue
        data, request = rows[name], requests.get(name)
        out.append(
            StatusRow(
                name,
                str(data["status"]),
                _text(data["action_type"]) or (request.action_type if request else None),
                _text(data["environment"]) or (request.environment if request else None),
                _text(data["service_name"]) or (request.service_name if request else None),
                _text(data["updated_at"]),
            )
        )
    return out


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _one(session: Session, snap: AuditSnapshot, request_id: str) -> StatusRow:
    """One request: a recorded one from its state alone (one checkpoint bucket, no request
    file read); a request the audit does not know yet from the files."""
    state = snap.states.get(request_id)
    if state is not None and state.status != NEW and _complete(state):
        return _row(request_id, snap, {})
    requests = _file_requests(session, snap)
    if request_id not in requests and state is None:
        raise UserError(f"no request named {request_id!r}")
    return _row(request_id, snap, requests)


def _complete(state: RequestState) -> bool:
    return bool(state.action_type and state.environment and state.service_name)


def _row(name: str, snap: AuditSnapshot, requests: dict[str, Any]) -> StatusRow:
    state = snap.states.get(name) or RequestState(name)
    request = requests.get(name)
    return StatusRow(
        name,
        state.status,
        state.action_type or (request.action_type if request else None),
        state.environment or (request.environment if request else None),
        state.service_name or (request.service_name if request else None),
        state.updated_at,
    )


def history(session: Session, incident_id: str) -> list[Event]:
    snap = checked_at_head(session, every=True)
    return newest_first(e for e in snap.events if e.incident_id == incident_id)


def actions(
    session: Session, status_filter: str | None, environment: str | None, limit: int
) -> list[Event]:
    snap = checked_at_head(session, every=True)
    chosen = [
        e
        for e in snap.events
        if (status_filter is None or e.to == status_filter)
        and (environment is None or e.environment == environment)
    ]
    return newest_first(chosen)[:limit]
