"""The batch form of the claim primitive (`service.claims.claim_group`) and `tick` on it:
one claim ref per fire time, and still each fire once however runners race (real git: a
bare remote, clones, real processes; a runner killed with SIGKILL mid-batch)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from remediate.core.commits import Person
from remediate.core.streams import StreamEvent
from remediate.service import claims
from tests.runner_support import (
    action_yaml,
    cli_env,
    clone,
    commit_schedules,
    git,
    make_remote,
    remediate,
    remote_events,
    start,
)
from tests.sessions import Wrapped, session
from tests.test_tick import HOURLY, _fires

RUNNER = Person("remediate", "runner@example.com")


def _claim(subject: str) -> claims.Claim:
    event = StreamEvent(
        id=f"id-{subject}",
        at="2026-11-23T10:00:00.000Z",
        stream="schedules",
        subject=subject,
        verb="fire",
        actor=RUNNER.email,
        details={},
    )
    return claims.Claim("schedules", subject, 1, (event,))


def _group_refs(bare: Path) -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/claims-schedules/")
    return dict(line.split() for line in out.splitlines())


def test_a_group_claim_takes_the_next_attempt_without_what_earlier_attempts_hold(
    tmp_path: Path,
) -> None:
    bare = make_remote(tmp_path)
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    one = session(first).store
    two = session(second).store
    group = lambda c: "20261123T1000Z"  # noqa: E731
    won = claims.claim_group(one, RUNNER, [_claim("a-x"), _claim("a-y")], group, "test")
    assert [c.subject for c in won.won] == ["a-x", "a-y"] and won.lost == {}
    later = claims.claim_group(two, RUNNER, [_claim("a-y"), _claim("a-z")], group, "test")
    assert [c.subject for c in later.won] == ["a-z"]  # a-y: held by attempt 1
    refs = _group_refs(bare)
    assert sorted(refs) == [
        "refs/claims-schedules/@20261123T1000Z/1",
        "refs/claims-schedules/@20261123T1000Z/2",
    ]
    assert later.lost == {"a-y": refs["refs/claims-schedules/@20261123T1000Z/1"]}
    # nothing left to claim: no third attempt
    again = claims.claim_group(two, RUNNER, [_claim("a-x"), _claim("a-z")], group, "test")
    assert again.won == [] and set(again.lost) == {"a-x", "a-z"}
    assert len(_group_refs(bare)) == 2


def test_a_group_claim_lost_in_a_race_reads_the_winner_and_takes_the_rest(
    tmp_path: Path,
) -> None:
    """The other runner creates attempt 1 between this runner's listing and its push: the
    push is lost, the winner's commit is read, the rest goes to attempt 2."""
    bare = make_remote(tmp_path)
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    other = session(first).store
    group = lambda c: "T"  # noqa: E731
    raced = []

    def racing(inner: object) -> object:
        wrapped = Wrapped(inner)

        def push_leases(updates: dict[str, tuple[str | None, str]]) -> dict[str, str]:
            if not raced:
                raced.append(claims.claim_group(other, RUNNER, [_claim("b-1")], group, "x"))
            return inner.push_leases(updates)  # type: ignore[attr-defined,no-any-return]

        wrapped.push_leases = push_leases  # type: ignore[attr-defined]
        return wrapped

    mine = session(second, store=racing).store
    done = claims.claim_group(mine, RUNNER, [_claim("b-1"), _claim("b-2")], group, "test")
    assert [c.subject for c in raced[0].won] == ["b-1"]
    assert [c.subject for c in done.won] == ["b-2"]
    assert set(done.lost) == {"b-1"}
    assert sorted(_group_refs(bare)) == [
        "refs/claims-schedules/@T/1",
        "refs/claims-schedules/@T/2",
    ]


