"""What every state-changing command starts from: documents, policies, identities, the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from remediate.core.audit import RequestState
from remediate.core.authorship import RunnerTrust
from remediate.core.automation import Trusted
from remediate.core.commits import Person
from remediate.core.decision import Context, Decision, decision_context, requesters_of
from remediate.core.identity import Directory
from remediate.core.model import Repository, Request, build_repository
from remediate.core.schedules import REQUESTER_LABEL, with_fired
from remediate.core.snapshot import AuditSnapshot
from remediate.errors import UserError
from remediate.service.ports import CommitDocuments, Store
from remediate.service.session import Session


@dataclass
class Runtime:
    session: Session
    repository: Repository
    policies: Any  # core.policy.PolicySet
    directory: Directory
    requesters: Mapping[str, tuple[str, ...]]  # file → who added it (and who moved it there)
    now: datetime
    rev: str | None = None  # the commit the documents were read from (None: no commit yet)
    warnings: tuple[str, ...] = ()  # what was ignored: local edits, held-back versions
    fingerprint: str = ""  # of the documents at `rev` (`CommitDocuments.fingerprint`)

    @property
    def root(self) -> Path:
        return self.session.root

    @property
    def store(self) -> Store:
        return self.session.store

    @property
    def runner(self) -> Person:
        s = self.repository.settings
        return Person(s.runner_name, s.runner_email)

    @property
    def trust(self) -> RunnerTrust:
        """What makes a commit the runner's: its identities and signing keys."""
        return self.repository.settings.runner_trust

    def requester(self, request: Request, state: RequestState | None = None) -> str | None:
        """Who requested it: as the audit recorded it, else who added its file (git)."""
        found = self.requesters_of(request, state)
        return found[0] if found else None

    def requesters_of(self, request: Request, state: RequestState | None) -> tuple[str, ...]:
        by_file = self.requesters.get(request.file, ()) if request.file else ()
        if request.file is None:  # fired by a schedule: who added the schedule asked for it
            by_file = tuple(v for k, v in request.labels.items() if k == REQUESTER_LABEL)
        return requesters_of(state.requester if state is not None else None, by_file)

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
        return decision_context(
            self.now,
            self.directory,
            self.repository.settings,
            self.requesters_of(request, state),
            (*state.approvals_for(request.content_hash, self.action_hash(request)), *extra),
            executions or (),
        )

    @property
    def counted_since(self) -> datetime:
        """The earliest execution start a rate limit counts now: what a decision's
        `executions` must hold (`AuditSnapshot.executions(since)`)."""
        from remediate.core.ratelimit import counted_since

        return counted_since(self.policies, self.now)

    def action_hash(self, request: Request) -> str | None:
        """The content hash of the request's ActionType (None: it is not defined)."""
        action = self.repository.action_types.get(request.action_type)
        return action.content_hash if action is not None else None

    def edited(self, request: Request, state: RequestState) -> str | None:
        """What changed since the request's last decision: `request`, `actionType`, or None."""
        if state.content_hash not in (None, request.content_hash):
            return "request"
        if state.action_hash not in (None, self.action_hash(request)):
            return "actionType"
        return None

    def evaluate(self, request: Request, context: Context) -> Decision:
        from remediate.core.policy import evaluate

        decision: Decision = evaluate(request, self.policies, context)
        return decision

    def request(self, request_id: str) -> Request:
        found = self.repository.requests.get(request_id)
        if found is None:
            at = (
                f" at the fetched tip {self.rev[:12]} (commit and push it first)"
                if self.rev
                else ""
            )
            raise UserError(f"no request named {request_id!r} in this repository{at}")
        return found

    def at(self, rev: str | None) -> Runtime:
        """This runtime with the documents of commit `rev` (itself when they are the same):
        what a claim made on `rev` is decided against."""
        commits = self.session.commits
        if rev is None or rev == self.rev or commits is None or self.rev is None:
            return self
        found = self._at.get(rev)
        if found is None:
            if commits.fingerprint(rev) == self.fingerprint:
                found = self
            else:
                found = _load_at(self.session, commits, rev, (), self.now)[0]
            self._at[rev] = found
        return found

    @cached_property
    def _at(self) -> dict[str, Runtime]:
        return {}


