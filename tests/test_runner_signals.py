"""The runner's death never leaves an action running: the watchdog kills its process group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediate.core.times import parse_time
from tests.runner_support import (
    action_yaml,
    clone,
    git,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
    start,
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (killed, not yet reaped by its parent) is gone for our purpose
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


def _wait_for(pids_file: Path, count: int) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if pids_file.exists():
            pids = [int(p) for p in pids_file.read_text().split()]
            if len(pids) >= count:
                return pids
        time.sleep(0.05)
    raise AssertionError(f"the action never wrote {count} pids to {pids_file}")


# How long the action's processes may outlive the runner's death or signal: typically
# well under a second here; 15 s leaves room for a loaded 2-core machine (5 s failed
# twice at load 6-7 while the watchdog was waiting for a core).
GONE_WITHIN = 15.0


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def test_kill_9_of_the_runner_kills_the_actions_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # the action's shell, and a child of it in the same group, both outliving a dead runner
    script = f"sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; wait"
    bare = make_remote(
        tmp_path,
        actions={"slow": action_yaml("slow", ["/bin/sh", "-c", script], timeout="600s")},
        requests={"rem-slow": request_yaml("rem-slow", action="slow")},
    )
    runner = start(clone(tmp_path, bare, "runner"), "apply")
    try:
        action = _wait_for(pids, 2)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        left = _wait_gone(action, GONE_WITHIN)
        assert left == [], f"the action outlived its runner by 5 s: {left}"
    finally:
        for pid in _read(pids):
            _kill(pid)


def test_a_runner_that_ends_normally_leaves_no_watchdog_behind(tmp_path: Path) -> None:
    code = (
        "from remediate.adapters import process, watchdog\n"
        "done = process.run(['true'], {'PATH': '/usr/bin:/bin'}, None, 5)\n"
        "print(watchdog.WATCHDOG._proc.pid)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    watchdog_pid = int(out.stdout.strip())
    assert _wait_gone([watchdog_pid], GONE_WITHIN) == []


def _read(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# -- SIGINT / SIGTERM, and claims that never started ------------------------------------


def _remote_with(tmp_path: Path, pids: Path, log: Path, slow_timeout: str, skew: str) -> Path:
    """rem-a (an action that sleeps and records its pids) and rem-b (one that logs its
    name), on one target: rem-b is claimed with rem-a, and starts only after it."""
    script = f"sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; wait"
    record = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        actions={
            "slow": action_yaml("slow", ["/bin/sh", "-c", script], timeout=slow_timeout),
            "record": action_yaml("record", record, timeout="1s"),
        },
        requests={
            "rem-a": request_yaml("rem-a", action="slow"),
            "rem-b": request_yaml("rem-b", action="record"),
        },
    )
    if skew:
        seed = tmp_path / "seed"
        settings = seed / "remediate.yaml"
        text = settings.read_text()
        line = next(x for x in text.splitlines() if x.startswith("  runner:"))
        settings.write_text(text.replace(line, line[:-1] + f", clockSkew: {skew}}}"))
        # a change of the automation itself: authored by an admin, or the runner holds it back
        git(seed, "commit", "--quiet", "-am", "clock skew", email="admin@example.com")
        git(seed, "push", "--quiet", "origin", "HEAD:main")
    return bare


def _events(tmp_path: Path, bare: Path, request: str) -> list[dict[str, object]]:
    return [e for e in remote_events(tmp_path, bare) if e["requestId"] == request]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_action_stops_its_group_and_records_the_outcome(
    tmp_path: Path, sig: signal.Signals
) -> None:
    pids, log = tmp_path / "pids", tmp_path / "log"
    bare = _remote_with(tmp_path, pids, log, "600s", "")
    work = clone(tmp_path, bare, "runner")
    runner = start(work, "apply", "--format", "json")
    try:
        action = _wait_for(pids, 2)
        os.kill(runner.pid, sig)
        _out, err = runner.communicate(timeout=30)
        assert _wait_gone(action, GONE_WITHIN) == [], "the action outlived the signal"
    finally:
        for pid in _read(pids):
            _kill(pid)
    assert runner.returncode == 1, err
    assert f"remediate: stopped by {sig.name}" in err
    a = _events(tmp_path, bare, "rem-a")
    assert [(e["from"], e["to"]) for e in a][-1] == ("EXECUTING", "FAILED")
    assert a[-1]["details"]["outcomeUnknown"] is True  # type: ignore[index]
    assert a[-1]["error"] == (
        f"the runner was stopped ({sig.name}) while the action ran; its process group was stopped"
    )
    # rem-b was claimed with it but never started: queued again, not failed
    b = _events(tmp_path, bare, "rem-b")
    assert [(e["from"], e["to"]) for e in b][-1] == ("EXECUTING", "QUEUED")
    assert not log.exists()
    done = remediate(work, "apply", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert log.read_text().split() == ["rem-b"]  # run once, by the next apply
    assert remediate(work, "audit", "verify").returncode == 0


def test_a_crash_with_claimed_unstarted_requests_queues_them_again(tmp_path: Path) -> None:
    pids, log = tmp_path / "pids", tmp_path / "log"
    bare = _remote_with(tmp_path, pids, log, "3s", "0s")
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    runner = start(first, "apply")
    try:
        action = _wait_for(pids, 2)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        assert _wait_gone(action, GONE_WITHIN) == []
    finally:
        for pid in _read(pids):
            _kill(pid)
    claim = next(e for e in _events(tmp_path, bare, "rem-b") if e["to"] == "EXECUTING")
    deadline = parse_time(str(claim["details"]["deadline"]))  # type: ignore[index]
    # clockSkew 0s: the deadline is the claim time plus the target's timeouts, nothing more
    assert deadline - parse_time(str(claim["at"])) == timedelta(seconds=3 + 1)
    while datetime.now(UTC) < deadline:
        time.sleep(0.1)
    done = remediate(second, "apply", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {r["requestId"]: r["status"] for r in report["recovered"]} == {
        "rem-a": "FAILED",  # it had started: the outcome is unknown
        "rem-b": "QUEUED",  # it never started: queued again
    }
    assert log.read_text().split() == ["rem-b"]  # and run once, by this apply
    b = _events(tmp_path, bare, "rem-b")
    assert sorted((e["from"], e["to"]) for e in b) == sorted(
        [
            ("NEW", "QUEUED"),
            ("QUEUED", "EXECUTING"),
            ("EXECUTING", "QUEUED"),  # released: attempt 1 never started
            ("QUEUED", "EXECUTING"),
            ("EXECUTING", "COMPLETED"),
        ]
    )
    assert remediate(second, "audit", "verify").returncode == 0


def test_claim_deadlines_allow_the_clock_skew_and_nothing_more(tmp_path: Path) -> None:
    log = tmp_path / "log"
    for skew, seconds in (("", 5), ("7s", 7)):
        tmp = tmp_path / (skew or "default")
        tmp.mkdir()
        bare = _remote_with(tmp, tmp / "pids", log, "3s", skew)
        work = clone(tmp, bare, "runner")
        git(work, "rm", "--quiet", "remediations/rem-a.yaml")
        git(work, "commit", "--quiet", "-m", "only rem-b")
        git(work, "push", "--quiet", "origin", "HEAD:main")
        assert remediate(work, "apply").returncode == 0
        claim = next(e for e in _events(tmp, bare, "rem-b") if e["to"] == "EXECUTING")
        deadline = parse_time(str(claim["details"]["deadline"]))  # type: ignore[index]
        assert deadline - parse_time(str(claim["at"])) == timedelta(seconds=1 + seconds)


def test_a_claim_released_by_another_run_is_never_started_by_its_own_runner(
    tmp_path: Path,
) -> None:
    """The runner is alive but slow: before its start mark lands, another run (its clock
    past the claim's deadline) proves the claim never started, releases it and runs the
    request as a new attempt. The slow runner's mark loses the compare-and-swap on
    `refs/starts/<claim commit>`: it starts nothing. The action runs exactly once."""
    from typing import Any

    from remediate.service.apply import apply
    from tests.runner_support import apply_at
    from tests.sessions import Wrapped, session

    log = tmp_path / "log"
    record = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        actions={"record": action_yaml("record", record, timeout="1s")},
        requests={"rem-s": request_yaml("rem-s", action="record")},
    )
    slow, other = clone(tmp_path, bare, "slow"), clone(tmp_path, bare, "other")
    raced: list[dict[str, object]] = []

    class Slow(Wrapped):
        def push_leases(self, updates: dict[str, tuple[str | None, str]]) -> Any:
            if not raced and any(r.startswith("refs/starts/") for r in updates):
                raced.append(json.loads(apply_at(other, timedelta(hours=1)).stdout))
            return self.inner.push_leases(updates)

    now = datetime.now(UTC).isoformat()
    report = apply(session(slow, now=now, store=Slow), "ops@example.com")
    assert raced, "the other run never ran in between"
    assert raced[0]["recovered"] == [{"requestId": "rem-s", "status": "QUEUED"}]
    assert report.executed == [], (report.skipped, raced, log.read_text())
    assert ("rem-s", "released by another run") in report.skipped
    assert log.read_text().split() == ["rem-s"]  # once, by the other run's new attempt
    assert remediate(other, "audit", "verify").returncode == 0
