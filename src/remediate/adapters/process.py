"""The one module that runs subprocesses for actions: argv only, own process group, timeout.

Each group is announced to the watchdog (`adapters.watchdog`), which kills it if the
runner dies while it runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import IO

from remediate.adapters.watchdog import WATCHDOG
from remediate.core.processes import Completed

KILL_GRACE_SECONDS = 2.0
KEEP_BYTES = 64 * 1024  # of each stream, from its end: output goes to files, never to memory


def run(argv: Sequence[str], env: Mapping[str, str], cwd: str | None, timeout: float) -> Completed:
    """Run `argv` (never through a shell) in a new process group; kill the group on timeout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
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
        WATCHDOG.ended(proc.pid)
        (stdout, stdout_cut), (stderr, stderr_cut) = _tail(out), _tail(err)
        return Completed(
            proc.returncode,
            stdout,
            stderr,
            timed_out,
            stdout_cut=stdout_cut,
            stderr_cut=stderr_cut,
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
