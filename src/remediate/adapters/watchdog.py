"""A watchdog that kills the runner's action process groups when the runner dies.

Each action runs in a process group of its own (so a timeout kills its
children). If the runner itself is killed (`kill -9`, an OOM kill, a
cancelled CI job), nothing would stop those groups: the action would run on
past its timeout, unsupervised, holding its target lock. So the first action
of a process starts one small watchdog process, in a session of its own
(a signal to the runner's process group does not reach it), reading the
runner's announcements on a pipe: `+PGID` when a group starts, `-PGID` when
it is gone. The runner never closes the pipe's write end; the kernel does when
the runner dies, however it dies. On end of file the watchdog sends SIGTERM to
every group still announced, then SIGKILL after a grace period, and exits. A
runner that ends normally has announced every group gone, so its watchdog
exits at once.

Not covered: a process that leaves its group (`setsid`, a double-forked
daemon) escapes, as it escapes the timeout; and a runner killed in the
microseconds between starting an action and announcing its group leaves
that group running (the watchdog itself is started before the action: `ready`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

GRACE_SECONDS = 2.0

# Runs in `python -c`: no import of remediate, so it starts in ~15 ms and cannot fail on it.
_PROGRAM = """
import os, signal, sys, time
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
def signal_all(sig):
    for pgid in list(groups):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            groups.discard(pgid)
signal_all(signal.SIGTERM)
deadline = time.monotonic() + float(sys.argv[1])
while groups and time.monotonic() < deadline:
    time.sleep(0.05)
    signal_all(0)
signal_all(signal.SIGKILL)
"""


class Watchdog:
    """One watchdog process per runner process, started on the first announcement."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._broken = False

    def ready(self) -> None:
        """Start the watchdog now, before an action starts: started on the first
        announcement, its start-up (a Python process: 15 ms, far more on a loaded
        machine) lay between the action's start and its announcement, and a runner
        killed then left the action running (seen in the crash tests at load 5-7)."""
        with self._lock:
            if self._proc is None and not self._broken:
                try:
                    self._proc = _spawn()
                except OSError:
                    self._broken = True

    def started(self, pgid: int) -> None:
        self._announce(f"+{pgid}\n")

    def ended(self, pgid: int) -> None:
        self._announce(f"-{pgid}\n")

    def _announce(self, line: str) -> None:
        with self._lock:
            if self._broken:
                return
            try:
                if self._proc is None:
                    self._proc = _spawn()
                assert self._proc.stdin is not None
                self._proc.stdin.write(line.encode())
                self._proc.stdin.flush()
            except OSError:
                # No watchdog (it could not start, or died): actions still run and still
                # time out; only the runner's own death goes unsupervised, as before.
                self._broken = True


def _spawn() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _PROGRAM, str(GRACE_SECONDS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a signal to the runner's group does not stop it
        close_fds=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )


WATCHDOG = Watchdog()
