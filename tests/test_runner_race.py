"""Exactly once under races, crashes, rejected pushes and lost push replies (real git, real processes)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.runner_support import (
    NOW,
    OPERATOR,
    RUNNER,
    action_yaml,
    apply_at,
    cli_env,
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

LATER = timedelta(hours=2)  # the runner's clock, injected: past every timeout here
MUCH_LATER = timedelta(hours=8)


def recorder(log: Path, extra: str = "") -> list[str]:
    """An action that appends the request's name to `log` (atomic small appends)."""
    return ["/bin/sh", "-c", f'echo "$1" >> {log}{extra}', "sh", "{{ request.name }}"]


def executions(log: Path) -> Counter[str]:
    return Counter(log.read_text().split()) if log.exists() else Counter()


def assert_clean(tmp: Path, bare: Path) -> list[dict[str, object]]:
    events = remote_events(tmp, bare)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event was written twice"
    check = clone(tmp, bare, f"verify-{time.monotonic_ns()}")
    done = remediate(check, "audit", "verify", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    return events


def test_racing_runners_execute_each_action_exactly_once(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    names = [f"rem-{i:02d}" for i in range(24)]
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", recorder(log))},
        requests={n: request_yaml(n, service=f"svc-{i % 5}") for i, n in enumerate(names)},
    )
    clones = [clone(tmp_path, bare, f"runner-{i}") for i in range(4)]
    procs = [start(c, "apply", "--format", "json") for c in clones]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    assert executions(log) == Counter(names)  # each exactly once
    events = assert_clean(tmp_path, bare)
    by_request = Counter((e["requestId"], e["to"]) for e in events)
    for name in names:  # every event of every request reached the remote, once
        assert by_request[(name, "QUEUED")] == 1
        assert by_request[(name, "EXECUTING")] == 1
        assert by_request[(name, "COMPLETED")] == 1
    executed = sum(len(json.loads(out)["executed"]) for out, _ in outputs)
    assert executed == len(names)


def test_kill_9_mid_action_is_never_rerun_blindly(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    pidfile = tmp_path / "action.pid"
    argv = recorder(log, f"; echo $$ > {pidfile}; sleep 60")
    bare = make_remote(
        tmp_path,
        actions={"slow": action_yaml("slow", argv, timeout="20s")},
        requests={"rem-crash": request_yaml("rem-crash", action="slow")},
    )
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    proc = start(first, "apply")
    deadline = time.monotonic() + 60
    while not _started(pidfile) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert executions(log)["rem-crash"] == 1
    os.kill(proc.pid, signal.SIGKILL)  # the runner dies mid-action
    proc.wait()
    _kill_action(pidfile)  # the action's own process group must not outlive the test

    done = remediate(second, "apply", "--format", "json")  # within the timeout: still running
    assert done.returncode == 0, done.stderr
    assert executions(log)["rem-crash"] == 1
    status = json_out(remediate(second, "status", "rem-crash", "--format", "json"))
    assert status["status"] == "EXECUTING"

    done = apply_at(second, LATER)  # past the timeout
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["recovered"] == [{"requestId": "rem-crash", "status": "FAILED"}]
    apply_at(second, MUCH_LATER)
    assert executions(log)["rem-crash"] == 1  # not idempotent: never re-run
    status = json_out(remediate(second, "status", "rem-crash", "--format", "json"))
    assert status["status"] == "FAILED"
    events = assert_clean(tmp_path, bare)
    failed = [e for e in events if e["to"] == "FAILED"]
    assert len(failed) == 1 and "outcome is unknown" in str(failed[0]["error"])


def _started(pidfile: Path) -> bool:
    return pidfile.exists() and pidfile.read_text().strip().isdigit()


def _kill_action(pidfile: Path) -> None:
    """Kill the action's own process group (its shell leads a new session: pid = pgid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError, ValueError):
        os.killpg(int(pidfile.read_text().split()[0]), signal.SIGKILL)


def test_idempotent_action_abandoned_by_a_crash_is_retried_after_backoff(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    marker = tmp_path / "hang-once"
    pidfile = tmp_path / "action.pid"
    marker.write_text("")
    # the first run hangs (and is killed); later runs finish at once
    argv = [
        "/bin/sh",
        "-c",
        f'echo "$1" >> {log}; if [ -e {marker} ]; then rm {marker}; echo $$ > {pidfile}; '
        "sleep 60; fi",
        "sh",
        "{{ request.name }}",
    ]
    bare = make_remote(
        tmp_path,
        actions={
            "flaky": action_yaml(
                "flaky", argv, timeout="20s", idempotent=True, retries=1, backoff="1h"
            )
        },
        requests={"rem-retry": request_yaml("rem-retry", action="flaky")},
    )
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    proc = start(first, "apply")
    deadline = time.monotonic() + 60
    while not _started(pidfile) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _kill_action(pidfile)
    report = json_out(apply_at(second, LATER))
    assert report["recovered"] == [
        {"requestId": "rem-retry", "status": "FAILED"},
        {"requestId": "rem-retry", "status": "QUEUED"},
    ]
    assert report["executed"] == []  # backoff: 1h after the failure
    assert executions(log)["rem-retry"] == 1
    report = json_out(apply_at(second, MUCH_LATER))
    assert report["executed"] == [{"requestId": "rem-retry", "status": "COMPLETED"}]
    assert executions(log)["rem-retry"] == 2
    assert_clean(tmp_path, bare)


def test_push_rejected_mid_run_is_rebuilt_on_the_new_tip(tmp_path: Path) -> None:
    from remediate.service.apply import apply

    log = tmp_path / "executions.log"
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", recorder(log))},
        requests={"rem-a": request_yaml("rem-a"), "rem-b": request_yaml("rem-b")},
    )
    other = clone(tmp_path, bare, "other", email="someone@example.com")
    runner = clone(tmp_path, bare, "runner")
    landed: list[str] = []
    calls: list[str] = []

    class Raced(Wrapped):
        """Between this runner's fetch and its push, another writer lands a commit."""

        def push_branch(self, sha: str) -> tuple[str, str]:
            return push_after_someone_else(self.inner, sha)

    def push_after_someone_else(real: Any, sha: str) -> tuple[str, str]:
        calls.append(sha)
        if len(calls) % 2 == 0:  # every first push of a phase, not its retry
            return real.push_branch(sha)  # type: ignore[no-any-return]
        # between this runner's fetch and its push, another writer lands a commit
        git(other, "pull", "-q", "--rebase", "origin", "main")
        (other / f"notes-{len(landed)}.txt").write_text("meanwhile\n")
        git(other, "add", ".")
        git(other, "commit", "-qm", "meanwhile", email="someone@example.com")
        git(other, "push", "-q", "origin", "HEAD:main")
        landed.append(sha)
        return real.push_branch(sha)  # type: ignore[no-any-return]

    report = apply(session(runner, store=Raced), "ops@example.com")
    assert sorted(report.executed) == [("rem-a", "COMPLETED"), ("rem-b", "COMPLETED")]
    assert report.stats.rejected >= 3  # every phase's first push was rejected, then rebuilt
    assert executions(log) == Counter(["rem-a", "rem-b"])
    events = assert_clean(tmp_path, bare)
    assert sorted(e["requestId"] for e in events if e["to"] == "COMPLETED") == ["rem-a", "rem-b"]
    assert git(runner, "show", "origin/main:notes-0.txt") == "meanwhile"  # nothing overwritten


def test_push_whose_reply_is_lost_after_the_ref_moved_writes_no_duplicate(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", recorder(log))},
        requests={"rem-x": request_yaml("rem-x"), "rem-y": request_yaml("rem-y")},
    )
    hook = bare / "hooks" / "reference-transaction"
    # after the branch moved, kill receive-pack: the client sees a hang-up, not the result
    hook.write_text(
        "#!/bin/sh\n"
        '[ "$1" = committed ] || exit 0\n'
        f"if grep -q ' refs/heads/main$' && [ ! -e {tmp_path}/lost-once ]; then\n"
        f"  touch {tmp_path}/lost-once; kill -9 $PPID\n"
        "fi\nexit 0\n"
    )
    hook.chmod(0o755)
    runner = clone(tmp_path, bare, "runner")
    done = remediate(runner, "apply", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lost-once").exists()  # the fault was injected
    assert executions(log) == Counter(["rem-x", "rem-y"])
    events = assert_clean(tmp_path, bare)
    decided = [e for e in events if e["to"] == "QUEUED"]
    assert sorted(e["requestId"] for e in decided) == ["rem-x", "rem-y"]  # not written twice


def test_outcomes_of_a_run_that_cannot_push_are_recorded_by_the_next_run(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    closed = tmp_path / "remote-closed"
    # the action runs, then the remote refuses every branch push for a while
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}; touch {closed}', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", argv)},
        requests={"rem-s": request_yaml("rem-s")},
    )
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f"if [ -e {closed} ] && grep -q ' refs/heads/main$'; then echo closed >&2; exit 1; fi\n"
    )
    hook.chmod(0o755)
    runner = clone(tmp_path, bare, "runner")
    env = cli_env(REMEDIATE_PUSH_ATTEMPTS="2")
    done = remediate(runner, "apply", env=env)
    assert done.returncode == 1
    assert "the next apply records them" in done.stderr
    closed.unlink()
    done = apply_at(runner, LATER)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["recovered"] == []  # the real outcome, not "unknown"
    status = json_out(remediate(runner, "status", "rem-s", "--format", "json"))
    assert status["status"] == "COMPLETED"
    assert executions(log)["rem-s"] == 1
    assert_clean(tmp_path, bare)


def test_a_claim_whose_event_never_reached_the_branch_is_adopted_not_rerun(
    tmp_path: Path,
) -> None:
    log = tmp_path / "executions.log"
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", recorder(log), timeout="60s")},
        requests={"rem-o": request_yaml("rem-o")},
    )
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    # The first runner's claim ref lands; the branch push of its claim event never does
    # (the remote refuses it: to the runner, as if it had died right there).
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "while read old new ref; do\n"
        '  [ "$ref" = refs/heads/main ] || continue\n'
        '  if git log -1 --format=%s "$new" | grep -q "^remediate apply: claim"; then\n'
        "    echo 'the runner is gone' >&2; exit 1\n"
        "  fi\n"
        "done\n"
    )
    hook.chmod(0o755)
    done = remediate(first, "apply", env=cli_env(REMEDIATE_PUSH_ATTEMPTS="1"))
    assert done.returncode == 1 and "could not push the audit" in done.stderr, done.stderr
    hook.unlink()
    assert "refs/claims/rem-o/1" in git(tmp_path, "ls-remote", str(bare))
    assert not log.exists()
    report = json_out(remediate(second, "apply", "--format", "json"))
    assert report["executed"] == []
    status = json_out(remediate(second, "status", "rem-o", "--format", "json"))
    assert status["status"] == "EXECUTING"  # adopted from the claim commit
    # past its deadline: its claim ref holds no start mark, so it provably never started;
    # it is queued again (never FAILED, never run blindly) and then run once
    report = json_out(apply_at(second, LATER))
    assert report["recovered"] == [{"requestId": "rem-o", "status": "QUEUED"}]
    assert executions(log) == Counter(["rem-o"])
    assert_clean(tmp_path, bare)


