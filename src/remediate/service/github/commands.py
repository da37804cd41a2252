"""`issue_comment` created on a pull request: the comment commands.

The comment's first line, and only it, is read: `/remediate plan`, `/remediate approve
[reason]`, `/remediate reject <reason>`, `/remediate override <reason>`. Anything else is
ignored without a call to GitHub. The command runs as the comment's author — the login
GitHub authenticated, from the event, never a name in the text — and is answered with a
reply comment (marked with the command's comment id, so a re-delivered event or a lost
reply never answers twice).

`plan` refreshes the sticky comment and the status. The verbs act, through
`service.verbs`, on the pull request's requests as the base branch holds them (a request
that is only in the open pull request has no state to change yet: approve it with a
review, which counts at the merge). Who may: an authorized person (`authorize`): not a
bot, write permission, RBAC operator or admin, and not the pull request's author; the
verbs then check the requester and the request's state as for anyone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from remediate.core.forge import may_write
from remediate.core.model import build_repository
from remediate.documents.loader import YAML_SUFFIXES
from remediate.errors import UserError
from remediate.service.github import GitHubRun, Outcome, authorize, payload
from remediate.service.github import number as event_number
from remediate.service.github.authorize import ActingAs
from remediate.service.github.merged import recorded_approvers as _recorded_approvers
from remediate.service.github.pulls import Target, refresh
from remediate.service.github.sticky import upsert
from remediate.service.markdown import cell

COMMAND = re.compile(r"/remediate[ \t]+(plan|approve|reject|override)(?:[ \t]+(.*))?", re.I)
NEEDS_REASON = ("reject", "override")
MAX_REASON = 1000  # characters of a reason kept in the audit
REPLY = "<!-- remediate:reply {id} -->"


@dataclass(frozen=True)
class Command:
    verb: str
    reason: str | None


def parse(body: str) -> Command | None:
    """The command on the comment's first line, or None (then the comment is ignored)."""
    first = (body.splitlines() or [""])[0].strip()
    found = COMMAND.fullmatch(first)
    if found is None:
        return None
    reason = (found.group(2) or "").strip() or None
    return Command(found.group(1).lower(), reason)


def on_comment(github: GitHubRun) -> Outcome:
    event = github.event
    if event.get("action") != "created":
        return _ignored("not a new comment")
    issue = payload(event, "issue")
    if not issue.get("pull_request"):
        return _ignored("a comment on an issue, not a pull request")
    comment = payload(event, "comment")
    command = parse(str(comment.get("body") or ""))
    if command is None:
        return _ignored("not a /remediate command")
    user = payload(comment, "user")
    login = str(payload(user, "login"))
    if user.get("type") == "Bot" or login.endswith("[bot]"):
        return _ignored("a bot's comment")  # never answer a bot: no loops, no proxies
    number = event_number(event, "issue", "number")
    reply_to = event_number(event, "comment", "id")
    out = Outcome(body={"event": "issue_comment", "pullRequest": number, "command": command.verb})
    lines = _run(github, command, login, number, out)
    quoted = cell(f"/remediate {command.verb}" + (f" {command.reason}" if command.reason else ""))
    body = (
        REPLY.format(id=reply_to) + f"\n> {quoted}\n\n" + "".join(f"- {cell(x)}\n" for x in lines)
    )
    body += f"\n(as {cell(login)})\n"
    upsert(github.forge, number, body[:60000], REPLY.format(id=reply_to))
    out.lines += lines
    return out


def _run(github: GitHubRun, command: Command, login: str, number: int, out: Outcome) -> list[str]:
    pull = github.forge.pull_request(number)
    if command.verb == "plan":
        refreshed = refresh(github, Target(pull, pull.base_sha))
        out.code = refreshed.code
        out.problems = refreshed.problems
        return [f"planned at {pull.head_sha[:12]}: {refreshed.body.get('status')}"]
    if command.verb in NEEDS_REASON and not command.reason:
        out.code = 1
        return [f"/remediate {command.verb} needs a reason: /remediate {command.verb} <reason>"]
    if command.reason and len(command.reason) > MAX_REASON:
        out.code = 1
        return [f"the reason is {len(command.reason)} characters; at most {MAX_REASON}"]
    if login.casefold() == pull.author.casefold():
        out.code = 1
        return [f"{login} opened this pull request and never approves or rejects its requests"]
    session = github.session
    documents = session.documents.load_paths(())
    settings = build_repository(documents).settings
    perms = authorize.permissions(github.forge, [login])
    if authorize.on_github(settings) and not may_write(perms[login]):
        out.code = 1
        return [f"{login} has no write permission on the repository: nothing done"]
    people = authorize.directory(
        settings, github.forge, [login], authorize.team_slugs(documents), perms
    )
    if not people.is_operator(login):
        out.code = 1
        return [f"{login} is not an operator (Settings rbac): nothing done"]
    github.heads.fetch(f"refs/pull/{number}/head", pull.head_sha)
    names = _requests(github, pull.base_sha, pull.head_sha)
    if not names:
        return ["this pull request adds or changes no request"]
    on_base = build_repository(session.documents.load()).requests
    who = [
        login,
        *_recorded_approvers(session, session.store.fetch()),
    ]  # earlier approvals are judged again too
    slugs = authorize.team_slugs(documents)
    acting = replace(
        session,
        env=ActingAs(session.env, login),
        people=authorize.people(github.forge, who, slugs, perms),
    )
    lines = []
    from remediate.service.verbs import approve, reject

    for name in names:
        if name not in on_base:
            lines.append(
                f"{name}: not on the base branch yet; approve the pull request with a review"
                " of its head commit (it counts at the merge)"
            )
            continue
        try:
            if command.verb == "reject":
                result = reject(replace(acting, memo={}), name, command.reason)
            else:
                result = approve(replace(acting, memo={}), name, command.reason)
        except UserError as exc:
            out.code = 1
            lines.append(f"{name}: {exc}")
            continue
        if not result.counted:
            out.code = 1
        lines.append(f"{name}: {result.status}" + (f" ({result.detail})" if result.detail else ""))
    return lines


def _requests(github: GitHubRun, base: str, head: str) -> list[str]:
    heads = github.heads
    files = [
        f
        for f in heads.changed(base, head)
        if f.startswith("remediations/") and f.endswith(YAML_SUFFIXES)
    ]
    if not files:
        return []
    docs = heads.documents(automation=head, requests=head)
    try:
        found = build_repository(docs.load_paths([str(docs.root / f) for f in files]))
    except UserError as exc:
        raise UserError(f"the pull request's documents do not load: {exc}") from None
    return sorted(name for name, r in found.requests.items() if r.file in files)


def _ignored(why: str) -> Outcome:
    return Outcome(
        lines=[f"remediate github: issue_comment: {why}: nothing to do"],
        body={"event": "issue_comment", "handled": False},
    )
