"""Read the derived state: `status`, `history`, `actions` (no side effects)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediate.adapters.git_store import GitStore
from remediate.core.audit import Event, RequestState, newest_first
from remediate.errors import UserError
from remediate.service.state import AuditSnapshot, read_audit


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


def _snapshot(root: Path) -> AuditSnapshot:
    if not root.is_dir():
        from remediate.errors import UsageError

        raise UsageError(f"--repo {root}: not a directory")
    store = GitStore(root)
    return read_audit(store, store.head())


def _file_requests(root: Path) -> dict[str, Any]:
    """Requests in the files (for NEW ones); unreadable documents are skipped here."""
    from remediate.core.model import build_repository
    from remediate.service.validate import validate

    report = validate(root)
    return dict(build_repository(report.documents).requests) if report.documents else {}


def status(root: Path, request_id: str | None = None) -> list[StatusRow]:
    snap = _snapshot(root)
    requests = _file_requests(root)
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


def history(root: Path, incident_id: str) -> list[Event]:
    snap = _snapshot(root)
    return newest_first(e for e in snap.events if e.incident_id == incident_id)


def actions(
    root: Path, status_filter: str | None, environment: str | None, limit: int
) -> list[Event]:
    snap = _snapshot(root)
    chosen = [
        e
        for e in snap.events
        if (status_filter is None or e.to == status_filter)
        and (environment is None or e.environment == environment)
    ]
    return newest_first(chosen)[:limit]