def test_a_claim_push_whose_reply_is_lost_asks_the_remote_who_won(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", recorder(log))},
        requests={"rem-c": request_yaml("rem-c")},
    )
    hook = bare / "hooks" / "reference-transaction"
    hook.write_text(
        "#!/bin/sh\n"
        '[ "$1" = committed ] || exit 0\n'
        f"if grep -q ' refs/claims/' && [ ! -e {tmp_path}/lost-once ]; then\n"
        f"  touch {tmp_path}/lost-once; kill -9 $PPID\n"
        "fi\nexit 0\n"
    )
    hook.chmod(0o755)
    runner = clone(tmp_path, bare, "runner")
    report = json_out(remediate(runner, "apply", "--format", "json"))
    assert (tmp_path / "lost-once").exists()
    assert report["executed"] == [{"requestId": "rem-c", "status": "COMPLETED"}]
    assert executions(log)["rem-c"] == 1
    assert_clean(tmp_path, bare)


def test_a_failed_idempotent_action_is_retried_within_its_budget(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}; exit 3', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        actions={"bad": action_yaml("bad", argv, idempotent=True, retries=1, backoff="1h")},
        requests={"rem-f": request_yaml("rem-f", action="bad")},
    )
    runner = clone(tmp_path, bare, "runner")
    assert remediate(runner, "apply").returncode == 1  # an action failed
    remediate(runner, "apply")  # backoff not over: nothing runs
    assert executions(log)["rem-f"] == 1
    apply_at(runner, LATER)
    apply_at(runner, MUCH_LATER)  # budget spent: FAILED for good
    assert executions(log)["rem-f"] == 2
    status = json_out(remediate(runner, "status", "rem-f", "--format", "json"))
    assert status["status"] == "FAILED"
    assert_clean(tmp_path, bare)


def test_apply_fails_closed_on_an_invalid_document(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", recorder(log))},
        requests={"rem-ok": request_yaml("rem-ok"), "rem-bad": "kind: [broken\n"},
    )
    runner = clone(tmp_path, bare, "runner")
    done = remediate(runner, "apply")
    assert done.returncode == 1 and "nothing was run" in done.stderr
    assert "Traceback" not in done.stderr
    assert not log.exists()


def test_apply_never_runs_a_request_that_is_not_on_the_shared_branch(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", recorder(log))},
        requests={"rem-pub": request_yaml("rem-pub")},
    )
    runner = clone(tmp_path, bare, "runner")
    (runner / "remediations" / "rem-local.yaml").write_text(request_yaml("rem-local"))
    (runner / "remediations" / "rem-pub.yaml").write_text(request_yaml("rem-pub", note="local"))
    report = json_out(remediate(runner, "apply", "--format", "json"))
    # rem-pub runs as the branch holds it; rem-local is not on the branch at all
    assert report["executed"] == [{"requestId": "rem-pub", "status": "COMPLETED"}]
    (warning,) = report["warnings"]
    assert "remediations/rem-local.yaml, remediations/rem-pub.yaml" in warning
    assert executions(log) == Counter(["rem-pub"])
    git(runner, "add", "remediations/rem-local.yaml")
    git(runner, "commit", "-qm", "local only")  # committed, but not pushed
    report = json_out(remediate(runner, "apply", "--format", "json"))
    assert report["executed"] == []
    assert "remediations/rem-local.yaml" in report["warnings"][0]
    assert executions(log) == Counter(["rem-pub"])


