"""Claim refs are deleted once their attempt is over on the branch, and exactly once still
holds: a runner whose view predates an outcome re-creates the deleted ref, re-reads the
branch, and runs nothing (real git, a bare remote, several clones, real processes)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from remediate.core.audit import RequestState
from remediate.service.claims import over, parse_claim_ref
from tests.runner_support import (
    action_yaml,
    clone,
    git,
    json_out,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
    start,
)
from tests.sessions import Wrapped, session


def _recorder(log: Path) -> list[str]:
    return ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]


def _executions(log: Path) -> Counter[str]:
    return Counter(log.read_text().split()) if log.exists() else Counter()


def _claim_refs(bare: Path) -> list[str]:
    return git(bare, "for-each-ref", "--format=%(refname)", "refs/claims/").split()


def _remote(tmp: Path, log: Path, count: int) -> Path:
    requests = {f"rem-{i}": request_yaml(f"rem-{i}", service=f"svc-{i}") for i in range(count)}
    return make_remote(
        tmp, actions={"noop": action_yaml("noop", _recorder(log))}, requests=requests
    )


def _verified(tmp: Path, bare: Path) -> None:
    ids = [e["id"] for e in remote_events(tmp, bare)]
    assert len(ids) == len(set(ids)), "an event was written twice"
    done = remediate(clone(tmp, bare, "verifier"), "audit", "verify")
    assert done.returncode == 0, done.stdout + done.stderr


def test_claim_refs_are_deleted_once_their_outcome_is_on_the_branch(tmp_path: Path) -> None:
    log = tmp_path / "log"
    bare = _remote(tmp_path, log, 3)
    runner = clone(tmp_path, bare, "runner")
    assert remediate(runner, "apply").returncode == 0
    assert _claim_refs(bare) == []
    assert _executions(log) == Counter(f"rem-{i}" for i in range(3))
    rows = json_out(remediate(runner, "status", "--format", "json"))["requests"]
    assert {r["status"] for r in rows} == {"COMPLETED"}
    _verified(tmp_path, bare)


def test_the_next_apply_deletes_claim_refs_an_earlier_run_left(tmp_path: Path) -> None:
    """Refs of attempts that are over (left by an older version, or by a runner that died
    after its outcome landed) go in the next run; a claim of a waiting attempt stays."""
    log = tmp_path / "log"
    bare = _remote(tmp_path, log, 2)
    runner = clone(tmp_path, bare, "runner")
    assert remediate(runner, "apply").returncode == 0
    tip = git(bare, "rev-parse", "main")
    for ref in ("refs/claims/rem-0/1", "refs/claims/rem-1/1", "refs/claims/rem-9/1"):
        git(bare, "update-ref", ref, tip)
    assert remediate(runner, "apply").returncode == 0
    assert _claim_refs(bare) == ["refs/claims/rem-9/1"]  # rem-9 has no attempt 1 yet
    assert _executions(log) == Counter(["rem-0", "rem-1"])


def test_a_stale_runner_recreating_a_deleted_claim_ref_does_not_run_the_action(
    tmp_path: Path,
) -> None:
    """The stale runner decides and selects on the tip before the other runner's outcome;
    the other runner then claims, runs, records and deletes its claim ref; the stale one
    creates the ref again (it is absent, so the compare-and-swap succeeds), re-reads the
    branch, finds the attempt taken, runs nothing and deletes the ref it made."""
    from remediate.service.apply import apply

    log = tmp_path / "log"
    bare = _remote(tmp_path, log, 1)
    other, stale = clone(tmp_path, bare, "other"), clone(tmp_path, bare, "stale")
    raced: list[str] = []
    pushed: list[dict[str, tuple[str | None, str]]] = []

    class Stale(Wrapped):
        def push_leases(self, updates: dict[str, tuple[str | None, str]]) -> Any:
            if not raced and any(r.startswith("refs/locks/") for r in updates):
                done = remediate(other, "apply")  # the whole run, in another process
                raced.append(done.stdout + done.stderr)
                assert done.returncode == 0, raced[0]
                assert _claim_refs(bare) == []  # its outcome landed, its ref is gone
            pushed.append(updates)
            return self.inner.push_leases(updates)

    report = apply(session(stale, store=Stale), "ops@example.com")
    assert raced, "the other runner never ran in between"
    assert report.executed == []
    assert ("rem-0", "attempt 1 was already taken on the branch") in report.skipped
    created = [u for u in pushed if u.get("refs/claims/rem-0/1", (None, ""))[0]]
    assert created, "the stale runner never re-created the claim ref"
    assert _executions(log) == Counter(["rem-0"])  # once, by the other runner
    assert _claim_refs(bare) == []  # the stale runner deleted the ref it made again
    _verified(tmp_path, bare)


def test_racing_runners_with_pruning_run_each_action_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    bare = _remote(tmp_path, log, 12)
    runners = [clone(tmp_path, bare, f"runner-{i}") for i in range(4)]
    procs = [start(r, "apply") for r in runners]
    for proc in procs:
        proc.communicate(timeout=300)
    assert _executions(log) == Counter(f"rem-{i}" for i in range(12))
    assert remediate(runners[0], "apply").returncode == 0  # settles what the race left
    assert _claim_refs(bare) == []
    assert _executions(log) == Counter(f"rem-{i}" for i in range(12))
    _verified(tmp_path, bare)


def test_which_claim_refs_are_over() -> None:
    states = {
        "done": RequestState("done", status="COMPLETED", attempt=1),
        "retried": RequestState("retried", status="QUEUED", attempt=2),
        "running": RequestState("running", status="EXECUTING", attempt=1),
        "waiting": RequestState("waiting", status="QUEUED", attempt=1),
        "a.b": RequestState("a.b", status="FAILED", attempt=3),
    }
    refs = {
        "refs/claims/done/1": "1",
        "refs/claims/retried/1": "2",
        "refs/claims/retried/2": "3",
        "refs/claims/running/1": "4",
        "refs/claims/waiting/1": "5",
        "refs/claims/a%2Eb/3": "6",
        "refs/claims/odd": "7",
    }
    found = over(refs, lambda name: states.get(name) or RequestState(name))
    assert found == {
        "refs/claims/done/1": "1",
        "refs/claims/retried/1": "2",
        "refs/claims/a%2Eb/3": "6",
    }
    assert parse_claim_ref("refs/claims/a%2Eb/3") == ("a.b", 3)
    assert parse_claim_ref("refs/locks/x/1") is None
