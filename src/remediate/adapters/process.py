"""The one module that runs subprocesses for actions: argv only, own process group, timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

KILL_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class Completed:
    returncode: int | None  # None: it never started
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    error: str | None = None  # why it could not start


def run(argv: Sequence[str], env: Mapping[str, str], cwd: str | None, timeout: float) -> Completed:
    """Run `argv` (never through a shell) in a new process group; kill the group on timeout."""
    try:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills its children too
        )
    except OSError as exc:
        return Completed(None, b"", b"", error=f"cannot start {argv[0]}: {exc.strerror or exc}")
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    _kill_group(proc.pid, signal.SIGKILL)  # children left behind by a finished action
    return Completed(proc.returncode, out, err, timed_out)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
