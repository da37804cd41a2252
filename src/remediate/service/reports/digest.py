"""The digest of a period, from the audit (streamed) and the documents (who may approve
what is pending, which exceptions expire soon)."""

from __future__ import annotations

from datetime import datetime, timedelta

from remediate.core.lifecycle import PENDING_APPROVAL
from remediate.core.model import Repository, Settings, build_repository
from remediate.core.reports import CADENCE, Digest, DigestTally, expiring_exceptions
from remediate.service.audit_log import history
from remediate.service.plan import compile_repository, decide_all
from remediate.service.session import Session
from remediate.service.stats import states


def window(
    settings: Settings, now: datetime, length: timedelta | None
) -> tuple[datetime, datetime]:
    """The period ending `now`: `length`, else the cadence's (daily 24 h, weekly 7 d)."""
    cadence = str(settings.reporting.get("reportCadence", "weekly"))
    return now - (length or CADENCE.get(cadence, CADENCE["weekly"])), now


def build(
    session: Session, start: datetime, end: datetime, repo: Repository | None = None
) -> Digest:
    """The digest of [start, end] (every document loaded, fail closed)."""
    repo = repo or build_repository(session.documents.load())
    tally = DigestTally(start, end, repo.settings.name).add_all(states(session))
    policies = compile_repository(repo)
    pending = [r.request_id for r in tally.pending.rows()]
    requests = [repo.requests[name] for name in pending if name in repo.requests]
    approvers: dict[str, str] = {}
    if requests:
        for planned in decide_all(repo, policies, end, history(session), requests):
            decision = planned.decision
            if decision.status == PENDING_APPROVAL and decision.approvers:
                approvers[decision.request_id] = (
                    f"{decision.approvals_required} more from {', '.join(decision.approvers)}"
                )
    return tally.digest(approvers, expiring_exceptions(policies.policies, end))
