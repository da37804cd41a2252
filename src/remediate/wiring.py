"""The composition root: the one place that builds real adapters from the environment.

`session(root)` reads `os.environ` once and returns the `service.session.Session` every
use case runs with: the git store (opened on first use), the documents of the working
tree, the clock (REMEDIATE_NOW stands in for it), the runner's environment, the process
runner and the execution backend. `github(root)` adds, for `remediate github`, the GitHub
adapter and the event. Tests build sessions the same way and may wrap any port (a
store whose pushes fail, a clock that is fixed) before handing it to a use case.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from remediate.service.session import Session

if TYPE_CHECKING:
    from remediate.core.audit import RequestState
    from remediate.core.model import Settings
    from remediate.service.github import GitHubRun
    from remediate.service.ports import Forge, Mailer, Scaffolding, Store


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
        open_store=lambda: _store(root, variables.get("REMEDIATE_SIGNING_KEY")),
        open_mailer=lambda: _mailer(variables),
        notify=_warning,
        commits=AtCommit(root, GitTree(root)),
        open_forge=lambda settings: forge(settings, variables),
    )
    built.documents = WorkTree(
        root, states=lambda: _head_states(built), index=lambda: _unchanged_requests(root)
    )
    return built


def _warning(text: str) -> None:
    from remediate.cli.output import echo

    echo(f"remediate: warning: {text}", err=True)


def stop_on_signals(built: Session) -> AbstractContextManager[None]:
    """While the block runs, SIGINT or SIGTERM stop the session's actions (their process
    groups) and let the use case record what is known (`adapters.process`)."""
    from remediate.adapters.process import LocalProcesses, stop_on_signals

    if isinstance(built.processes, LocalProcesses):
        return stop_on_signals(built.processes)
    return contextlib.nullcontext()


def scaffolding() -> Scaffolding:
    """What `init` runs with (it needs no repository, so no session)."""
    from remediate.adapters.provenance import LocalInstall

    return LocalInstall()


def forge(settings: Settings, environ: Mapping[str, str] | None = None) -> Forge:
    """The forge of `settings` (spec.forge): GitHub (its repository, else
    GITHUB_REPOSITORY, at GITHUB_API_URL with GITHUB_TOKEN), or local git."""
    from remediate.adapters.github import DEFAULT_API, GitHubForge, Retrying
    from remediate.adapters.local_forge import LocalForge

    variables = os.environ if environ is None else environ
    if settings.forge.get("type") != "github":
        return LocalForge(settings)
    first = _backoff(variables)
    return GitHubForge(
        str(settings.forge.get("repository") or variables.get("GITHUB_REPOSITORY", "")),
        variables.get("GITHUB_TOKEN") or None,
        variables.get("GITHUB_API_URL") or DEFAULT_API,
        Retrying(base=first, deadline=max(120.0, first * 60)),
    )


def _backoff(variables: Mapping[str, str]) -> float:
    """REMEDIATE_GITHUB_BACKOFF: the first wait of a retried GitHub call, in seconds."""
    from remediate.errors import UsageError

    backoff = variables.get("REMEDIATE_GITHUB_BACKOFF", "1")
    try:
        first = float(backoff)
    except ValueError:
        first = -1.0
    if not 0 <= first <= 60:
        raise UsageError(f"REMEDIATE_GITHUB_BACKOFF={backoff!r}: seconds from 0 to 60")
    return first


def _mailer(variables: Mapping[str, str]) -> Mailer:
    from remediate.adapters.smtp import mailer

    return mailer(variables)


def _store(root: Path, signing_key: str | None = None) -> Store:
    """The git store; `signing_key` (REMEDIATE_SIGNING_KEY: the runner's SSH key, or its
    public key with the private one in ssh-agent) signs its commits when the settings ask."""
    from remediate.adapters.git_store import GitStore

    return GitStore(root, signing_key or None)


def _unchanged_requests(root: Path) -> Mapping[str, str]:
    """The request files git's index holds unchanged (their blob ids without reading them)."""
    from remediate.adapters.git_cli import unchanged_blobs
    from remediate.documents.repository import BULK

    return unchanged_blobs(root, BULK)


def _head_states(built: Session) -> Mapping[str, RequestState]:
    from remediate.service.audit_log import at_head

    return at_head(built).states


def github(root: Path, environ: Mapping[str, str] | None = None) -> GitHubRun:
    """What `remediate github` runs with: the session, the GitHub adapter for
    GITHUB_REPOSITORY at GITHUB_API_URL with GITHUB_TOKEN, the pull-request reader over
    the checkout's git, and the event (GITHUB_EVENT_NAME, the payload at GITHUB_EVENT_PATH)."""
    import json

    from remediate.adapters.github import DEFAULT_API, GitHubForge, Retrying
    from remediate.adapters.github_heads import GitPullHeads
    from remediate.errors import UsageError
    from remediate.service.github import GitHubRun

    variables = os.environ if environ is None else environ
    name, path = variables.get("GITHUB_EVENT_NAME"), variables.get("GITHUB_EVENT_PATH")
    if not name or not path:
        raise UsageError(
            "remediate github acts on a GitHub Actions event: GITHUB_EVENT_NAME and "
            "GITHUB_EVENT_PATH are not set (run it as a workflow step)"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            event = json.load(handle)
    except (OSError, ValueError) as exc:
        raise UsageError(f"GITHUB_EVENT_PATH={path}: not a readable JSON event ({exc})") from None
    if not isinstance(event, dict):
        raise UsageError(f"GITHUB_EVENT_PATH={path}: the event is not a JSON object")
    first = _backoff(variables)
    github_forge = GitHubForge(
        variables.get("GITHUB_REPOSITORY", ""),
        variables.get("GITHUB_TOKEN") or None,
        variables.get("GITHUB_API_URL") or DEFAULT_API,
        Retrying(base=first, deadline=max(120.0, first * 60)),
    )
    return GitHubRun(session(root, variables), github_forge, GitPullHeads(root), name, event)
