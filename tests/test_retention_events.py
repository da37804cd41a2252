"""Retention removes every event older than the cutoff, not only whole files: a file that
straddles the cutoff is replaced by the retention commit, its later events written again
byte for byte (per chain a prefix, whatever the runners' clocks); forks and unreadable
files are left alone; a person's commit of the same shape is tampering (pure plans, and
real git with a bare remote, clones and real processes)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from remediate.core import retention as rules
from remediate.core.audit import Event, fold, to_line
from remediate.core.chains import check_chains
from remediate.core.drafting import Batch, new_id
from remediate.core.streams import StreamEvent
from remediate.service import audit_log, runtime
from remediate.service.retention import _files
from tests.runner_support import OPERATOR, REQUESTER, RUNNER, clone, git, json_out, remediate
from tests.sessions import session
from tests.test_retention import T0, _at, _audit_files, _enforce, _read, _setup

CUTOFF = T0 + timedelta(days=10)


def _chain(request: str, *days: float, fork: bool = False) -> list[Event]:
    """A request's chain: decided at days[0], then approve/…; `fork`: the last two both
    follow the first."""
    steps = [
        ("NEW", "PENDING_APPROVAL", RUNNER, "decide"),
        ("PENDING_APPROVAL", "QUEUED", OPERATOR, "approve"),
        ("QUEUED", "CANCELLED", OPERATOR, "cancel"),
    ]
    events: list[Event] = []
    for i, day in enumerate(days):
        start, to, actor, verb = steps[i]
        prev = events[0 if fork and i == 2 else -1].hash if events else None
        if fork and i == 2:
            start, to, actor, verb = steps[1]
        events.append(
            Event(f"{request}-{i}", _at(day), request, start, to, actor, {"verb": verb}, prev=prev)
        )
    return events


def _plan(files: list[rules.AuditFile]) -> rules.Plan:
    return rules.plan(files, CUTOFF, _at(40), RUNNER, new_id)


def test_a_file_straddling_the_cutoff_loses_its_old_events_and_keeps_the_rest_as_they_are() -> None:
    first, second = _chain("r", 0, 20)
    files = [rules.AuditFile("a", (first, second))]
    made = _plan(files)
    assert made.removed == ("a",) and made.deleted == 1
    (checkpoint,) = made.checkpoints
    assert checkpoint.details["retained"]["head"] == first.hash
    assert made.carried == (second,)
    assert to_line(made.carried[0]) == to_line(second)  # the same bytes, the same hash
    assert check_chains([checkpoint, second]) == []
    assert fold([checkpoint, second]) == fold([first, second])
    # enforcing again on the result changes nothing
    after = [rules.AuditFile("b", (checkpoint, second))]
    assert rules.plan(after, CUTOFF, _at(41), RUNNER, new_id).removed == ()


def test_two_chains_in_one_file_each_lose_their_own_prefix_whatever_the_clocks() -> None:
    r = _chain("r", 0, 5, 20)  # loses two events
    # a runner's clock ahead, then one behind: s's second event is older than the cutoff
    # but follows one that is not, so s keeps both
    s = _chain("s", 15, 3)
    q = _chain("q", 1)  # all old, in another file
    files = [rules.AuditFile("a", (r[0], s[0], r[1], s[1], r[2])), rules.AuditFile("b", tuple(q))]
    made = _plan(files)
    assert made.removed == ("a", "b") and made.deleted == 3
    assert {c.request_id for c in made.checkpoints} == {"r", "q"}
    assert made.carried == (s[0], s[1], r[2])  # file and line order
    kept = [*made.checkpoints, *made.carried]
    assert check_chains(kept) == []
    assert fold(kept) == fold([*r, *s, *q])


def test_a_chain_forked_before_the_cutoff_is_left_alone_in_a_file_that_is_split() -> None:
    forked = _chain("f", 0, 1, 2, fork=True)
    other = _chain("o", 0, 20)
    files = [rules.AuditFile("a", (*forked, *other))]
    before = check_chains([*forked, *other])
    assert any("f" in p for p in before)  # the fork is what verify reports
    made = _plan(files)
    assert made.removed == ("a",) and made.deleted == 1
    assert [c.request_id for c in made.checkpoints] == ["o"]
    assert made.carried == (*forked, other[1])
    assert check_chains([*made.checkpoints, *made.carried]) == before


def test_a_file_not_written_as_the_runner_writes_goes_whole_or_not_at_all() -> None:
    first, second = _chain("r", 0, 20)
    other = _chain("o", 0)
    files = [rules.AuditFile("a", (first, second), exact=False), rules.AuditFile("b", tuple(other))]
    made = _plan(files)
    assert made.removed == ("b",) and made.carried == ()  # `a` cannot be split: kept
    unreadable = [rules.AuditFile("a", (first, second), readable=False), files[1]]
    assert _plan(unreadable).removed == ("b",)


def _straddling(work: Path) -> str:
    """A runner commit of one file holding a request's events of day 0 and day 40 (a
    batch spooled at day 0 and pushed at day 40 looks like this)."""
    events = _chain("ghost", 0, 40)
    made = session(work, now=_at(40))
    runner = runtime.load(made).runner

    def build(snap: Any) -> Batch:
        return Batch(events, "remediate: test batch")

    snap = audit_log.write(made, build, made.clock.now(), runner, runner)
    git(work, "pull", "--quiet", "--ff-only")
    return str(snap.rev)


def test_retention_replaces_a_straddling_file_and_state_stats_verify_are_unchanged(
    tmp_path: Path,
) -> None:
    bare, work = _setup(tmp_path)
    _straddling(work)
    before = _read(work)
    assert before["verify"]["ok"] is True, before["verify"]
    files = _audit_files(tmp_path, bare)
    (mixed,) = [p for p in files if "ghost-0" in (work / p).read_text()]
    later = json.loads((work / mixed).read_text().splitlines()[1])
    done = _enforce(work, 40)
    git(work, "pull", "--quiet", "--ff-only")
    after = _audit_files(tmp_path, bare)
    assert mixed not in after
    texts = "".join((work / p).read_text() for p in after)
    every = [json.loads(line) for line in texts.splitlines()]
    written = {e["id"] for e in every if "retain" in (e.get("verb"), e["details"].get("verb"))}
    written |= {e["id"] for e in every if e.get("stream") == "retention"}
    old = [e for e in every if e["at"] < _at(10) and e["id"] not in written]
    assert old == [], old  # every event older than the cutoff went (checkpoints: real time)
    assert sum(1 for e in every if e["id"] == later["id"]) == 1  # the later event, once
    line = next(x for x in texts.splitlines() if json.loads(x)["id"] == later["id"])
    assert line == git(work, "show", f"{done['commit']}~1:{mixed}").splitlines()[1]  # bytes
    now = _read(work)
    assert now["status"] == before["status"] and now["stats"] == before["stats"]
    assert now["verify"]["ok"] is True, now["verify"]
    since = remediate(work, "audit", "verify", "--since", done["commit"], "--format", "json")
    assert json.loads(since.stdout)["ok"] is True, since.stdout
    again = _enforce(work, 40)
    assert again["deletedCount"] == 0 and again["commit"] is None
    # the runner's checkpoint was saved on the result: status read through it agrees
    status = json_out(remediate(clone(tmp_path, bare, "fresh"), "status", "--format", "json"))
    assert status == now["status"]


def test_a_persons_commit_that_splits_a_file_as_retention_would_is_tampering(
    tmp_path: Path,
) -> None:
    bare, work = _setup(tmp_path)
    _straddling(work)
    person = clone(tmp_path, bare, "person", REQUESTER)
    store = session(person).store
    tip = store.fetch()
    plan = rules.plan(_files(store, tip), CUTOFF, _at(40), REQUESTER, new_id)
    assert plan.carried  # the straddling file is split

    record = plan.record("test-org", 30, _at(10))
    enforce = StreamEvent(new_id(), _at(40), rules.STREAM, "forged", rules.ENFORCE, RUNNER, record)
    lines = [to_line(e) for e in (*plan.carried, *plan.checkpoints, enforce)]
    (person / "audit" / "forged.jsonl").write_text("\n".join(lines) + "\n")
    git(person, "rm", "--quiet", *plan.removed)
    git(person, "add", "-A")
    git(person, "commit", "--quiet", "-m", "remediate retention enforce", email=REQUESTER)
    git(person, "push", "--quiet", "origin", "HEAD:main")
    sha = git(person, "rev-parse", "HEAD")
    git(work, "pull", "--quiet", "--ff-only")
    verify = remediate(work, "audit", "verify", "--format", "json")
    assert verify.returncode == 1
    problems = json.loads(verify.stdout)["problems"]
    assert any(f"deleted by commit {sha[:12]}" in p for p in problems), problems
    assert any(f"forged.jsonl: added by commit {sha[:12]}" in p for p in problems), problems
    refused = remediate(work, "apply")
    assert refused.returncode == 1
    assert "the audit log holds changes the runner did not make" in refused.stderr


def test_the_clock_skew_of_runners_never_removes_an_event_after_a_kept_one(tmp_path: Path) -> None:
    """Real git: a runner whose clock is 15 days ahead, then one 30 days behind, write one
    request's two events; the second is older than the cutoff but follows one that is
    not: both stay."""
    bare, work = _setup(tmp_path)
    skew = _chain("skew", 15, 3)
    made = session(work, now=_at(40))
    rt = runtime.load(made)
    for event in skew:
        audit_log.write(
            made, lambda snap, e=event: Batch([e], "skewed"), made.clock.now(), rt.runner, rt.runner
        )
    git(work, "pull", "--quiet", "--ff-only")
    before = _read(work)
    _enforce(work, 40)
    git(work, "pull", "--quiet", "--ff-only")
    texts = "".join((work / p).read_text() for p in _audit_files(tmp_path, bare))
    assert all(e.id in texts for e in skew)
    now = _read(work)
    assert now["status"] == before["status"] and now["verify"]["ok"] is True
