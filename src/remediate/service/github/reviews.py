"""`pull_request_review` submitted: which reviews approve the pull request's head commit.

A review counts when it is the reviewer's latest deciding review (APPROVED, or a later
CHANGES_REQUESTED or DISMISSED that withdraws it; COMMENTED changes nothing), it was
given on the head commit (`commit_id`), its author is not a bot and not the pull
request's author, RBAC names the login as an operator or admin (directly, through
`people`, or as an active member of `team:<slug>`, read from the API) and the login has
write permission on the repository now. Every page of reviews is read.

What this does not do yet: record the counted reviews as approvals in the audit (through
`service.verbs`), so that the requests run after the merge. The comment and the status
show who counts; approving still takes `remediate approve` after the merge.
"""

from __future__ import annotations

from collections.abc import Iterable

from remediate.core.forge import Review, may_write
from remediate.core.identity import Directory
from remediate.core.model import Settings, build_repository
from remediate.service.github import GitHubRun, Outcome
from remediate.service.github.pulls import Review as Counted
from remediate.service.github.pulls import Target, from_event, refresh
from remediate.service.ports import Forge

DECIDING = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")


def latest(reviews: Iterable[Review]) -> dict[str, Review]:
    """Each reviewer's latest deciding review, by login (case-insensitive), in order."""
    out: dict[str, Review] = {}
    for review in reviews:
        if review.state in DECIDING and review.login:
            out[review.login.casefold()] = review
    return out


def team_slugs(settings: Settings) -> list[str]:
    named = (*settings.admins, *settings.operators)
    return sorted({p[5:].casefold() for p in named if p.startswith("team:")})


def directory(settings: Settings, forge: Forge, logins: Iterable[str]) -> Directory:
    """RBAC with the GitHub teams, for `logins`: membership read from the API."""
    slugs = team_slugs(settings)
    members: dict[str, list[str]] = {slug: [] for slug in slugs}
    for login in sorted(set(logins)):
        for slug in slugs:
            if forge.team_member(slug, login):
                members[slug].append(login)
    return Directory.from_settings(settings, members)


def judge(
    reviews: Iterable[Review], author: str, head: str, settings: Settings, forge: Forge
) -> Counted:
    chosen = latest(reviews)
    approving = [r for r in chosen.values() if r.state == "APPROVED"]
    candidates = [
        r.login for r in approving if not r.bot and r.commit_id == head and r.login != author
    ]
    people = directory(settings, forge, candidates)
    counted: list[str] = []
    ignored: list[tuple[str, str]] = []
    admin = False
    for r in approving:
        why = _why_not(r, author, head, people)
        if why is None and not may_write(forge.permission(r.login)):
            why = "has no write permission on the repository"
        if why is not None:
            ignored.append((r.login, why))
            continue
        counted.append(r.login)
        admin = admin or people.is_admin(r.login)
    return Counted(tuple(counted), tuple(ignored), admin)


def _why_not(r: Review, author: str, head: str, people: Directory) -> str | None:
    if r.bot:
        return "a bot account never approves"
    if people.same_person(r.login, author) or r.login.casefold() == author.casefold():
        return "the pull request's author never approves it"
    if r.commit_id != head:
        return f"approved an older commit ({(r.commit_id or '?')[:12]}), not the head"
    if not people.is_operator(r.login):
        return "not an operator or admin (Settings rbac)"
    return None


def on_review(github: GitHubRun) -> Outcome:
    target: Target = from_event(github.event)
    pr = target.pull
    github.heads.fetch(f"refs/heads/{pr.base_ref}", target.base_sha)
    github.heads.fetch(f"refs/pull/{pr.number}/head", pr.head_sha)
    base = github.heads.documents(automation=target.base_sha, requests=target.base_sha)
    settings = build_repository(base.load_paths(())).settings
    counted = judge(github.forge.reviews(pr.number), pr.author, pr.head_sha, settings, github.forge)
    out = refresh(github, target, counted)
    out.body["reviews"] = {
        "counted": list(counted.counted),
        "ignored": [{"login": login, "reason": why} for login, why in counted.ignored],
        "adminApproved": counted.admin_approved,
    }
    out.lines.append(
        f"reviews at {pr.head_sha[:12]} that count: {', '.join(counted.counted) or 'none'}"
    )
    out.lines += [f"not counted: {login}: {why}" for login, why in counted.ignored]
    return out