def load(session: Session, keep: tuple[str, ...] = ()) -> Runtime:
    """Documents (fail closed), policies, the directory and the store of the session.

    Every document is read from the fetched tip (`service.at_commit`), never from the
    working tree; what differs there is named in a warning and ignored. Request files
    whose requests the runner's checkpoint recorded as settled, and whose blobs are
    unchanged, are not parsed (unless they declare a request in `keep`): they can change
    nothing. Everything else is (new and unsettled requests, settings, action types,
    policies), and fails closed."""
    from remediate.core import checkpoint as cp
    from remediate.service import at_commit

    store = session.store
    local = store.resolve(cp.REF)  # this clone's checkpoint, before the fetch replaces it
    store.target_branch(_work_tree_base(session))
    tip = store.fetch()
    commits = session.commits
    if tip is None or commits is None:  # nothing committed yet: nothing is shared either
        return _load_work_tree(session, keep)
    known = at_commit.recorded(store, commits, tip)
    chosen = at_commit.trusted(commits, tip, known)
    settings = at_commit.settings_at(commits, tip, chosen)
    if where(session, settings.base_branch, settings.runner_trust):
        tip = store.fetch()  # the tip's settings name another base branch: theirs counts
        if tip is None:
            return _load_work_tree(session, keep)
        chosen = at_commit.trusted(commits, tip, known)
    return _load_at(session, commits, tip, keep, session.clock.now(), local, chosen)[0]


def _work_tree_base(session: Session) -> str:
    """The base branch to fetch first: the working tree's settings say (default main);
    the fetched tip's settings then have the last word (`load`)."""
    from remediate.errors import RemediateError

    try:
        return build_repository(session.documents.load_paths(())).settings.base_branch
    except RemediateError:
        return "main"


def _load_at(
    session: Session,
    commits: CommitDocuments,
    tip: str,
    keep: tuple[str, ...],
    now: datetime,
    local: str | None = None,
    chosen: Trusted | None = None,
) -> tuple[Runtime, AuditSnapshot]:
    from remediate.service import at_commit, checkpoint
    from remediate.service.audit_log import AUTOMATION, READ_FILES, TRUST, read
    from remediate.service.plan import compile_repository
    from remediate.service.verify import require_runner_only

    store = session.store
    if chosen is None:
        chosen = at_commit.trusted(commits, tip, session.memo.get(AUTOMATION))
    if chosen.record is not None:
        session.memo[AUTOMATION] = (tip, chosen.record)  # what the checkpoint records
    runner = session.memo[TRUST] = at_commit.settings_at(commits, tip, chosen).runner_trust
    before = checkpoint.stored(store, runner, local) if local else None
    refuse_rewritten(store, tip, runner, before)
    snap = read(store, tip, runner)
    found = at_commit.documents(commits, tip, checkpoint.settled(checkpoint.of(snap), keep), chosen)
    require_runner_only(store, tip, runner, since=snap.base)
    # Admins' approvals of merged pull requests (the `vouches` stream), trusted now that
    # the guard found every audit file a runner commit's: they may bring held-back
    # versions into force, and with new settings, another runner (judged again).
    vouched = _vouched(commits, tip, snap, chosen)
    if vouched is not None:
        session.memo[AUTOMATION] = (tip, vouched.record)
    if vouched is not None and (vouched.use, vouched.held) != (chosen.use, chosen.held):
        chosen = vouched
        again = at_commit.settings_at(commits, tip, chosen).runner_trust
        if again != runner:
            runner = session.memo[TRUST] = again
            snap = read(store, tip, runner)
            require_runner_only(store, tip, runner, since=snap.base)
        settled = checkpoint.settled(checkpoint.of(snap), keep)
        found = at_commit.documents(commits, tip, settled, chosen)
    session.memo[READ_FILES] = found.report.read
    warnings = list(found.warnings)
    repository = with_fired(build_repository(found.report.documents), snap, warnings)
    return Runtime(
        session=session,
        repository=repository,
        policies=compile_repository(repository),
        directory=(session.people or Directory.from_settings)(repository.settings),
        requesters=checkpoint.requesters(store, tip, checkpoint.of(snap)),
        now=now,
        rev=tip,
        warnings=tuple(warnings),
        fingerprint=commits.fingerprint(tip),
    ), snap


