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
    CommitDocuments,
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
    commits: CommitDocuments | None = None  # the documents of a commit (state-changing commands)
    memo: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def store(self) -> Store:
        return self.open_store()
