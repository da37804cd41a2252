"""The composition root: the one place that builds real adapters from the environment.

`session(root)` reads `os.environ` once and returns the `service.session.Session` every
use case runs with: the git store (opened on first use), the documents of the working
tree, the clock (REMEDIATE_NOW stands in for it), the runner's environment, the process
runner and the execution backend. Later, a GitHub event (`remediate github`) chooses a
forge adapter here too. Tests build sessions the same way and may wrap any port (a
store whose pushes fail, a clock that is fixed) before handing it to a use case.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from remediate.service.session import Session

if TYPE_CHECKING:
    from remediate.core.audit import RequestState
    from remediate.service.ports import Scaffolding, Store


def session(root: Path, environ: Mapping[str, str] | None = None) -> Session:
    """The real adapters for the repository at `root`, configured by `environ`
    (default: this process's environment)."""
    from remediate.adapters.clock import SystemClock
    from remediate.adapters.environment import RunnerEnvironment
    from remediate.adapters.git_cli import WorkTreeChanges
    from remediate.adapters.git_tree import GitTree
    from remediate.adapters.process import LocalProcesses
    from remediate.documents.commit import AtCommit
    from remediate.documents.repository import WorkTree
    from remediate.executors.registry import InProcess

    variables = os.environ if environ is None else environ
    built = Session(
        root=root,
        documents=WorkTree(root),
        changes=WorkTreeChanges(root),
        clock=SystemClock(variables.get("REMEDIATE_NOW")),
        env=RunnerEnvironment(variables),
        processes=LocalProcesses(),
        backend=InProcess(),
        open_store=lambda: _store(root),
        commits=AtCommit(root, GitTree(root)),
    )
    built.documents = WorkTree(root, states=lambda: _head_states(built))
    return built


def scaffolding() -> Scaffolding:
    """What `init` runs with (it needs no repository, so no session)."""
    from remediate.adapters.provenance import LocalInstall

    return LocalInstall()


def _store(root: Path) -> Store:
    from remediate.adapters.git_store import GitStore

    return GitStore(root)


def _head_states(built: Session) -> Mapping[str, RequestState]:
    from remediate.service.audit_log import at_head

    return at_head(built).states
