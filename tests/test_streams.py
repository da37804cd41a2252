"""Audit streams: a stream other than `requests` (a test-only `workers` fold) is claimed
through the one claim primitive, chains, folds, survives the checkpoint and verifies; old
request events stay what they were (real git, a bare remote, the real store)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from remediate.core import streams as st
from remediate.core.audit import Event, parse_event, to_line
from remediate.core.chains import check_chains
from remediate.core.commits import Person
from remediate.core.drafting import Chain
from remediate.core.snapshot import AuditSnapshot
from remediate.core.streams import StreamEvent
from remediate.service import audit_log, checkpoint, claims
from remediate.service.claims import Claim, claim, claim_ref, prune
from remediate.service.verify import verify
from tests.runner_support import (
    RUNNER,
    action_yaml,
    clone,
    git,
    make_remote,
    remediate,
    request_yaml,
)
from tests.sessions import session

BOT = Person("remediate-bot", RUNNER)
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MOVES = {"queue": ("new", "queued"), "take": ("queued", "taken"), "finish": ("taken", "done")}


def _refuse(value: dict[str, Any], event: StreamEvent) -> str | None:
    move = MOVES.get(event.verb)
    if move is None:
        return f"{event.verb} is no verb of the workers stream"
    if value["status"] != move[0]:
        return f"a job {value['status']} cannot {event.verb}"
    return None


def _step(value: dict[str, Any], event: StreamEvent) -> dict[str, Any]:
    attempt = event.details.get("attempt", value["attempt"])
    return {"status": MOVES[event.verb][1], "attempt": attempt, "by": event.actor}


WORKERS = st.Fold(
    "workers",
    start=lambda subject: {"status": "new", "attempt": 0, "by": None},
    step=_step,
    refuse=_refuse,
    over=lambda value, attempt: value["status"] == "done" and value["attempt"] >= attempt,
)


@pytest.fixture
def workers() -> Iterator[st.Fold]:
    st.register(WORKERS)
    yield WORKERS
    st.unregister("workers")


def _event(verb: str, subject: str = "job-1", **details: Any) -> StreamEvent:
    return StreamEvent(
        id=f"{subject}-{verb}-{details.get('attempt', 0)}",
        at="2026-11-23T10:00:00.000Z",
        stream="workers",
        subject=subject,
        verb=verb,
        actor=RUNNER,
        details=details,
    )


def _write(work: Path, *events: StreamEvent) -> AuditSnapshot:
    def build(snap: AuditSnapshot) -> Any:
        chain = Chain(snap)
        for event in events:
            chain.add_to(event)
        return chain.batch("remediate workers: test")

    return audit_log.write(session(work), build, NOW, BOT, BOT)


def _repo(tmp: Path) -> tuple[Path, Path]:
    bare = make_remote(
        tmp,
        actions={"noop": action_yaml("noop", ["true"])},
        requests={"rem-1": request_yaml("rem-1")},
    )
    work = clone(tmp, bare, "runner")
    assert remediate(work, "apply").returncode == 0  # request events and a checkpoint
    return bare, work


def test_a_workers_stream_claims_chains_folds_checkpoints_and_verifies(
    tmp_path: Path, workers: st.Fold
) -> None:
    bare, work = _repo(tmp_path)
    _write(work, _event("queue"))
    store = session(work).store
    take = _event("take", attempt=1)
    won = claim(store, BOT, [Claim("workers", "job-1", 1, (take,))], "claims")
    assert [c.subject for c in won] == ["job-1"]
    ref = claim_ref("job-1", 1, "workers")
    assert ref == "refs/claims-workers/job-1/1" and git(bare, "rev-parse", ref) == won.sha
    # the ref decides: a second claim of the same attempt loses
    assert list(claim(session(work).store, BOT, [Claim("workers", "job-1", 1, (take,))], "x")) == []
    snap = _write(work, take, _event("finish", attempt=1))

    tip = git(bare, "rev-parse", "main")
    full = audit_log.read_all(session(work).store, tip)
    assert full.stream("workers")["job-1"].value == {"status": "done", "attempt": 1, "by": RUNNER}
    assert full.stream("workers")["job-1"].ids == (
        "job-1-queue-0",
        "job-1-take-1",
        "job-1-finish-1",
    )
    assert snap.subject("workers", "job-1") == full.subject("workers", "job-1")  # as written
    assert full.states["rem-1"].status == "COMPLETED"  # the request stream beside it
    lines = [
        json.loads(line)
        for p in sorted((work / "audit").rglob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    verbs = sorted(d["verb"] for d in lines if d.get("stream") == "workers")
    assert verbs == ["finish", "queue", "take"]
    assert all("stream" not in d for d in lines if "requestId" in d)  # request events unchanged

    report = verify(session(work))
    assert report.ok, report.problems
    assert report.events == len(lines)

    # the checkpoint carries the stream; a read on it equals the full fold
    reader = session(work)
    assert checkpoint.save(reader.store, full, BOT)
    reader.store.refresh()
    on_cp = audit_log.read(reader.store, tip, RUNNER)
    assert on_cp.checkpoint is not None and on_cp.base == tip
    assert on_cp.subject("workers", "job-1") == full.subject("workers", "job-1")
    assert dict(on_cp.streams) == dict(full.streams)

    # its claim ref is over once the job is done: prune deletes it (the stream's fold says)
    assert prune(reader.store, lambda s: on_cp.subject("workers", s).value, "workers") == 1
    assert git(bare, "for-each-ref", "refs/claims-workers/") == ""


def test_a_forked_or_refused_stream_event_fails_verify_with_or_without_its_fold(
    tmp_path: Path, workers: st.Fold
) -> None:
    _, work = _repo(tmp_path)
    _write(work, _event("queue"), _event("take", attempt=1))
    fork = _event("finish", attempt=9)  # prev None: a second start of job-1's chain
    path = work / "audit" / "2026" / "forged.jsonl"
    path.write_text(to_line(fork) + "\n")
    git(work, "add", "audit/2026/forged.jsonl")
    git(work, "commit", "-qm", "audit", email=RUNNER)
    problems = verify(session(work)).problems
    assert any(p.startswith("workers job-1: events ") and "forks" in p for p in problems), problems
    assert any(
        "workers job-1: event job-1-finish-9 (finish): a job new cannot finish" in p
        for p in problems
    )
    st.unregister("workers")  # a stream nobody registered still chains
    problems = verify(session(work)).problems
    assert any(p.startswith("workers job-1: events ") and "forks" in p for p in problems), problems


def test_events_without_a_stream_are_request_events_and_envelopes_are_strict() -> None:
    old = {
        "id": "e1", "at": "2026-11-23T10:00:00.000Z", "requestId": "rem-1", "incidentId": None,
        "actionType": "noop", "serviceName": "api", "environment": "staging", "from": "NEW",
        "to": "QUEUED", "actor": RUNNER, "details": {"verb": "decide"}, "error": None, "prev": None,
    }  # fmt: skip
    event = parse_event(old)
    assert isinstance(event, Event) and event.stream == "requests" and event.subject == "rem-1"
    assert json.loads(to_line(event)) == old  # the contract's fields, unchanged
    other = _event("queue")
    assert parse_event(json.loads(to_line(other))) == other
    with pytest.raises(ValueError, match="unknown fields requestId"):
        parse_event({**json.loads(to_line(other)), "requestId": "rem-1"})
    with pytest.raises(ValueError, match="request events carry requestId"):
        parse_event({**json.loads(to_line(other)), "stream": "requests"})
    # a request and a subject of another stream with the same name never share a chain
    assert check_chains([event, _event("queue", subject="rem-1")]) == []
    assert claims.PREFIXES["requests"] == "refs/claims/"
    assert all(claims.PREFIXES[s] == f"refs/claims-{s}/" for s in st.STREAMS if s != "requests")
