"""`plan`: fresh decisions for requests that have not started, with no side effects.

The history a decision depends on besides the documents (recorded statuses,
approvals, prior executions, requesters) comes from the audit; it arrives
here as a `History`, so this service never reads the audit itself and the
caller decides where it comes from (`service.audit_log.history`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from remediate.core.decision import Context, Decision, Execution, decision_context, requesters_of
from remediate.core.document import Document
from remediate.core.identity import Directory
from remediate.core.lifecycle import NOT_STARTED
from remediate.core.model import Repository, Request, build_repository
from remediate.core.policy import PolicyError, PolicySet, compile_policies, evaluate
from remediate.core.ratelimit import counted_since
from remediate.documents.loader import YAML_SUFFIXES
from remediate.errors import DocumentsInvalid, Problem, UserError

if TYPE_CHECKING:
    from remediate.core.audit import RequestState
    from remediate.service.session import Session


@dataclass(frozen=True)
class History:
    """What the audit knows; empty means nothing is recorded yet."""

    states: Mapping[str, RequestState] = field(default_factory=dict)  # by request id
    requesters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # by file (git)

    _executions: dict[datetime | None, tuple[Execution, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def executions(self, since: datetime | None = None) -> tuple[Execution, ...]:
        """Every execution start recorded, or those later than `since` (what the rate
        limits count: `core.ratelimit.counted_since`), read once for each `since`."""
        from remediate.core.snapshot import Layered

        if since not in self._executions:
            if isinstance(self.states, Layered):  # on a checkpoint: its month files
                found = self.states.executions(since)
            else:
                every = (e for s in self.states.values() for e in s.executions)
                found = tuple(e for e in every if since is None or e.at > since)
            self._executions[since] = found
        return self._executions[since]


@dataclass(frozen=True)
class Planned:
    decision: Decision
    request: Request
    recorded: bool = False  # already started: the status is the audit's, not re-decided


@dataclass(frozen=True)
class Automation:
    """A changed file of the automation itself (settings, action types, policies), and
    who may approve it: the admins of the base's settings."""

    file: str
    approvers: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "approvers": list(self.approvers)}

    @property
    def sentence(self) -> str:
        who = ", ".join(self.approvers) or "nobody: the settings name no admin"
        return f"{self.file} changes the automation itself: only an admin may approve it ({who})"


@dataclass(frozen=True)
class PlanReport:
    now: datetime
    base: str | None
    entries: tuple[Planned, ...]
    automation: tuple[Automation, ...] = ()
    warnings: tuple[str, ...] = ()  # without --base: how the working tree differs from the tip

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(e.decision for e in self.entries)

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"decisions": [d.as_json() for d in self.decisions]}
        if self.base is not None:
            body["automation"] = [a.as_json() for a in self.automation]
        if self.warnings:
            body["warnings"] = list(self.warnings)
        return body


def load_for_plan(session: Session, base: str | None) -> list[Document]:
    """The documents to plan from: the whole repository, or what changed since `base`.

    With `base`, only the changed documents are loaded and checked, together
    with the repository's settings, action types and policies (fail closed on
    any error among them), so a one-request change stays fast in a big repo.
    """
    if base is None:
        return session.documents.load()
    root = session.root
    everything = _changed_since(session, base)
    changed = [f for f in everything if f.endswith(YAML_SUFFIXES)]
    documents = session.documents.load_paths(
        [str(root / f) for f in changed if (root / f).exists()]
    )
    if any(f.startswith("audit/") for f in everything):
        _refuse_foreign_audit(session, base, documents)
    changed_set = set(changed)
    return [d for d in documents if d.kind != "RemediationRequest" or d.file in changed_set]


def _changed_since(session: Session, base: str) -> list[str]:
    """The work tree's files changed since `base`, asked of git once per command (the
    documents and the automation's approvers both need them: 3 git processes each)."""
    key = f"changes@{base}"
    found = session.memo.get(key)
    if not isinstance(found, list):
        found = session.memo[key] = session.changes.since(base)
    return found