def test_a_group_attempt_whose_commit_cannot_be_read_claims_nothing_of_that_group(
    tmp_path: Path,
) -> None:
    """Unread, another runner's attempt may hold any of the fires: none is taken again."""
    bare = make_remote(tmp_path)
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    group = lambda c: "T"  # noqa: E731
    claims.claim_group(session(first).store, RUNNER, [_claim("c-1")], group, "x")

    def blind(inner: object) -> object:
        wrapped = Wrapped(inner)
        wrapped.show = lambda rev, path: None  # type: ignore[attr-defined]
        return wrapped

    mine = session(second, store=blind).store
    done = claims.claim_group(mine, RUNNER, [_claim("c-1"), _claim("c-2")], group, "test")
    assert done.won == [] and set(done.lost) == {"c-1", "c-2"}
    assert sorted(_group_refs(bare)) == ["refs/claims-schedules/@T/1"]


SCHEDULES = {f"hourly-{i}": HOURLY.replace("name: hourly", f"name: hourly-{i}") for i in range(5)}


def test_racing_ticks_at_different_times_fire_each_fire_of_shared_groups_once(
    tmp_path: Path,
) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, SCHEDULES, "2026-11-23T06:30:00Z")
    clones = [clone(tmp_path, bare, f"runner-{i}") for i in range(4)]
    # catchUp all: the runners at 09:10 want 07, 08, 09; those at 10:10 want 10 too
    nows = ["2026-11-23T09:10:00Z", "2026-11-23T10:10:00Z"] * 2
    procs = [start(c, "tick", "--format", "json", now=n) for c, n in zip(clones, nows, strict=True)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    names = [f"hourly-{i}-20261123T{h:02d}00Z" for i in range(5) for h in (7, 8, 9, 10)]
    assert _fires(remote_events(tmp_path, bare)) == Counter({(n, "fire"): 1 for n in names})
    fired = [f["fire"] for out, _ in outputs for f in json.loads(out)["fires"]]
    assert sorted(fired) == sorted(names)  # each reported by exactly one runner
    assert all(ref.split("/")[2].startswith("@") for ref in _group_refs(bare))
    assert len(_group_refs(bare)) <= 4 * 4  # at most one attempt per runner and fire time
    verify = remediate(clone(tmp_path, bare, "verify"), "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_tick_killed_after_its_group_claim_is_adopted_and_its_fires_not_run_twice(
    tmp_path: Path,
) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, SCHEDULES, "2026-11-23T06:30:00Z")
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    gate = tmp_path / "landing"
    # The one push of claims, events and checkpoint is refused (the runner then claims
    # first, alone); the landing push after it waits: the runner is killed.
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "claims=0; main=0\n"
        "while read old new ref; do\n"
        '  case "$ref" in refs/claims-schedules/*) claims=1;; refs/heads/main) main=1;; esac\n'
        "done\n"
        '[ "$main" = 1 ] || exit 0\n'
        '[ "$claims" = 1 ] && exit 1\n'
        f"touch {gate}; sleep 30; exit 1\n"
    )
    hook.chmod(0o755)
    now = "2026-11-23T10:10:00Z"
    proc = subprocess.Popen(
        [*start_argv(first), "tick", "--repo", str(first)],
        cwd=first,
        env={**cli_env(now), "REMEDIATE_PUSH_ATTEMPTS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not gate.exists():
        assert time.monotonic() < deadline, "the first tick never reached its landing push"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its git push, mid-batch
    proc.wait()
    hook.unlink()
    refs = _group_refs(bare)
    hours = ("07", "08", "09", "10")  # catchUp all: four fire times, four group claims
    assert sorted(refs) == [f"refs/claims-schedules/@20261123T{h}00Z/1" for h in hours]
    assert _fires(remote_events(tmp_path, bare)) == Counter()
    later = remediate(second, "tick", "--format", "json", now=now)
    assert later.returncode == 0, later.stderr
    out = json.loads(later.stdout)
    names = sorted(f"hourly-{i}-20261123T{h}00Z" for i in range(5) for h in hours)
    assert sorted(out["adopted"]) == names and out["fires"] == []
    assert _fires(remote_events(tmp_path, bare)) == Counter({(n, "fire"): 1 for n in names})
    again = remediate(second, "tick", "--format", "json", now=now)
    assert json.loads(again.stdout)["fires"] == [] and json.loads(again.stdout)["adopted"] == []


def start_argv(cwd: Path) -> list[str]:
    return [sys.executable, "-m", "remediate"]
