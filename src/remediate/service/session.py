"""What a use case runs with: the repository's root and the ports, built by `remediate.wiring`.

The store is opened on first use (importing GitPython and starting git cost more than a
whole `plan --base` on a small change), once per session; `memo` keeps what one command
reads once and uses in several places (the audit at HEAD).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from remediate.service.ports import (
    Changes,
    Clock,
    Documents,
    Environment,
    ExecutionBackend,
    ProcessRunner,
    Store,
)


@dataclass
class Session:
    root: Path
    documents: Documents
    changes: Changes
    clock: Clock
    env: Environment
    processes: ProcessRunner
    backend: ExecutionBackend
    open_store: Callable[[], Store]
    memo: dict[str, Any] = field(default_factory=dict)
    notify: Callable[[str], None] | None = None  # how a warning reaches people (stderr)
    warned: list[str] = field(default_factory=list)

    def warn(self, text: str) -> None:
        """Say `text` once per session (the CLI prints it on stderr as it comes)."""
        if text not in self.warned:
            self.warned.append(text)
            if self.notify is not None:
                self.notify(text)

    @cached_property
    def store(self) -> Store:
        return self.open_store()
