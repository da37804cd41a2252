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
    CommitDocuments,
    Documents,
    Environment,
    ExecutionBackend,
    Forge,
    Mailer,
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
    commits: CommitDocuments | None = None  # the documents of a commit (state-changing commands)
    memo: dict[str, Any] = field(default_factory=dict)
    # Who is who under a forge that knows more than Settings (GitHub: team membership and
    # write permission read from the API); None: `Directory.from_settings`.
    people: Callable[[Settings], Directory] | None = None
    # built on first use: only `report --send` needs it, and it fails on a bad SMTP_*
    open_mailer: Callable[[], Mailer] | None = None
    notify: Callable[[str], None] | None = None  # how a warning reaches people (stderr)
    # The forge of a repository's Settings (GitHub, or local git), built on use: what the
    # `github_pr` executor opens pull requests through. None: no executor may use one.
    open_forge: Callable[[Settings], Forge] | None = None
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

    @cached_property
    def mailer(self) -> Mailer:
        from remediate.errors import UsageError

        if self.open_mailer is None:
            raise UsageError("no mailer is configured")
        return self.open_mailer()
