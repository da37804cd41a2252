"""`findings list|show|set-status|events`: the findings of the audit's `findings` stream.

Reads go through `audit_log.checked_at_head` (the checkpoint, then what was added
since; a warning when the audit fails verification). `set-status` is a state-changing command:
the documents of the fetched tip (`runtime.load`), operators only (Settings rbac, as
the lifecycle verbs), one `status_changed` event rebuilt on every push attempt. The
feed reads the findings stream alone (`audit_log.stream_events`), newest files first,
and stops as soon as `--since`, `--after` or `--limit` allow.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
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
    """The feed: only the findings stream's events are read, newest audit files first,
    and only as far back as `--since`, `--after` or `--limit` need (`MARGIN`)."""
    audit_log.checked_at_head(session)  # says so when the audit fails verification
    lo, hi = iso(since), iso(until)
    matched: list[str] = []  # `at` of the events the feed would list, as found
    seen = [0]
    after_at: list[str] = []
    # The feed items made here to decide how far back to read, which the feed then takes
    # as they are (each event's item is made once). Keyed by the event object, alive until
    # the feed is made: `stream_events` returns what it found reordered, and leaves out
    # all but the first of events that share an id.
    items: dict[int, dict[str, Any] | None] = {}

    def item_of(event: StreamEvent) -> dict[str, Any] | None:
        item = items.get(id(event), _UNSEEN)
        return fd.feed_event(event) if item is _UNSEEN else item

    def enough(found: list[StreamEvent], older: str) -> bool:
        for event in found[seen[0] :]:
            item = items[id(event)] = fd.feed_event(event)
            if item is not None and fd.matches(item, finding, severity, event_type, lo, hi):
                matched.append(item["at"])
            if event.id == after:
                after_at.append(event.at)
        seen[0] = len(found)
        if not older:
            return False
        bound = iso(parse_time(older) + MARGIN) or ""
        if lo is not None and bound < lo:
            return True  # every older event is before --since
        if after_at:
            return bound < after_at[0]  # every older event is before --after's
        return (
            limit is not None and len(matched) >= limit and bound < sorted(matched)[-limit]
        )  # the --limit newest are found

    store = session.store
    found = audit_log.stream_events(store, store.head(), fd.STREAM, enough)
    try:
        return fd.feed(found, finding, severity, event_type, since, until, after, limit, item_of)
    except KeyError:
        raise UserError(f"--after {after}: no finding event has that id") from None


_UNSEEN: dict[str, Any] = {}  # no item made yet (an item is a new dict, never this one)

# How much later than its audit file's name a finding event's time may be: every finding
# event is its batch's time (import, apply, set-status), the time its file is named by;
# a `set-status` event of an earlier version was drafted while its batch was pushed
# (retries included), seconds later: a minute covers it.
MARGIN = timedelta(minutes=1)


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
    now = session.clock.now()  # the event's time is its batch's (its file's name): the feed

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

    audit_log.write(session, build, now, person(actor, rt.store), rt.runner)
    audit_log.save_checkpoint(session, rt.runner)
    snap = session.memo.get("audit@tip")
    assert isinstance(snap, AuditSnapshot)
    found = _views(snap)[finding_id]
    return found, recorded