def _vouched(
    commits: CommitDocuments, tip: str, snap: AuditSnapshot, chosen: Trusted
) -> Trusted | None:
    """The automation in force with the audit's vouches counted (`core.automation.Vouch`),
    when its record differs from `chosen`'s (made without them, or from a record that saw
    fewer); else None."""
    from remediate.core.automation import VOUCHES, vouches_of
    from remediate.service import at_commit

    vouches = vouches_of(snap.stream(VOUCHES).values())
    if not vouches:
        return None
    record = chosen.record
    if record is None:
        again = at_commit.trusted(commits, tip, None, vouches)
    else:  # reads back only to the oldest commit a vouch the record did not see names
        again = at_commit.revouched(commits, tip, record, vouches)
    return None if again.record == record else again


def _load_work_tree(session: Session, keep: tuple[str, ...]) -> Runtime:
    """Before the first commit: the working tree (there is no tip to read, or to share)."""
    from remediate.service import checkpoint
    from remediate.service.audit_log import READ_FILES, read
    from remediate.service.plan import compile_repository

    settings = build_repository(session.documents.load_paths(())).settings
    store = session.store
    where(session, settings.base_branch, settings.runner_trust)
    snap = read(store, None, settings.runner_trust)
    report = session.documents.load_report(checkpoint.settled(checkpoint.of(snap), keep))
    session.memo[READ_FILES] = report.read
    repository = with_fired(build_repository(report.documents), snap)
    return Runtime(
        session=session,
        repository=repository,
        policies=compile_repository(repository),
        directory=(session.people or Directory.from_settings)(repository.settings),
        requesters={},
        now=session.clock.now(),
    )


def where(session: Session, branch: str, runner: RunnerTrust) -> bool:
    """Aim the store at `<remote>/<branch>` whatever is checked out (True: it was aimed
    at another branch, fetch again); with signing keys in the settings, sign every
    commit (refused before anything runs without a key); with no remote at all, say once
    that the runner works on the local repository."""
    store = session.store
    moved = store.target_branch(branch)
    if runner.signing:
        store.sign_commits()
    if not store.has_upstream:
        session.warn(
            "this repository has no remote: claims and events are committed to the local "
            "repository only, so runners in other clones do not see them"
        )
    return moved


def refuse_rewritten(
    store: Store, tip: str | None, runner: RunnerTrust | str, before: Any = None
) -> None:
    """Refuse a branch that no longer holds the runner's last audit commit, which its
    checkpoint names (the remote's, and `before`: this clone's before the fetch replaced
    it, so a checkpoint ref forced back with the branch is caught too): the history was
    rewritten, and claims and events the runner relied on may be gone."""
    from remediate.service.checkpoint import stored

    for found in (before, stored(store, runner)):
        if found is None or tip is None or store.is_ancestor(found.commit, tip):
            continue
        raise UserError(
            f"the branch no longer contains commit {found.commit[:12]}, the runner's last "
            f"audit commit, which its checkpoint ({found.sha[:12]}) names: its history was "
            "rewritten, so events the runner recorded may be gone; nothing was done. "
            "Restore the branch (push that commit back), or, once `remediate audit verify` "
            "is clean, delete refs/remediate/checkpoint on the remote and in this clone"
        )


def acting_identity(session: Session) -> str:
    """Who acts: the GitHub event's user inside Actions, else `git config user.email`."""
    found = actor_or_none(session)
    if not found:
        raise UserError(
            "no acting identity: set `git config user.email` (inside GitHub Actions the "
            "event's user is used)"
        )
    return found


def actor_or_none(session: Session) -> str | None:
    return session.env.github_actor() or session.store.user_email()


def person(identity: str, store: Store | None = None) -> Person:
    """The commit author for an identity: git's user.name when it is the git user."""
    name = None
    if store is not None and store.user_email() == identity:
        name = store.user_name()
    return Person(
        name or identity.split("@")[0] or identity,
        identity if "@" in identity else f"{identity}@users.noreply.github.com",
    )


def decision_details(
    decision: Decision,
    content_hash: str,
    verb: str,
    requester: str | None = None,
    action_hash: str | None = None,
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
    if action_hash:
        body["actionHash"] = action_hash
    if decision.overridden:
        body["overridden"] = [v.message for v in decision.overridden]
    if requester:
        body["requester"] = requester
    return body
