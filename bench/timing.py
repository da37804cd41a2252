"""One process timed as a whole: what every benchmark here measures of a command.

Wall seconds; CPU seconds (user + system of the process and of every child it waited
for: the git it ran), from `wait4`, because the machine is shared and CPU time moves far
less with its load; and peak RSS (MiB), the largest of the process and its waited-for
children. Output goes to temporary files, so neither stream can fill a pipe and stall it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Timed:
    code: int  # exit code
    wall: float
    cpu: float
    rss: float  # MiB
    out: str
    err: str


def remediate(repo: Path, *args: str) -> list[str]:
    """The argv of `remediate ARGS --repo repo` in this interpreter."""
    return [sys.executable, "-m", "remediate", *args, "--repo", str(repo)]


def timed(argv: Sequence[str], cwd: Path, env: Mapping[str, str], keep_out: bool = True) -> Timed:
    """Run `argv` to its end and time it (`keep_out=False`: its stdout is not kept)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdout=out if keep_out else subprocess.DEVNULL,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        out.seek(0)
        err.seek(0)
        return Timed(
            proc.returncode,
            wall,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )
