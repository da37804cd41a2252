"""`plan`: fresh decisions for requests that have not started, with no side effects.

The history a decision depends on besides the documents (recorded statuses,
approvals, prior executions, requesters) comes from the audit; it arrives
here as a `History`, so this service never reads the audit itself and the
caller decides where it comes from (`history_from_states` turns the audit
fold of `remediate.core.audit` into one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from remediate.core.decision import Approval, Context, Decision, Execution
from remediate.core.document import Document
from remediate.core.identity import Directory
from remediate.core.lifecycle import NOT_STARTED
from remediate.core.model import Repository, Request, build_repository
from remediate.core.policy import PolicyError, PolicySet, compile_policies, evaluate
from remediate.documents.loader import YAML_SUFFIXES
from remediate.errors import DocumentsInvalid, Problem, UserError
from remediate.service.validate import check_root, load_valid

if TYPE_CHECKING:
    from remediate.core.audit import RequestState

_CASE_ACTION = re.compile(r"spec\.cases\[\d+\]\.request\.action\.type")


@dataclass(frozen=True)
class History:
    """What the audit knows, by request id; empty means nothing is recorded yet."""

    statuses: Mapping[str, str] = field(default_factory=dict)
    approvals: Mapping[str, tuple[Approval, ...]] = field(default_factory=dict)
    executions: tuple[Execution, ...] = ()
    requesters: Mapping[str, str] = field(default_factory=dict)  # by request id or file
    states: Mapping[str, RequestState] = field(default_factory=dict)  # the whole fold


def history_from_states(
    states: Mapping[str, RequestState], requesters: Mapping[str, str] | None = None
) -> History:
    """A `History` from the audit fold (`remediate.core.audit.fold`)."""
    return History(
        statuses={rid: s.status for rid, s in states.items()},
        approvals={rid: s.approvals for rid, s in states.items() if s.approvals},
        executions=tuple(e for s in states.values() for e in s.executions),
        requesters=dict(requesters or {}),
        states=dict(states),
    )


@dataclass(frozen=True)
class Planned:
    decision: Decision
    request: Request
    recorded: bool = False  # already started: the status is the audit's, not re-decided


@dataclass(frozen=True)
class PlanReport:
    now: datetime
    base: str | None
    entries: tuple[Planned, ...]

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(e.decision for e in self.entries)

    def as_json(self) -> dict[str, object]:
        return {"decisions": [d.as_json() for d in self.decisions]}


def load_for_plan(root: Path, base: str | None) -> list[Document]:
    """The documents to plan from: the whole repository, or what changed since `base`.

    With `base`, only the changed documents are loaded and checked, together
    with the repository's settings, action types and policies (fail closed on
    any error among them), so a one-request change stays fast in a big repo.
    """
    if base is None:
        return load_valid(root)
    from remediate.adapters.git_store import changed_files

    everything = changed_files(root, base)
    changed = [f for f in everything if f.endswith(YAML_SUFFIXES)]
    documents = load_valid_paths(root, [str(root / f) for f in changed if (root / f).exists()])
    if any(f.startswith("audit/") for f in everything):
        _refuse_foreign_audit(root, base, documents)
    changed_set = set(changed)
    return [d for d in documents if d.kind != "RemediationRequest" or d.file in changed_set]


def _refuse_foreign_audit(root: Path, base: str, documents: list[Document]) -> None:
    """A change under audit/ that the runner did not commit (a pull request forging events) fails."""
    from remediate.service.verify import foreign_changes_since

    runner = build_repository(documents).settings.runner_email
    found = foreign_changes_since(root, base, runner)
    if found:
        raise DocumentsInvalid([Problem("audit/", 0, "", p) for p in found])


def load_valid_paths(root: Path, paths: Sequence[str], library: bool = False) -> list[Document]:
    """The documents under `paths` and the repository's settings, action types and policies.

    Fails closed (`DocumentsInvalid`) on any problem among them; requests
    elsewhere in the repository are neither loaded nor checked. With
    `library`, a repository without any ActionType (a policy library such as
    this project's own `policies/`) may name action types in its PolicyTest
    cases that it does not define.
    """
    from remediate.documents.loader import discover, load_files
    from remediate.documents.references import check_references
    from remediate.service.validate import with_context

    check_root(root)
    files, problems = with_context(root, *(discover(root, paths) if paths else ([], [])))
    loaded = load_files(root, files)
    problems += loaded.problems + check_references(loaded.documents)
    if library and not any(d.kind == "ActionType" for d in loaded.documents):
        tests = {d.file for d in loaded.documents if d.kind == "PolicyTest"}
        problems = [p for p in problems if not (p.file in tests and _CASE_ACTION.fullmatch(p.path))]
    errors = sorted(p for p in problems if p.severity == "error")
    if errors:
        raise DocumentsInvalid(errors)
    return loaded.documents


def compile_repository(repo: Repository) -> PolicySet:
    """The repository's policies, compiled; a condition error is a user error (fail closed)."""
    try:
        return compile_policies(repo.policies)
    except PolicyError as exc:
        raise DocumentsInvalid([Problem(exc.file, exc.line, exc.path, exc.message)]) from None


def context_for(
    repo: Repository,
    directory: Directory,
    history: History,
    request: Request | None,
    now: datetime,
) -> Context:
    requester = approvals = None
    if request is not None:
        requester = history.requesters.get(request.name)
        if requester is None and request.file is not None:
            requester = history.requesters.get(request.file)
        approvals = history.approvals.get(request.name)
    return Context(
        now=now,
        directory=directory,
        requester=requester,
        approvals=approvals or (),
        executions=history.executions,
        default_decision=repo.settings.default_decision,
        default_approvals=repo.settings.default_approvals,
    )


def decide_all(
    repo: Repository,
    policies: PolicySet,
    now: datetime,
    history: History,
    requests: Iterable[Request] | None = None,
) -> tuple[Planned, ...]:
    """Decide every request (recorded status for those already started), by name."""
    directory = Directory.from_settings(repo.settings)
    chosen: Sequence[Request] = sorted(
        repo.requests.values() if requests is None else requests, key=lambda r: r.name
    )
    out = []
    # One context serves every request with no requester and no approvals on record.
    shared = context_for(repo, directory, History(executions=history.executions), None, now)
    for request in chosen:
        recorded = history.statuses.get(request.name)
        if recorded is not None and recorded not in NOT_STARTED:
            out.append(Planned(_recorded(request, recorded), request, recorded=True))
            continue
        context = shared
        if history.requesters or history.approvals:
            context = context_for(repo, directory, history, request, now)
            if context.requester is None and not context.approvals:
                context = shared
        out.append(Planned(evaluate(request, policies, context), request))
    return tuple(out)


def _recorded(request: Request, status: str) -> Decision:
    return Decision(
        request_id=request.name,
        status=status,
        detail=f"Already started: the audit records {status}; plan does not decide it again.",
    )


def plan(
    root: Path, now: datetime, base: str | None = None, history: History | None = None
) -> PlanReport:
    """Decisions for all requests, or those added or changed since `base`, as of `now`."""
    documents = load_for_plan(root, base)
    repo = build_repository(documents)
    policies = compile_repository(repo)
    entries = decide_all(repo, policies, now, history or History())
    return PlanReport(now, base, entries)


def find_request(repo: Repository, request_id: str) -> Request:
    request = repo.requests.get(request_id)
    if request is None:
        raise UserError(f"no request named {request_id!r} in remediations/")
    return request
