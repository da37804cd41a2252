"""What running a process returns, and the port that runs one (`adapters.process`).

Values only: the command executor receives a `ProcessRunner` in its context, so the
runner decides what runs processes (a local one today; a supervised one later).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Completed:
    returncode: int | None  # None: it never started
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    error: str | None = None  # why it could not start
    stdout_cut: bool = False  # only the last bytes were kept: the start is cut
    stderr_cut: bool = False
    stopped: str | None = (
        None  # the runner stopped it (a signal to the runner): the outcome is unknown
    )


class ProcessRunner(Protocol):
    def run(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None, timeout: float
    ) -> Completed:
        """Run `argv` (never through a shell) in its own process group; kill it on timeout."""

    def stopping(self) -> str | None:
        """Why the runner is stopping (e.g. "SIGTERM"), or None: then no action may start."""