def test_two_runners_never_run_actions_on_one_target_at_the_same_time(tmp_path: Path) -> None:
    from remediate.service.apply import apply

    log = tmp_path / "intervals.log"
    script = (
        f'echo "start $1 $(date +%s%N)" >> {log}; sleep 1; echo "end $1 $(date +%s%N)" >> {log}'
    )
    argv = ["/bin/sh", "-c", script, "sh", "{{ request.name }}"]
    names = ["rem-1", "rem-2", "rem-3"]
    bare = make_remote(
        tmp_path,
        actions={"slow": action_yaml("slow", argv)},
        requests={n: request_yaml(n, action="slow") for n in names},  # one target: api/staging
    )
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    # Both runners have selected their requests and nothing is locked or claimed yet; then
    # the first takes the lock and claims rem-1 (it runs with --max 1), and the second
    # pushes for the same lock: without a per-target lock both would now run an action on
    # api/staging at the same time.
    both_selected = threading.Barrier(2, timeout=5)

    class InTurn(Wrapped):
        def push_leases(self, updates: dict[str, Any]) -> dict[str, str]:
            if any(ref.startswith("refs/locks/") and new for ref, (new, _) in updates.items()):
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_selected.wait()
                if self.inner.root == second:
                    time.sleep(0.5)
            return self.inner.push_leases(updates)  # type: ignore[no-any-return]

    reports: list[Any] = []
    errors: list[BaseException] = []

    def run(root: Path, **kwargs: Any) -> None:
        try:
            reports.append(apply(session(root, store=InTurn), OPERATOR, **kwargs))
        except BaseException as exc:  # a crashed runner must fail the test, not pass it
            errors.append(exc)

    runners = [
        threading.Thread(target=run, args=(first,), kwargs={"max_actions": 1}),
        threading.Thread(target=run, args=(second,)),
    ]
    for thread in runners:
        thread.start()
    for thread in runners:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in runners)
    assert errors == []
    assert len(reports) == 2
    # the lock was contended: the runner that lost it skipped the target, saying why
    contended = [
        (name, why)
        for report in reports
        for name, why in report.skipped
        if why == "another runner holds refs/locks/staging/api"
    ]
    assert contended, [r.skipped for r in reports]
    assert sum(len(r.executed) for r in reports) >= 1
    remediate(second, "apply")  # whatever was left
    intervals = _intervals(log)
    assert sorted(intervals) == names and all(len(v) == 2 for v in intervals.values())
    spans = sorted(intervals.values())
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert end <= begin, "two actions on one target overlapped"
    assert_clean(tmp_path, bare)


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_targets_compare_case_insensitively_for_locks_and_serial_execution(
    tmp_path: Path,
) -> None:
    from remediate.core.commits import Person
    from remediate.core.times import parse_time
    from remediate.service.apply import apply, locks

    log = tmp_path / "intervals.log"
    script = (
        f'echo "start $1 $(date +%s%N)" >> {log}; sleep 1; echo "end $1 $(date +%s%N)" >> {log}'
    )
    argv = ["/bin/sh", "-c", script, "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        actions={"slow": action_yaml("slow", argv)},
        requests={  # one target, spelled three ways
            "rem-up": request_yaml("rem-up", action="slow", service="API", env="Staging"),
            "rem-low": request_yaml("rem-low", action="slow", service="api", env="staging"),
        },
    )
    holder, runner = clone(tmp_path, bare, "holder"), clone(tmp_path, bare, "runner")
    # another runner holds the lock of staging/api: neither spelling may run
    won, held = locks.acquire(
        session(holder).store,
        Person("another runner", RUNNER),  # a runner's lock: in the runner's identity
        parse_time(NOW),
        {("staging", "api"): timedelta(minutes=5)},
    )
    assert won == {("staging", "api")}
    report = apply(session(runner), OPERATOR)
    assert report.executed == []
    assert sorted(report.skipped) == [
        ("rem-low", "another runner holds refs/locks/staging/api"),
        ("rem-up", "another runner holds refs/locks/staging/api"),
    ]
    locks.release(session(holder).store, held)
    report = apply(session(runner), OPERATOR)  # concurrency 4: still one target, so one at a time
    assert sorted(report.executed) == [("rem-low", "COMPLETED"), ("rem-up", "COMPLETED")]
    spans = sorted(_intervals(log).values())
    assert len(spans) == 2
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert end <= begin, "two actions on one target overlapped"