def _refuse_foreign_audit(session: Session, base: str, documents: list[Document]) -> None:
    """A change under audit/ that the runner did not commit (a pull request forging events) fails."""
    from remediate.service.verify import foreign_changes_since

    runner = build_repository(documents).settings.runner_trust
    found = foreign_changes_since(session.store, base, runner)
    if found:
        raise DocumentsInvalid([Problem("audit/", 0, "", p) for p in found])


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
    policies: PolicySet | None = None,
) -> Context:
    """The decision context of `request` (None: one with no requester and no approvals);
    with `policies`, its executions only those their rate limits count."""
    state = history.states.get(request.name) if request is not None else None
    requesters: tuple[str, ...] = ()
    if request is not None:
        by_file = history.requesters.get(request.file, ()) if request.file else ()
        requesters = requesters_of(state.requester if state else None, by_file)
    action = repo.action_types.get(request.action_type) if request is not None else None
    action_hash = action.content_hash if action is not None else None
    approvals = state.approvals_for(request.content_hash, action_hash) if state and request else ()
    since = counted_since(policies, now) if policies is not None else None
    return decision_context(
        now, directory, repo.settings, requesters, approvals, history.executions(since)
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
    shared = context_for(repo, directory, history, None, now, policies)
    recorded = _recorded_any(history)
    for request in chosen:
        state = history.states.get(request.name)
        if state is not None and state.status not in NOT_STARTED:
            out.append(Planned(_recorded(request, state.status), request, recorded=True))
            continue
        context = shared
        if recorded:
            context = context_for(repo, directory, history, request, now, policies)
            if context.requester is None and not context.approvals:
                context = shared
        out.append(Planned(evaluate(request, policies, context), request))
    return tuple(out)


def _recorded_any(history: History) -> bool:
    """May the audit record a requester or approvals of some request? On a checkpoint, yes
    (counting its requests or files would read every bucket; a context built for a request
    with nothing recorded is the shared one, so a yes changes no decision)."""
    from remediate.core.snapshot import Layered

    if isinstance(history.states, Layered):
        return True
    return bool(history.requesters) or bool(history.states)


def _recorded(request: Request, status: str) -> Decision:
    return Decision(
        request_id=request.name,
        status=status,
        detail=f"Already started: the audit records {status}; plan does not decide it again.",
    )


def plan(
    session: Session, now: datetime, base: str | None = None, history: History | None = None
) -> PlanReport:
    """Decisions for all requests, or those added or changed since `base`, as of `now`."""
    documents = load_for_plan(session, base)
    repo = build_repository(documents)
    policies = compile_repository(repo)
    entries = decide_all(repo, policies, now, history or History())
    automation = _automation(session, base, repo) if base is not None else ()
    warnings = _differs_from_tip(session) if base is None else ()
    return PlanReport(now, base, entries, automation, warnings)


def _differs_from_tip(session: Session) -> tuple[str, ...]:
    """Plan reads the working tree (a preview); say where it differs from the tip that
    `apply` and the verbs read, so nobody takes the preview for what will run."""
    from remediate.errors import RemediateError

    commits = session.commits
    if commits is None:
        return ()
    try:
        tip = commits.tip()
        files = commits.differs(tip[1]) if tip is not None else []
    except RemediateError:
        return ()
    if tip is None or not files:
        return ()
    return (
        f"the working tree differs from {tip[0]} ({tip[1][:12]}), which apply and the verbs "
        f"read: {', '.join(files)}; this plan shows the working tree",
    )


def _automation(session: Session, base: str, repo: Repository) -> tuple[Automation, ...]:
    """The changed files of the automation itself, each with the admins who may approve
    it: those of the base's settings (a change cannot make its own approvers)."""
    from remediate.core.automation import is_automation

    changed = [f for f in _changed_since(session, base) if is_automation(f)]
    if not changed:
        return ()
    admins = _base_admins(session, base)
    approvers = admins if admins is not None else repo.settings.admins
    return tuple(Automation(f, approvers) for f in changed)


def _base_admins(session: Session, base: str) -> tuple[str, ...] | None:
    from remediate.core.automation import SETTINGS_FILES

    commits = session.commits
    if commits is None:
        return None
    blobs = commits.blobs(base)
    for path in SETTINGS_FILES:
        if path in blobs:
            found = [d for d in commits.documents_of(path, blobs[path]) if d.kind == "Settings"]
            return build_repository(found).settings.admins if found else None
    return None


def find_request(repo: Repository, request_id: str) -> Request:
    request = repo.requests.get(request_id)
    if request is None:
        raise UserError(f"no request named {request_id!r} in remediations/")
    return request
