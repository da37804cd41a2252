"""What every state-changing command starts from: documents, policies, identities, the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from remediate.adapters import environment
from remediate.adapters.git_store import GitStore, Person
from remediate.core.audit import RequestState
from remediate.core.decision import Context, Decision
from remediate.core.identity import Directory
from remediate.core.model import Repository, Request, build_repository
from remediate.errors import UserError
from remediate.service.validate import load_valid


@dataclass
class Runtime:
    root: Path
    repository: Repository
    policies: Any  # core.policy.PolicySet
    directory: Directory
    store: GitStore
    requesters: dict[str, tuple[str, ...]]  # file → who added it (and who moved it there)
    now: datetime

    @property
    def runner(self) -> Person:
        s = self.repository.settings
        return Person(s.runner_name, s.runner_email)

    def requester(self, request: Request, state: RequestState | None = None) -> str | None:
        """Who requested it: as the audit recorded it, else who added its file (git)."""
        found = self.requesters_of(request, state)
        return found[0] if found else None

    def requesters_of(self, request: Request, state: RequestState | None) -> tuple[str, ...]:
        """Everyone whose approval never counts: the recorded requester when there is one;
        else both who added the request's content and who added its current path (a move
        must not make the mover, or anyone else, the requester of an unrecorded request)."""
        if state is not None and state.requester:
            return (state.requester,)
        return self.requesters.get(request.file, ()) if request.file else ()

    def is_requester(self, actor: str, request: Request, state: RequestState | None) -> bool:
        same = self.directory.same_person
        return any(same(actor, who) for who in self.requesters_of(request, state))

    def context(
        self,
        request: Request,
        state: RequestState,
        extra: tuple[Any, ...] = (),
        executions: tuple[Any, ...] | None = None,
    ) -> Context:
        settings = self.repository.settings
        requester, *others = self.requesters_of(request, state) or (None,)
        approvals = tuple(  # the policy engine drops the requester's; drop the mover's too
            a
            for a in (*state.approvals_for(request.content_hash), *extra)
            if not any(self.directory.same_person(a.by, who) for who in others)
        )
        return Context(
            now=self.now,
            directory=self.directory,
            requester=requester,
            approvals=approvals,
            executions=executions if executions is not None else (),
            default_decision=settings.default_decision,
            default_approvals=settings.default_approvals,
        )

    def evaluate(self, request: Request, context: Context) -> Decision:
        from remediate.core.policy import evaluate

        decision: Decision = evaluate(request, self.policies, context)
        return decision

    def request(self, request_id: str) -> Request:
        found = self.repository.requests.get(request_id)
        if found is None:
            raise UserError(f"no request named {request_id!r} in this repository")
        return found


def load(root: Path) -> Runtime:
    """Documents (fail closed), policies, the directory and the git store of `root`."""
    from remediate.core.policy import compile_policies

    if not root.is_dir():
        from remediate.errors import UsageError

        raise UsageError(f"--repo {root}: not a directory")
    repository = build_repository(load_valid(root))
    store = GitStore(root)
    from remediate.service.verify import require_runner_only

    require_runner_only(store, store.fetch(), repository.settings.runner_email)
    return Runtime(
        root=root,
        repository=repository,
        policies=_compile(compile_policies, repository),
        directory=Directory.from_settings(repository.settings),
        store=store,
        requesters=store.requesters(),
        now=environment.now(),
    )


def _compile(compile_policies: Any, repository: Repository) -> Any:
    try:
        return compile_policies(repository.policies)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def acting_identity(store: GitStore) -> str:
    """Who acts: the GitHub event's user inside Actions, else `git config user.email`."""
    found = environment.github_actor() or store.user_email()
    if not found:
        raise UserError(
            "no acting identity: set `git config user.email` (inside GitHub Actions the "
            "event's user is used)"
        )
    return found


def person(identity: str, store: GitStore | None = None) -> Person:
    """The commit author for an identity: git's user.name when it is the git user."""
    name = None
    if store is not None and store.user_email() == identity:
        name = store.user_name()
    return Person(
        name or identity.split("@")[0] or identity,
        identity if "@" in identity else f"{identity}@users.noreply.github.com",
    )


def decision_details(
    decision: Decision, content_hash: str, verb: str, requester: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "verb": verb,
        "contentHash": content_hash,
        "detail": decision.detail,
        "violations": [v.message for v in decision.violations],
        "policies": list(decision.policies),
        "rules": list(decision.rules),
        "approvalsRequired": decision.approvals_required,
    }
    if decision.overridden:
        body["overridden"] = [v.message for v in decision.overridden]
    if requester:
        body["requester"] = requester
    return body
