"""`push` to the base branch, `schedule`, `workflow_dispatch`: `apply`, with the approvals
given on the merged pull requests, then each request reported on the pull request that
added it.

For every pull request merged by the pushed commits (`git rev-list before..after`, not the
event's bounded list) or by a commit of the base branch's first-parent line since the
runner's checkpoint (a push whose run a newer one replaced: `to_look_up`), as
`GET /commits/{sha}/pulls` names them, the reviews that approve its last head commit
(`reviews.judge`: latest per reviewer, on the head commit, not the author, not a bot,
RBAC and write permission read now) approve its
requests through `service.verbs.approve`, as each reviewer — but only a request whose
content on the base branch is exactly the head commit's (a merge that changed it voids
them). Authorization is read from the API when the approval is used, here, not taken
from the time of the review; the verbs then check the requester (from the base branch's
history) and the request's state as for anyone.

Sequence: for a merged pull request changing the automation itself, its admins' approval
recorded (`vouch`: what makes those changes count), `apply` (decides the new requests:
PENDING_APPROVAL), the approvals, `apply`
again if any approval was recorded (runs what they queued), then one result comment per
pull request (marked `<!-- remediate:result <sha> -->`, found and edited on a re-run).

The runner's own pushes (every commit committed by the runner's identity) are ignored,
so a token whose pushes start workflows does not loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from remediate.core import lifecycle as lc
from remediate.core.forge import PullRequest, Review, is_automation
from remediate.core.model import Request, Settings, build_repository
from remediate.documents.loader import YAML_SUFFIXES
from remediate.errors import UserError
from remediate.service.github import GitHubRun, Outcome, authorize
from remediate.service.github.authorize import ActingAs
from remediate.service.github.reviews import judge
from remediate.service.github.sticky import upsert
from remediate.service.markdown import COMMENT_LIMIT, cell
from remediate.service.session import Session


@dataclass
class _Merged:
    pull: PullRequest
    requests: dict[str, str] = field(default_factory=dict)  # name → content hash at head
    counted: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    automation: dict[str, str | None] = field(default_factory=dict)  # path → blob at head
    # (None: the head deletes it)
    reviews: list[Review] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)  # the pushed commits of this merge
    vouched: tuple[str, ...] = ()  # admins whose approval makes its automation changes count


def base_branch(settings: Settings) -> str:
    return str(settings.forge.get("baseBranch") or "main")


def on_push(github: GitHubRun) -> Outcome:
    event = github.event
    settings = build_repository(github.session.documents.load_paths(())).settings
    ref = event.get("ref")
    if ref != f"refs/heads/{base_branch(settings)}":
        return Outcome(
            lines=[f"remediate github: a push to {ref!s}, not the base branch: nothing to do"],
            body={"event": "push", "handled": False},
        )
    commits = [c for c in event.get("commits") or () if isinstance(c, dict)]
    runner = settings.runner_email.casefold()
    if commits and all(
        str((c.get("committer") or {}).get("email", "")).casefold() == runner for c in commits
    ):
        return Outcome(
            lines=["remediate github: the runner's own push: nothing to do"],
            body={"event": "push", "handled": False},
        )
    listed = [str(c.get("id")) for c in commits if c.get("id")]
    after = str(event.get("after") or "")
    if after and after not in listed:
        listed.append(after)
    return run_apply(github, Push(str(event.get("before") or ""), after, tuple(listed)))


@dataclass(frozen=True)
class Push:
    """What a push event says was pushed: the old and new tips, the commits it lists."""

    before: str
    after: str
    listed: tuple[str, ...]


def on_schedule(github: GitHubRun) -> Outcome:
    """`tick` (the schedules that are due fire, once each), then `apply` (which decides
    and runs the requests the fires recorded)."""
    from remediate.service.tick import tick

    ticked = tick(github.session)
    out = run_apply(replace(github, session=replace(github.session, memo={})), None)
    out.lines[:0] = [f"remediate github: {github.event_name}: tick, then apply", *ticked.lines()]
    out.body["tick"] = ticked.as_json()
    if ticked.failed:
        out.code = 1
    return out


def run_apply(github: GitHubRun, push: Push | None) -> Outcome:
    """Vouch, apply, approve, apply, report, for the pull requests merged by the commits
    of `push` (None: no push, a schedule or a dispatch) and by every commit of the base
    branch's first-parent line since the runner's checkpoint (`to_look_up`)."""
    from remediate.service.apply.pipeline import apply

    session = github.session
    documents = session.documents.load_paths(())
    settings = build_repository(documents).settings
    slugs = authorize.team_slugs(documents)
    tip = session.store.fetch()
    shas, notes = to_look_up(github, settings, push, tip)
    merged = _merged_pulls(github, shas, settings, slugs)
    approvers = recorded_approvers(session, tip)
    who = sorted({*approvers, *(login for m in merged for login in m.counted)})
    session = replace(session, people=authorize.people(github.forge, who, slugs))
    actor = session.env.github_actor()
    out = Outcome(body={"event": github.event_name}, lines=notes)
    if any(m.automation for m in merged):
        from remediate.service.github.vouch import vouch

        vouch(github, session, merged, slugs, out)
        session = replace(session, memo={})
    first = apply(session, actor)
    reports = [first]
    recorded = _approve(github, session, merged, out)
    if recorded:
        reports.append(apply(replace(session, memo={}), actor))
    states = _states(session)
    for m in merged:
        _report(github, m, states, out)
    executed = [pair for r in reports for pair in r.executed]
    out.lines += [f"{name}: {status}" for name, status in executed]
    out.code = 1 if any(r.failed for r in reports) else 0
    out.body.update(
        apply=[r.as_json() for r in reports],
        pullRequests=[
            {
                "number": m.pull.number,
                "requests": sorted(m.requests),
                "approvedBy": list(m.counted),
                "automation": sorted(m.automation),
                "automationApprovedBy": list(m.vouched),
                "notes": m.notes,
            }
            for m in merged
        ],
    )
    return out


MAX_LOOKUPS = 100  # commits whose pull requests one run asks for (one REST call each)


def to_look_up(
    github: GitHubRun, settings: Settings, push: Push | None, tip: str | None
) -> tuple[list[str], list[str]]:
    """The commits whose merged pull requests this run handles, and what it says of them.

    The pushed ones: `git rev-list before..after` (GitHub's push event lists at most a
    few; the first-parent line and what its merges brought), else the event's list. Then
    every commit of the base branch's first-parent line from the runner's checkpoint to
    the fetched `tip` (GitHub keeps one pending run per concurrency group: a push whose run
    a newer one replaced, or one that landed while the previous run read the branch, is
    handled here; the checkpoint is where the previous run read the branch). The runner's
    own commits merge nothing. At most `MAX_LOOKUPS`, first-parent commits first."""
    from remediate.service import checkpoint

    trust = settings.runner_trust
    mine = trust.identities
    span = github.heads.between(push.before, push.after) if push and push.before else None
    pushed: dict[str, bool] = {}  # sha → on the first-parent line; oldest first
    if span is not None:
        pushed = {
            c.sha: c.first_parent for c in reversed(span) if c.committer.casefold() not in mine
        }
    elif push is not None:
        pushed = dict.fromkeys(push.listed, True)
    base = checkpoint.find(github.session.store, tip, trust)  # the runner's, of tip's history
    if base is not None and tip is not None:
        for c in reversed(github.heads.between(base.commit, tip) or ()):
            if c.first_parent and c.committer.casefold() not in mine:
                pushed.setdefault(c.sha, True)
    order = sorted(pushed, key=lambda sha: not pushed[sha])  # stable: first-parent first
    notes = []
    if len(order) > MAX_LOOKUPS:
        notes.append(
            f"remediate github: {len(order)} commits to look up merged pull requests of; "
            f"only the first {MAX_LOOKUPS} are"
        )
    return order[:MAX_LOOKUPS], notes


def _merged_pulls(
    github: GitHubRun, shas: Iterable[str], settings: Settings, slugs: Sequence[str]
) -> list[_Merged]:
    seen: dict[int, _Merged] = {}
    for sha in shas:
        for pull in github.forge.pulls_of_commit(sha):
            if not pull.merged or pull.base_ref != base_branch(settings):
                continue
            if pull.number not in seen:
                seen[pull.number] = _one(github, pull, settings, slugs)
            seen[pull.number].commits.append(sha)
    return list(seen.values())


def _one(github: GitHubRun, pull: PullRequest, settings: Settings, slugs: Sequence[str]) -> _Merged:
    found = _Merged(pull)
    heads = github.heads
    heads.fetch(f"refs/pull/{pull.number}/head", pull.head_sha)
    base = pull.base_sha or pull.merge_commit_sha or ""
    changed = heads.changed(base, pull.head_sha)
    deleted = [f for f in heads.deleted(base, pull.head_sha) if is_automation(f)]
    automation = sorted([*(f for f in changed if is_automation(f)), *deleted])
    if automation and github.session.commits is not None:
        blobs = github.session.commits.blobs(pull.head_sha)
        found.automation = {f: blobs.get(f) for f in automation}
    files = [f for f in changed if f.endswith(YAML_SUFFIXES)]
    files = [f for f in files if f.startswith("remediations/")]
    if found.automation:
        found.reviews = list(github.forge.reviews(pull.number))
    if not files:
        return found
    docs = heads.documents(automation=pull.merge_commit_sha or base, requests=pull.head_sha)
    try:
        at_head = build_repository(docs.load_paths([str(docs.root / f) for f in files]))
    except UserError as exc:
        found.notes.append(f"its documents at the head commit do not load: {exc}")
        return found
    found.requests = {
        name: r.content_hash for name, r in at_head.requests.items() if r.file in files
    }
    if not found.automation:  # else read above
        found.reviews = list(github.forge.reviews(pull.number))
    verdict = judge(found.reviews, pull.author, pull.head_sha, settings, github.forge, slugs)
    found.counted = tuple(verdict.counted)
    found.notes += [f"{login} does not count: {why}" for login, why in verdict.ignored]
    return found


def recorded_approvers(session: Session, tip: str | None) -> list[str]:
    """The GitHub logins among the approvals on record (as of the fetched `tip`) for
    requests that have not started: their authorization is read again now, when the
    approval is used."""
    from remediate.service.audit_log import read

    store = session.store
    try:
        runner = build_repository(session.documents.load_paths(())).settings.runner_email
        snap = read(store, tip, runner)
    except UserError:
        return []
    return authorize.logins(
        a.by for s in snap.states.values() if not s.started for a in s.approvals
    )


def _approve(github: GitHubRun, session: Session, merged: list[_Merged], out: Outcome) -> int:
    from remediate.service.verbs import approve

    recorded = 0
    on_base = _requests_on_base(session)
    for m in merged:
        for name, content in sorted(m.requests.items()):
            here = on_base.get(name)
            if here is None or here.content_hash != content:
                m.notes.append(
                    f"{name}: its content on the base branch is not the head commit's; "
                    "the reviews do not approve it"
                )
                continue
            for login in m.counted:
                acting = replace(session, env=ActingAs(session.env, login), memo={})
                try:
                    result = approve(acting, name, None)
                except UserError as exc:
                    m.notes.append(f"{name}: approval by {login} not recorded: {exc}")
                    continue
                recorded += result.recorded
                out.lines.append(f"{name}: approved by {login} (#{m.pull.number}): {result.status}")
    return recorded


def _requests_on_base(session: Session) -> dict[str, Request]:
    try:
        return dict(build_repository(session.documents.load()).requests)
    except UserError:
        return {}


def _states(session: Session) -> Mapping[str, Any]:
    from remediate.service.audit_log import read

    store = session.store
    runner = build_repository(session.documents.load_paths(())).settings.runner_email
    return read(store, store.fetch(), runner).states


RESULT = "<!-- remediate:result {sha} -->"
SAID = {
    lc.COMPLETED: "ran: completed",
    lc.FAILED: "ran: failed",
    lc.EXECUTING: "running",
    lc.QUEUED: "queued (it runs at the next apply)",
    lc.PENDING_APPROVAL: "awaits approval",
    lc.POLICY_VIOLATION: "refused: it violates a policy",
    lc.REJECTED: "refused: rejected",
    lc.CANCELLED: "cancelled",
}


def _report(github: GitHubRun, m: _Merged, states: Mapping[str, Any], out: Outcome) -> None:
    if not m.requests and not m.notes and not m.automation:
        return
    marker = RESULT.format(sha=m.pull.merge_commit_sha or m.pull.head_sha)
    rows = []
    for name in sorted(m.requests):
        state = states.get(name)
        status = state.status if state is not None else lc.NEW
        rows.append(f"| {cell(name)} | {status} | {cell(SAID.get(status, status))} |\n")
    body = marker + "\n### remediate: after the merge\n\n"
    if rows:
        body += "| Request | Status | |\n|---|---|---|\n" + "".join(rows)
    if m.counted:
        body += "\nApproved by the reviews of: " + ", ".join(cell(x) for x in m.counted) + "\n"
    if m.automation:
        files = ", ".join(
            f"`{cell(f)}`" + (" (deleted)" if blob is None else "")
            for f, blob in sorted(m.automation.items())[:100]
        )
        body += f"\nChanges to the automation itself ({files}): " + (
            "in force, approved at the head commit by the admin(s) "
            + ", ".join(cell(x) for x in m.vouched)
            + "\n"
            if m.vouched
            else "held back: no admin approved the head commit, so the runner keeps "
            "using the earlier versions\n"
        )
    for note in m.notes[:50]:
        body += f"\n- {cell(note)}\n"
    body = body[: COMMENT_LIMIT - 100]
    upsert(github.forge, m.pull.number, body, marker)
    out.lines.append(f"#{m.pull.number}: reported {len(rows)} request(s)")