def _intervals(log: Path) -> dict[str, list[int]]:
    intervals: dict[str, list[int]] = {}
    for line in _text(log).splitlines():
        _, name, stamp = line.split()
        intervals.setdefault(name, []).append(int(stamp))
    return intervals


def _gated(log: Path, gate: Path) -> list[str]:
    """An action that logs its start, then waits until `gate` exists."""
    script = f'echo "$1" >> {log}; while [ ! -e {gate} ]; do sleep 0.05; done'
    return ["/bin/sh", "-c", script, "sh", "{{ request.name }}"]


def _at(seconds: int) -> str:
    from remediate.core.times import iso, parse_time

    return iso(parse_time(NOW) + timedelta(seconds=seconds)) or ""


def test_actions_queued_on_one_target_are_not_abandoned_while_they_wait(tmp_path: Path) -> None:
    """Each claim's deadline covers the actions queued ahead of it on its target."""
    log, gate = tmp_path / "executions.log", tmp_path / "gate"
    names = [f"rem-{i}" for i in range(3)]
    bare = make_remote(
        tmp_path,
        actions={"gated": action_yaml("gated", _gated(log, gate), timeout="60s")},
        requests={n: request_yaml(n, action="gated") for n in names},  # one target
    )
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    proc = start(first, "apply", "--format", "json")
    try:
        deadline = time.monotonic() + 60
        while not executions(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert executions(log) == Counter(["rem-0"])  # claimed all three, running the first
        # 2 min on: past the first action's timeout + 5 s, within the three timeouts + 5 s
        done = apply_at(second, timedelta(seconds=120))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["recovered"] == []
    finally:
        gate.touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert sorted(e["requestId"] for e in json.loads(out)["executed"]) == names
    events = assert_clean(tmp_path, bare)
    assert [e for e in events if e["to"] == "FAILED"] == []
    assert Counter(e["requestId"] for e in events if e["to"] == "COMPLETED") == Counter(names)


@pytest.mark.parametrize("idempotent", [False, True])
def test_an_outcome_that_arrives_after_its_request_was_abandoned_is_never_dropped(
    tmp_path: Path, idempotent: bool
) -> None:
    log, gate = tmp_path / "executions.log", tmp_path / "gate"
    action = action_yaml(
        "gated", _gated(log, gate), timeout="60s", idempotent=idempotent, retries=1
    )
    bare = make_remote(
        tmp_path,
        actions={"gated": action},
        requests={"rem-late": request_yaml("rem-late", action="gated")},
    )
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    proc = start(first, "apply", "--format", "json")
    try:
        deadline = time.monotonic() + 60
        while not executions(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        done = apply_at(second, timedelta(seconds=600))  # long past
        recovered = json.loads(done.stdout)["recovered"]
        assert recovered[0] == {"requestId": "rem-late", "status": "FAILED"}
    finally:
        gate.touch()
    out, err = proc.communicate(timeout=60)
    report = json.loads(out)
    assert report["executed"] == [{"requestId": "rem-late", "status": "COMPLETED"}]
    events = assert_clean(tmp_path, bare)
    git(second, "pull", "-q")
    status = json_out(remediate(second, "status", "rem-late", "--format", "json"))
    if idempotent:  # already queued again: the outcome cannot be recorded; say so, exit 1
        assert proc.returncode == 1
        assert "rem-late" in err and "could not be recorded" in err
        assert report["unrecordedOutcomes"] == [{"requestId": "rem-late", "status": "COMPLETED"}]
        assert status["status"] == "QUEUED"
    else:  # the audit learns the real outcome
        assert proc.returncode == 0, err
        assert status["status"] == "COMPLETED"
        learned = [e for e in events if e["details"].get("verb") == "learn"]
        assert [(e["from"], e["to"]) for e in learned] == [("FAILED", "COMPLETED")]
