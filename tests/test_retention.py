"""`retention enforce`: old events replaced by checkpoints in one runner commit; state,
`status`, `stats` and `audit verify` unchanged; chains go on; a forged retention is
tampering; racing runners enforce once; a re-run deletes nothing (real git, a bare
remote, clones, real processes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from remediate.core import retention as rules
from remediate.core.drafting import new_id
from remediate.core.streams import StreamEvent
from remediate.core.times import iso
from remediate.service import verbs
from remediate.service.retention import _files
from tests.runner_support import (
    OPERATOR,
    REQUESTER,
    RUNNER,
    action_yaml,
    apply_at,
    clone,
    commit_schedules,
    git,
    json_out,
    make_remote,
    remediate,
    request_yaml,
    schedule_yaml,
    start,
)
from tests.sessions import session

T0 = datetime.now(UTC)  # events carry the runner's clock: the test moves it, never the date


def _at(days: float) -> str:
    return iso(T0 + timedelta(days=days)) or ""


def _setup(tmp: Path) -> tuple[Path, Path]:
    """rem-1 completed at day 0, rem-2 asked for at day 0 and completed at day 40, rem-3
    pending since day 0: with retentionDays 30 at day 40, day 0 goes."""
    log = tmp / "log"
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    requests = {f"rem-{i}": request_yaml(f"rem-{i}", service=f"svc-{i}") for i in (1, 2, 3)}
    bare = make_remote(
        tmp, "require_approval", actions={"noop": action_yaml("noop", argv)}, requests=requests
    )
    work = clone(tmp, bare, "work", OPERATOR)
    assert apply_at(work, timedelta(0)).returncode == 0
    _approve(work, "rem-1", 0)
    assert apply_at(work, timedelta(0)).returncode == 0
    _approve(work, "rem-2", 40)
    assert apply_at(work, timedelta(days=40)).returncode == 0
    git(work, "pull", "--quiet", "--ff-only")
    return bare, work


def _approve(work: Path, name: str, days: float) -> None:
    assert verbs.approve(session(work, now=_at(days)), name, None).status == "QUEUED"


def _read(work: Path) -> dict[str, Any]:
    status = json_out(remediate(work, "status", "--format", "json"))
    stats = json_out(remediate(work, "stats", "--format", "json"))
    verify = remediate(work, "audit", "verify", "--format", "json")
    return {"status": status, "stats": stats, "verify": json.loads(verify.stdout)}


def _enforce(work: Path, days: float) -> dict[str, Any]:
    done = remediate(work, "retention", "enforce", "--now", _at(days), "--format", "json")
    assert done.returncode == 0, done.stderr
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def _audit_files(tmp: Path, bare: Path) -> list[str]:
    check = tmp / f"check-{len(list(tmp.iterdir()))}"
    git(tmp, "clone", "--quiet", str(bare), str(check))
    return sorted(str(p.relative_to(check)) for p in (check / "audit").rglob("*.jsonl"))


def _events_in(work: Path, paths: list[str]) -> int:
    return sum(1 for p in paths for line in (work / p).read_text().splitlines() if line.strip())


def test_retention_keeps_state_and_verify_clean_and_a_rerun_deletes_nothing(
    tmp_path: Path,
) -> None:
    bare, work = _setup(tmp_path)
    before = _read(work)
    assert before["verify"]["ok"] is True
    files = _audit_files(tmp_path, bare)
    old = [
        p
        for p in files
        if all(json.loads(line)["at"] < _at(10) for line in (work / p).read_text().splitlines())
    ]
    assert 0 < len(old) < len(files)
    count = _events_in(work, old)
    done = _enforce(work, 40)
    assert {k: done[k] for k in ("organizationId", "retentionDays", "deletedCount")} == {
        "organizationId": "test-org",
        "retentionDays": 30,
        "deletedCount": count,
    }
    assert done["cutoff"] == _at(10)
    assert "git history still holds" in done["history"]
    git(work, "pull", "--quiet", "--ff-only")
    after = _audit_files(tmp_path, bare)
    assert not set(old) & set(after) and len(after) == len(files) - len(old) + 1
    # one runner commit, deleting exactly the old files
    sha = done["commit"]
    assert git(work, "show", "-s", "--format=%ce", sha) == RUNNER
    deleted = git(work, "show", "--format=", "--name-only", "--diff-filter=D", sha).split()
    assert sorted(deleted) == old
    now = _read(work)
    assert now["status"] == before["status"] and now["stats"] == before["stats"]
    assert now["verify"]["ok"] is True, now["verify"]["problems"]
    # the same state through a fresh clone, which folds every file (no checkpoint used)
    fresh = clone(tmp_path, bare, "fresh")
    git(fresh, "update-ref", "-d", "refs/remediate/checkpoint", check=False)
    assert json_out(remediate(fresh, "status", "--format", "json")) == before["status"]
    again = _enforce(work, 40)
    assert again["deletedCount"] == 0 and again["commit"] is None
    assert _audit_files(tmp_path, bare) == after
    text = remediate(work, "retention", "enforce", "--now", _at(40))
    assert text.returncode == 0 and "git history still holds" in text.stdout


def test_a_chain_continues_after_retention_and_still_verifies(tmp_path: Path) -> None:
    bare, work = _setup(tmp_path)
    assert _enforce(work, 40)["deletedCount"] > 0
    git(work, "pull", "--quiet", "--ff-only")
    _approve(work, "rem-3", 41)  # rem-3's whole chain was replaced by its checkpoint
    assert apply_at(work, timedelta(days=41)).returncode == 0
    git(work, "pull", "--quiet", "--ff-only")
    rows = json_out(remediate(work, "status", "--format", "json"))["requests"]
    assert {r["requestId"]: r["status"] for r in rows} == {
        "rem-1": "COMPLETED",
        "rem-2": "COMPLETED",
        "rem-3": "COMPLETED",
    }
    verify = json.loads(remediate(work, "audit", "verify", "--format", "json").stdout)
    assert verify["ok"] is True, verify["problems"]
    # a second retention replaces the first one's checkpoints and the rest
    assert _enforce(work, 100)["deletedCount"] > 0
    git(work, "pull", "--quiet", "--ff-only")
    verify = json.loads(remediate(work, "audit", "verify", "--format", "json").stdout)
    assert verify["ok"] is True, verify["problems"]
    assert _audit_files(tmp_path, bare) and len(_audit_files(tmp_path, bare)) == 1


def _forge(tmp: Path, bare: Path, committer: str, extra: int = 0) -> str:
    """A person's clone makes what a retention commit makes (checkpoints, the `enforce`
    record, the deletions), plus `extra` more deletions, committed as `committer`."""
    person = clone(tmp, bare, f"person-{committer.split('@')[0]}-{extra}", REQUESTER)
    store = session(person).store
    tip = store.fetch()
    plan = rules.plan(_files(store, tip), T0 + timedelta(days=10), _at(40), committer, new_id)
    record = plan.record("test-org", 30, _at(10))
    keep = sorted(set(_audit_files(tmp, bare)) - set(plan.removed))
    removed = [*plan.removed, *keep[:extra]]
    record["files"] = len(plan.removed)
    enforce = StreamEvent(
        new_id(), _at(40), rules.STREAM, "forged", rules.ENFORCE, committer, record
    )
    lines = [json.dumps(e.as_json()) for e in (*plan.checkpoints, enforce)]
    target = person / "audit" / "forged.jsonl"
    target.write_text("\n".join(lines) + "\n")
    git(person, "rm", "--quiet", *removed)
    git(person, "add", "-A")
    git(person, "commit", "--quiet", "-m", "remediate retention enforce", email=committer)
    git(person, "push", "--quiet", "origin", "HEAD:main")
    return git(person, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    ("committer", "extra"), [(REQUESTER, 0), (RUNNER, 1)], ids=["a-person", "not-exactly"]
)
def test_a_forged_retention_is_tampering(tmp_path: Path, committer: str, extra: int) -> None:
    """A person's retention (however exact), and a runner-looking commit that deletes more
    than its record says, are deletions the guard reports and every acting command refuses."""
    bare, work = _setup(tmp_path)
    sha = _forge(tmp_path, bare, committer, extra)
    git(work, "pull", "--quiet", "--ff-only")
    verify = remediate(work, "audit", "verify", "--format", "json")
    assert verify.returncode == 1
    problems = json.loads(verify.stdout)["problems"]
    assert any(f"deleted by commit {sha[:12]}" in p for p in problems), problems
    refused = remediate(work, "retention", "enforce", "--now", _at(40))
    assert refused.returncode == 1
    assert "the audit log holds changes the runner did not make" in refused.stderr


def test_racing_runners_enforce_retention_once(tmp_path: Path) -> None:
    bare, work = _setup(tmp_path)
    files = _audit_files(tmp_path, bare)
    runners = [clone(tmp_path, bare, f"runner-{i}", OPERATOR) for i in range(3)]
    procs = [
        start(r, "retention", "enforce", "--now", _at(40), "--format", "json") for r in runners
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    counts = sorted(r["deletedCount"] for r in results)
    assert counts[:-1] == [0] * (len(runners) - 1) and counts[-1] > 0
    git(work, "pull", "--quiet", "--ff-only")
    commits = git(work, "log", "--format=%H", "--diff-filter=D", "--", "audit").split()
    assert len(commits) == 1
    enforced = [
        line
        for p in (work / "audit").rglob("*.jsonl")
        for line in p.read_text().splitlines()
        if '"verb":"enforce"' in line
    ]
    assert len(enforced) == 1
    assert len(_audit_files(tmp_path, bare)) < len(files)
    assert git(bare, "for-each-ref", "refs/claims-retention/") == ""  # pruned once on the branch
    verify = json.loads(remediate(work, "audit", "verify", "--format", "json").stdout)
    assert verify["ok"] is True, verify["problems"]


def _two() -> tuple[Any, Any]:
    from remediate.core.audit import Event

    first = Event("e1", _at(0), "r", "NEW", "PENDING_APPROVAL", RUNNER, {"verb": "decide"})
    second = Event(
        "e2",
        _at(20),
        "r",
        "PENDING_APPROVAL",
        "REJECTED",
        OPERATOR,
        {"verb": "reject"},
        prev=first.hash,
    )
    return first, second


def test_a_checkpoint_stands_for_what_it_replaced_and_only_at_the_start_of_a_chain() -> None:
    from dataclasses import replace

    from remediate.core.audit import fold
    from remediate.core.chains import check_chains
    from remediate.core.folding import Folder

    first, second = _two()
    files = [rules.AuditFile("a", (first,)), rules.AuditFile("b", (second,))]
    made = rules.plan(files, T0 + timedelta(days=10), _at(21), RUNNER, new_id)
    assert made.removed == ("a",) and made.deleted == 1
    (checkpoint,) = made.checkpoints
    assert checkpoint.prev is None and checkpoint.details["retained"]["head"] == first.hash
    assert check_chains([checkpoint, second]) == []
    assert fold([checkpoint, second]) == fold([first, second])
    folder = Folder()  # in commit order: the checkpoint's commit comes after the kept events
    for event in (second, checkpoint):
        folder.add(event)
    folder.flush()
    assert folder.irregular == {}  # held for the checkpoint, then folded: no second reading
    assert folder.report() == [] and folder.states == fold([first, second])
    alone = Folder()  # a kept event whose checkpoint never comes: irregular, as before
    alone.add(second)
    alone.flush()
    assert alone.irregular == {("requests", "r"): "e2"}
    # a checkpoint in the middle of a chain, or one whose state is not what it says it
    # replaced, is no lifecycle transition
    late = replace(checkpoint, prev=first.hash)
    assert any("moves from NEW, but the request was" in p for p in check_chains([first, late]))
    state = dict(checkpoint.details["state"], head="sha256:" + "0" * 64)
    forged = replace(checkpoint, details={**checkpoint.details, "state": state})
    assert any("not a lifecycle transition" in p for p in check_chains([forged, second]))
    # a whole chain older than the cutoff: one checkpoint; enforcing again: nothing
    again = rules.plan(files, T0 + timedelta(days=30), _at(31), RUNNER, new_id)
    assert again.removed == ("a", "b") and again.deleted == 2
    after = [rules.AuditFile("c", again.checkpoints)]
    assert rules.plan(after, T0 + timedelta(days=300), _at(301), RUNNER, new_id).removed == ()


def test_what_is_removed_is_a_prefix_of_each_chain_whatever_the_clocks() -> None:
    """A runner whose clock was behind wrote a later event with an older time: the earlier
    event's file is kept, so the later one's is too."""
    from dataclasses import replace

    first, second = _two()
    first = replace(first, at=_at(15))
    second = replace(second, at=_at(5), prev=first.hash)
    files = [rules.AuditFile("a", (first,)), rules.AuditFile("b", (second,))]
    assert rules.plan(files, T0 + timedelta(days=10), _at(21), RUNNER, new_id).removed == ()


def test_a_scheduled_retention_job_enforces_retention_once_per_fire(tmp_path: Path) -> None:
    """A `retention` Schedule: its fire enforces retention as of the fire time (the same
    commit `retention enforce` makes), records deletedCount, and `audit verify` stays
    clean; the next tick of the same fire does nothing."""
    bare, work = _setup(tmp_path)
    schedule = schedule_yaml("retention", "retention: {}", cron="0 6 * * *", timezone="UTC")
    commit_schedules(tmp_path, bare, {"retention": schedule}, _at(39))
    git(work, "pull", "--quiet", "--ff-only")
    done = remediate(work, "tick", "--format", "json", now=_at(41))
    assert done.returncode == 0, done.stderr
    (fired,) = json.loads(done.stdout)["fires"]
    assert fired["status"] == "success", fired
    assert fired["outcome"]["deletedCount"] > 0
    git(work, "pull", "--quiet", "--ff-only")
    assert _read(work)["verify"]["ok"] is True
    again = remediate(work, "tick", "--format", "json", now=_at(41))
    assert json.loads(again.stdout)["fires"] == []
