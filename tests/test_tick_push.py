"""`tick` claims, records and checkpoints its fires in one atomic push when no fire time
it claims has an attempt on the remote yet, and goes the usual way (claim, then land,
then checkpoint) when that push does not land: real git, a bare remote whose hooks log
or refuse pushes, and a runner killed with SIGKILL mid-push."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.runner_support import (
    action_yaml,
    cli_env,
    clone,
    commit_schedules,
    git,
    make_remote,
    remediate,
    remote_events,
)
from tests.test_tick import _fires
from tests.test_tick_groups import SCHEDULES, _group_refs, start_argv

NOW = "2026-11-23T10:10:00Z"
HOURS = ("07", "08", "09", "10")  # catchUp all, added at 06:30Z: four fire times
NAMES = sorted(f"hourly-{i}-20261123T{h}00Z" for i in range(5) for h in HOURS)


def _logging_hook(bare: Path, log: Path, refuse_first: bool = False) -> None:
    """A pre-receive hook that writes each push's refs as one line of `log`; with
    `refuse_first`, it refuses the first push that holds the branch and a claim ref."""
    flag = log.with_suffix(".refused")
    refuse = (
        f'if [ "$main" = 1 ] && [ "$claims" = 1 ] && [ ! -e {flag} ]; then\n'
        f"  touch {flag}; exit 1\nfi\n"
        if refuse_first
        else ""
    )
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "refs=''; claims=0; main=0\n"
        "while read old new ref; do\n"
        '  refs="$refs $ref"\n'
        '  case "$ref" in refs/claims-schedules/*) claims=1;; refs/heads/main) main=1;; esac\n'
        "done\n"
        f'echo "$refs" >> {log}\n' + refuse
    )
    hook.chmod(0o755)


def _pushes(log: Path) -> list[list[str]]:
    return [sorted(line.split()) for line in log.read_text().splitlines()]


def test_a_tick_claims_records_and_checkpoints_its_fires_in_one_push(tmp_path: Path) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, SCHEDULES, "2026-11-23T06:30:00Z")
    runner = clone(tmp_path, bare, "runner")
    log = tmp_path / "pushes.log"
    _logging_hook(bare, log)
    done = remediate(runner, "tick", "--format", "json", now=NOW)
    assert done.returncode == 0, done.stderr
    assert sorted(f["fire"] for f in json.loads(done.stdout)["fires"]) == NAMES
    claims = [f"refs/claims-schedules/@20261123T{h}00Z/1" for h in HOURS]
    assert _pushes(log) == [sorted([*claims, "refs/heads/main", "refs/remediate/checkpoint"])]
    assert sorted(_group_refs(bare)) == claims
    assert _fires(remote_events(tmp_path, bare)) == Counter({(n, "fire"): 1 for n in NAMES})
    checkpoint = git(bare, "log", "-1", "--format=%B", "refs/remediate/checkpoint")
    assert f"Checkpoint-Of: {git(bare, 'rev-parse', 'main')}" in checkpoint
    assert git(runner, "rev-parse", "HEAD") == git(bare, "rev-parse", "main")  # fast-forwarded
    again = remediate(runner, "tick", "--format", "json", now=NOW)
    assert json.loads(again.stdout)["fires"] == []
    verify = remediate(clone(tmp_path, bare, "verify"), "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_refused_one_push_falls_back_to_claiming_then_landing(tmp_path: Path) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, SCHEDULES, "2026-11-23T06:30:00Z")
    runner = clone(tmp_path, bare, "runner")
    log = tmp_path / "pushes.log"
    _logging_hook(bare, log, refuse_first=True)
    done = remediate(runner, "tick", "--format", "json", now=NOW)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert sorted(f["fire"] for f in out["fires"]) == NAMES and out["adopted"] == []
    claims = [f"refs/claims-schedules/@20261123T{h}00Z/1" for h in HOURS]
    assert _pushes(log) == [
        sorted([*claims, "refs/heads/main", "refs/remediate/checkpoint"]),  # refused: none
        claims,
        ["refs/heads/main"],
        ["refs/remediate/checkpoint"],
    ]
    assert _fires(remote_events(tmp_path, bare)) == Counter({(n, "fire"): 1 for n in NAMES})


def test_a_tick_killed_during_its_one_push_leaves_nothing_and_the_next_fires_once(
    tmp_path: Path,
) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, SCHEDULES, "2026-11-23T06:30:00Z")
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    gate = tmp_path / "pushing"
    hook = bare / "hooks" / "pre-receive"  # the push waits: the runner is killed
    hook.write_text(f"#!/bin/sh\ncat >/dev/null; touch {gate}; sleep 30; exit 1\n")
    hook.chmod(0o755)
    proc = subprocess.Popen(
        [*start_argv(first), "tick", "--repo", str(first)],
        cwd=first,
        env={**cli_env(NOW), "REMEDIATE_PUSH_ATTEMPTS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not gate.exists():
        assert time.monotonic() < deadline, "the first tick never reached its push"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    hook.unlink()
    assert _group_refs(bare) == {}  # all or none: nothing was claimed
    assert _fires(remote_events(tmp_path, bare)) == Counter()
    later = remediate(second, "tick", "--format", "json", now=NOW)
    assert later.returncode == 0, later.stderr
    out = json.loads(later.stdout)
    assert sorted(f["fire"] for f in out["fires"]) == NAMES and out["adopted"] == []
    assert _fires(remote_events(tmp_path, bare)) == Counter({(n, "fire"): 1 for n in NAMES})


def test_a_lost_reply_to_the_one_push_is_asked_of_the_remote(tmp_path: Path) -> None:
    """The push lands but its reply is lost: the remote's claim ref says it landed, so the
    fires are this runner's (not another's), recorded once, and nothing is pushed again."""
    from remediate.service.tick import tick
    from tests.sessions import Wrapped, session

    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, SCHEDULES, "2026-11-23T06:30:00Z")
    runner = clone(tmp_path, bare, "runner")
    lost = []

    def losing(inner: object) -> object:
        wrapped = Wrapped(inner)

        def push_leases(updates: dict[str, Any], atomic: bool = False) -> dict[str, str]:
            results: dict[str, str] = inner.push_leases(updates, atomic)  # type: ignore[attr-defined]
            if atomic:
                lost.append(results)
                return {ref: "unknown" for ref in results}
            return results

        wrapped.push_leases = push_leases  # type: ignore[attr-defined]
        return wrapped

    log = tmp_path / "pushes.log"
    _logging_hook(bare, log)
    report = tick(session(runner, NOW, store=losing))
    assert len(lost) == 1 and set(lost[0].values()) == {"won"}
    assert sorted(f.subject for f in report.fires) == NAMES
    assert report.taken == [] and report.adopted == []
    assert len(_pushes(log)) == 1  # no second way taken
    assert _fires(remote_events(tmp_path, bare)) == Counter({(n, "fire"): 1 for n in NAMES})
