"""`pull_request_review` submitted: which reviews approve the pull request's head commit.

A review counts when it is the reviewer's latest deciding review (APPROVED, or a later
CHANGES_REQUESTED or DISMISSED that withdraws it; COMMENTED changes nothing), it was
given on the head commit (`commit_id`), its author is not a bot and not the pull
request's author, RBAC names the login as an operator or admin (directly, through
`people`, or as an active member of `team:<slug>`, read from the API) and the login has
write permission on the repository now. Every page of reviews is read.

The review event only shows who counts (comment and status); the approvals are recorded
when they are used: after the merge, on the push (`merged`), where authorization is read
from the API again and the verbs check the requester and the content.
"""

from __future__ import annotations

from collections.abc import Iterable

from remediate.core.automation import TEAM, Voucher
from remediate.core.forge import Review, may_write
from remediate.core.identity import Directory
from remediate.core.model import Settings, build_repository
from remediate.service.github import GitHubRun, Outcome, authorize
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


def judge(
    reviews: Iterable[Review],
    author: str,
    head: str,
    settings: Settings,
    forge: Forge,
    slugs: Iterable[str],
) -> Counted:
    """Which reviewers' latest reviews approve `head`, and why the others do not count."""
    chosen = latest(reviews)
    approving = [r for r in chosen.values() if r.state == "APPROVED"]
    plain = Directory.from_settings(settings)
    candidates = [r.login for r in approving if _why_not(r, author, head, plain, False) is None]
    perms = authorize.permissions(forge, candidates)
    people = authorize.directory(settings, forge, candidates, slugs, perms)
    counted: list[str] = []
    ignored: list[tuple[str, str]] = []
    admins: list[Voucher] = []
    for r in approving:
        why = _why_not(r, author, head, people, False)
        if why is None and not may_write(perms.get(r.login)):
            why = "has no write permission on the repository"
        if why is None:
            why = _why_not(r, author, head, people, True)
        if why is not None:
            ignored.append((r.login, why))
            continue
        counted.append(r.login)
        admin = _admin(r.login, people, plain)
        if admin is not None:
            admins.append(admin)
    return Counted(
        tuple(counted), tuple(ignored), bool(admins), tuple(a.who for a in admins), tuple(admins)
    )


def _admin(login: str, people: Directory, plain: Directory) -> Voucher | None:
    """`login` as the voucher the runner judges again later, without the API: itself when
    the settings name it (directly or through `people`), else with the first `team:<slug>`
    admin rule the API showed it a member of (and a writer); None: not an admin."""
    if not people.is_admin(login):
        return None
    if plain.is_admin(login):
        return Voucher(login)
    for rule in people.admins:
        if rule.startswith(TEAM) and people.matches(login, rule):
            return Voucher(login, rule.casefold())
    return None


def _why_not(r: Review, author: str, head: str, people: Directory, roles: bool) -> str | None:
    if r.bot:
        return "a bot account never approves"
    if people.same_person(r.login, author) or r.login.casefold() == author.casefold():
        return "the pull request's author never approves it"
    if r.commit_id != head:
        return f"approved an older commit ({(r.commit_id or '?')[:12]}), not the head"
    if roles and not people.is_operator(r.login):
        return "not an operator or admin (Settings rbac)"
    return None


def on_review(github: GitHubRun) -> Outcome:
    target: Target = from_event(github.event)
    pr = target.pull
    github.heads.fetch(f"refs/heads/{pr.base_ref}", target.base_sha)
    github.heads.fetch(f"refs/pull/{pr.number}/head", pr.head_sha)
    base = github.heads.documents(automation=target.base_sha, requests=target.base_sha)
    documents = base.load_paths(())
    settings = build_repository(documents).settings
    counted = judge(
        github.forge.reviews(pr.number),
        pr.author,
        pr.head_sha,
        settings,
        github.forge,
        authorize.team_slugs(documents),
    )
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
