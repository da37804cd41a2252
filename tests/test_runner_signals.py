"""The runner's death never leaves an action running: the watchdog kills its process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.runner_support import action_yaml, clone, make_remote, request_yaml, start


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
        left = _wait_gone(action, 5.0)
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
    assert _wait_gone([watchdog_pid], 5.0) == []


def _read(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
