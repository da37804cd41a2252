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
from typing import TYPE_CHECKING, Any

from remediate.service.ports import (
    Changes,
    Clock,
    Documents,
    Environment,
    ExecutionBackend,
    ProcessRunner,
    Store,
)

if TYPE_CHECKING:
    from remediate.core.identity import Directory
    from remediate.core.model import Settings


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
    # Who is who under a forge that knows more than Settings (GitHub: team membership and
    # write permission read from the API); None: `Directory.from_settings`.
    people: Callable[[Settings], Directory] | None = None

    @cached_property
    def store(self) -> Store:
        return self.open_store()
