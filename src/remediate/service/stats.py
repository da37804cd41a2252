"""`stats`, `signal` and `export csv`: aggregates streamed over the folded audit.

The states come from the audit at HEAD (`audit_log.at_head`): on the runner's checkpoint,
one bucket of folded states at a time (decoded, counted, dropped), then the states of the
events added since; without a checkpoint, from the full fold. Neither every event nor
every state is held at once when only aggregates are needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from remediate.core import checkpoint as cp
from remediate.core.signal import Signal
from remediate.core.snapshot import Layered
from remediate.core.stats import (
    COLUMNS,
    Stats,
    Summary,
    Tally,
    csv_lines,
    export_row,
    newest,
    updated_within,
)
from remediate.service import checkpoint
from remediate.service.audit_log import at_head
from remediate.service.session import Session

Progress = Callable[[int, int], None]  # (steps done, steps in all)


def states(session: Session, progress: Progress | None = None) -> Iterator[Summary]:
    """Every request's current state, streamed (see the module's doc)."""
    snap = at_head(session)
    base = checkpoint.of(snap)
    if base is None or not isinstance(snap.states, Layered):
        yield from (Summary.of(s) for s in snap.states.values())
        if progress:
            progress(1, 1)
        return
    top = snap.states.top
    paths = sorted(p for p in base.blobs if p.startswith("requests/"))
    for done, path in enumerate(paths, 1):
        rows = _summaries(base, path)
        if rows is not None:  # the bucket's summary: the fields counted, a fraction to decode
            read = checkpoint.decoded(base.sha, cp.summary_path(path), _from_rows, rows)
            yield from (s for s in read if s.request_id not in top)
        else:
            text = base.store.blob_text(base.blobs[path], keep=False)
            yield from (
                s
                for s in checkpoint.decoded(base.sha, path, _from_bucket, text)
                if s.request_id not in top
            )
        if progress:
            progress(done, len(paths) + 1)
    yield from (Summary.of(s) for s in top.values())
    if progress:
        progress(len(paths) + 1, len(paths) + 1)


def _from_rows(rows: list[Any]) -> list[Summary]:
    return [Summary.from_row(row) for row in rows]


def _from_bucket(text: str) -> list[Summary]:
    import json

    return [Summary.from_checkpoint(name, data) for name, data in json.loads(text).items()]


def _summaries(base: checkpoint.Stored, path: str) -> list[Any] | None:
    """The summary rows of request bucket `path`, when the checkpoint has them for the
    bucket it holds (`core.checkpoint.SUMMARIES`); None: read the bucket."""
    blob = base.blobs.get(cp.summary_path(path))
    if blob is None:
        return None
    try:
        return cp.read_summaries(base.store.blob_text(blob, keep=False), base.blobs[path])
    except checkpoint.UNDECODABLE:
        return None


def evaluation_time(session: Session) -> datetime:
    """What "now" means for a read: REMEDIATE_NOW when set (a rehearsal), else the clock."""
    return session.clock.override() or session.clock.now()


def tally(session: Session, environment: str | None, now: datetime | None = None) -> Tally:
    return Tally(now or evaluation_time(session), environment).add_all(states(session))


def stats(session: Session, environment: str | None = None) -> Stats:
    return tally(session, environment).stats()


def signal(session: Session, environment: str | None = None) -> Signal:
    return tally(session, environment).signal()


def export_csv(
    session: Session,
    status: str | None = None,
    environment: str | None = None,
    limit: int = 500,
    progress: Progress | None = None,
    updated: tuple[datetime, datetime] | None = None,
) -> Iterator[str]:
    """The CSV lines of `export csv`: the seed's header, then up to `limit` requests,
    most recently updated first (with `updated`, only those last updated in that
    period), each cell guarded against formula injection."""
    found = states(session, progress)
    if updated is not None:
        found = (s for s in found if updated_within(s, *updated))
    chosen = newest(found, status, environment, limit)
    return csv_lines(COLUMNS, (export_row(s) for s in chosen))
