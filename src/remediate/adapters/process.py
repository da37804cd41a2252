"""The one module that runs subprocesses for actions: argv only, own process group, timeout.

Each group is announced to the watchdog (`adapters.watchdog`), which kills it if the
runner dies while it runs. `stop` (the runner got SIGINT or SIGTERM: `stop_on_signals`)
stops every running group (SIGTERM, SIGKILL after the grace) and starts no new one;
what a stopped group did is unknown (`Completed.stopped`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

from remediate.adapters.watchdog import WATCHDOG
from remediate.core.processes import Completed

KILL_GRACE_SECONDS = 2.0
KEEP_BYTES = 64 * 1024  # of each stream, from its end: output goes to files, never to memory


class _Running:
    """The groups this process runs now, and why the runner is stopping (if it is)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.groups: set[int] = set()
        self.stopped: set[int] = set()  # groups signalled by `stop` while they ran
        self.reason: str | None = None

    def add(self, pgid: int) -> bool:
        """Register a started group; False (and the group stopped) if stopping."""
        with self.lock:
            self.groups.add(pgid)
            if self.reason is None:
                return True
            self.stopped.add(pgid)
        _kill_group(pgid, signal.SIGTERM)
        return False

    def remove(self, pgid: int) -> str | None:
        """Forget a group; why it was stopped by the runner, if it was."""
        with self.lock:
            self.groups.discard(pgid)
            if pgid in self.stopped:
                self.stopped.discard(pgid)
                return self.reason
            return None

    def stop(self, reason: str) -> None:
        with self.lock:
            if self.reason is None:
                self.reason = reason
            groups = set(self.groups)
            self.stopped |= groups
        for pgid in groups:
            _kill_group(pgid, signal.SIGTERM)
        timer = threading.Timer(KILL_GRACE_SECONDS, self._kill, (groups,))
        timer.daemon = True
        timer.start()

    def _kill(self, groups: set[int]) -> None:
        for pgid in groups:
            _kill_group(pgid, signal.SIGKILL)


RUNNING = _Running()


def run(argv: Sequence[str], env: Mapping[str, str], cwd: str | None, timeout: float) -> Completed:
    """Run `argv` (never through a shell) in a new process group; kill the group on timeout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        WATCHDOG.ready()  # up before the action starts: see `Watchdog.ready`
        try:
            proc = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: a timeout kills its children
            )
        except OSError as exc:
            return Completed(None, b"", b"", error=f"cannot start {argv[0]}: {exc.strerror or exc}")
        except ValueError as exc:  # a NUL in argv or env, an empty argv: it never started
            return Completed(None, b"", b"", error=f"cannot start {argv[:1]}: {exc}")
        WATCHDOG.started(proc.pid)  # if this runner dies, the watchdog kills the group
        RUNNING.add(proc.pid)  # a stop that came first stops it at once
        # a timer, not wait(timeout=…), which polls with sleeps: a short action returns at once
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill_group(proc.pid, signal.SIGTERM)

        term = threading.Timer(timeout, expire)
        kill = threading.Timer(
            timeout + KILL_GRACE_SECONDS, _kill_group, (proc.pid, signal.SIGKILL)
        )
        term.start()
        kill.start()
        try:
            proc.wait()
        finally:
            term.cancel()
            kill.cancel()
        timed_out = expired.is_set()
        _kill_group(proc.pid, signal.SIGKILL)  # children left behind by a finished action
        stopped = RUNNING.remove(proc.pid)
        WATCHDOG.ended(proc.pid)
        (stdout, stdout_cut), (stderr, stderr_cut) = _tail(out), _tail(err)
        return Completed(
            proc.returncode,
            stdout,
            stderr,
            timed_out,
            stdout_cut=stdout_cut,
            stderr_cut=stderr_cut,
            stopped=stopped,
        )


def _tail(handle: IO[bytes]) -> tuple[bytes, bool]:
    """The last KEEP_BYTES of a stream, and whether anything before them was dropped."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - KEEP_BYTES))
    return handle.read(), size > KEEP_BYTES


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class LocalProcesses:
    """The `ProcessRunner` port over `run`: processes on this machine."""

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None, timeout: float
    ) -> Completed:
        return run(argv, env, cwd, timeout)

    def stopping(self) -> str | None:
        return RUNNING.reason

    def stop(self, reason: str) -> None:
        """Stop every running action's group; start no new one."""
        RUNNING.stop(reason)


@contextlib.contextmanager
def stop_on_signals(processes: LocalProcesses) -> Iterator[None]:
    """While the block runs, the first SIGINT or SIGTERM stops the actions (`stop`) and lets
    the runner record what it knows; a second one interrupts the runner at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    before = {s: signal.getsignal(s) for s in signals}

    def handle(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if processes.stopping() is not None:
            raise KeyboardInterrupt(name)
        os.write(
            2,
            f"remediate: {name}: stopping the running actions and recording what is known "
            "(send it again to stop at once)\n".encode(),
        )
        processes.stop(name)

    for s in signals:
        signal.signal(s, handle)
    try:
        yield
    finally:
        for s, previous in before.items():
            signal.signal(s, previous)
        RUNNING.reason = None  # the run is over: a later one in this process starts afresh
