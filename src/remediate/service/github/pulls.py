"""A pull request's plan: its documents as of the head commit, the one sticky comment,
the commit status `remediate/plan` on the head commit.

What is read: the request files (and schedules) as the head commit has them, and the
automation itself (`remediate.yaml`, `actions/`, `policies/`) as the base branch has it —
a pull request never gets to decide its own requests with its own policies. The changes
it makes to the automation (deletions too) are listed in the comment as needing an admin's approval
(PRODUCT.md, Lifecycle). Everything is read from git objects as data (`PullHeads`).

The status tells the truth: `failure` when a document is invalid, the pull request
forges audit events, or a request violates a policy; else `pending` while a request
awaits approval; else `success`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from remediate.core.authorship import RunnerTrust
from remediate.core.automation import Voucher
from remediate.core.forge import PullRequest, is_automation
from remediate.core.lifecycle import PENDING_APPROVAL, POLICY_VIOLATION
from remediate.documents.loader import DOCUMENT_DIRS, YAML_SUFFIXES
from remediate.errors import DocumentsInvalid, Problem
from remediate.service.github import GitHubRun, Outcome, number, payload
from remediate.service.github.sticky import upsert
from remediate.service.markdown import COMMENT_LIMIT, cell

if TYPE_CHECKING:
    from remediate.service.plan import History, PlanReport
    from remediate.service.ports import Documents

CONTEXT = "remediate/plan"
ROOM_FOR_EXTRAS = 16_000  # characters of the comment kept for errors and automation changes


@dataclass(frozen=True)
class Target:
    pull: PullRequest
    base_sha: str


def from_event(event: Mapping[str, Any]) -> Target:
    def get(*keys: str) -> Any:
        return payload(event, "pull_request", *keys)

    return Target(
        PullRequest(
            number=number(event, "pull_request", "number"),
            author=str(get("user", "login")),
            head_sha=str(get("head", "sha")),
            base_ref=str(get("base", "ref")),
            state=str(get("state")) if "state" in event["pull_request"] else "open",
            url=str(event["pull_request"].get("html_url", "")),
            base_sha=str(get("base", "sha")),
        ),
        str(get("base", "sha")),
    )


@dataclass
class _Fixed:
    """`Changes` that are known already: the pull request's request files."""

    files: list[str]

    def since(self, base: str) -> list[str]:
        return list(self.files)


@dataclass
class Review:
    """What the reviews add to a refresh (from `reviews.on_review`)."""

    counted: Sequence[str] = ()  # logins whose approval of the head commit counts
    ignored: Sequence[tuple[str, str]] = ()  # (login, why it does not count)
    admin_approved: bool = False
    admins: Sequence[str] = ()  # the counted logins that are admins (rbac)
    vouchers: Sequence[Voucher] = ()  # those, each with the rule that made it an admin


def refresh(github: GitHubRun, target: Target, review: Review | None = None) -> Outcome:
    pr = target.pull
    heads = github.heads
    heads.fetch(f"refs/pull/{pr.number}/head", pr.head_sha)
    heads.fetch(f"refs/heads/{pr.base_ref}", target.base_sha)
    changed = heads.changed(target.base_sha, pr.head_sha)
    gone = [f for f in heads.deleted(target.base_sha, pr.head_sha) if is_automation(f)]
    automation = sorted([*(f for f in changed if is_automation(f)), *gone])
    audit = [f for f in changed if f == "audit" or f.startswith("audit/")]
    files = [
        f
        for f in changed
        if f.endswith(YAML_SUFFIXES) and f.startswith(DOCUMENT_DIRS) and not is_automation(f)
    ]
    docs = heads.documents(automation=target.base_sha, requests=pr.head_sha)
    if automation and review is None:
        review = _reviews(github, pr, docs)  # does an admin's approval make them count?
    out = Outcome(body={"event": github.event_name, "pullRequest": pr.number, "head": pr.head_sha})
    problems: list[Problem] = []
    report: PlanReport | None = None
    runner = _runner(docs)
    if audit:
        problems += _forged(github, target, audit, runner)
    checked = docs.validate([str(docs.root / f) for f in files]) if files else None
    if checked is not None:
        problems += checked.problems
    errors = [p for p in problems if p.severity == "error"]
    if not errors and files:
        from remediate.service.plan import plan

        session = replace(github.session, root=docs.root, documents=docs, changes=_Fixed(files))
        try:
            report = plan(
                session,
                github.session.clock.override() or github.session.clock.now(),
                target.base_sha,
                _history(github, target, runner),
            )
        except DocumentsInvalid as exc:
            problems += exc.problems
            errors = list(exc.problems)
    state, description = _status(errors, report, automation, review)
    body = _comment(pr, errors, problems, report, automation, review, state, description, gone)
    upsert(github.forge, pr.number, body)
    github.forge.set_status(pr.head_sha, state, CONTEXT, description)
    out.problems = problems
    out.summary = body
    out.lines.append(f"#{pr.number} at {pr.head_sha[:12]}: {CONTEXT} {state}: {description}")
    out.code = 1 if errors else 0
    out.body.update(
        status=state,
        description=description,
        decisions=[d.as_json() for d in report.decisions] if report else [],
        automation=automation,
        errors=[
            {"file": p.file, "line": p.line, "path": p.path, "message": p.message} for p in errors
        ],
    )
    return out


def _reviews(github: GitHubRun, pr: PullRequest, docs: Documents) -> Review | None:
    """The reviews of the head commit, judged by the base branch's settings (None while
    they are invalid: the comment then says an admin's approval is still needed)."""
    from remediate.core.model import build_repository
    from remediate.service.github import authorize
    from remediate.service.github.reviews import judge

    try:
        documents = docs.load_paths(())
    except DocumentsInvalid:
        return None
    settings = build_repository(documents).settings
    slugs = authorize.team_slugs(documents)
    reviews = github.forge.reviews(pr.number)
    return judge(reviews, pr.author, pr.head_sha, settings, github.forge, slugs)


def _forged(
    github: GitHubRun, target: Target, audit: list[str], runner: RunnerTrust | str
) -> list[Problem]:
    from remediate.service.verify import foreign_changes

    store = github.session.store
    found = foreign_changes(store, target.base_sha, target.pull.head_sha, runner)
    if not found and not audit:
        return []
    return [Problem("audit/", 0, "", p) for p in found] or [
        Problem(audit[0], 0, "", "only the runner writes audit/; a pull request may not change it")
    ]


def _runner(docs: Documents) -> RunnerTrust | str:
    """The runner's identities and keys, from the base branch's settings ("" while they
    are invalid)."""
    from remediate.core.model import build_repository

    try:
        return build_repository(docs.load_paths(())).settings.runner_trust
    except DocumentsInvalid:
        return ""


def _history(github: GitHubRun, target: Target, runner: RunnerTrust | str) -> History:
    """The base branch's audit, and who requested each file: on the base branch as its
    history says, and for the files of the pull request the authors of its commits and
    the pull request's author (none of whom may approve them)."""
    from remediate.service import checkpoint
    from remediate.service.audit_log import read
    from remediate.service.plan import History

    store = github.session.store
    snap = read(store, target.base_sha, runner or None)
    on_base = checkpoint.requesters(store, target.base_sha, checkpoint.of(snap))
    in_pr = store.requesters("remediations", target.pull.head_sha, target.base_sha, on_base)
    requesters = dict(on_base)
    for file, who in in_pr.items():
        requesters[file] = (*who, target.pull.author)
    return History(states=snap.states, requesters=requesters)


def _status(
    errors: list[Problem],
    report: PlanReport | None,
    automation: list[str],
    review: Review | None,
) -> tuple[str, str]:
    if errors:
        return "failure", f"{len(errors)} error(s) in the documents"
    counts = Counter(d.status for d in report.decisions) if report else Counter[str]()
    if counts[POLICY_VIOLATION]:
        return "failure", f"{counts[POLICY_VIOLATION]} request(s) violate a policy"
    waiting = counts[PENDING_APPROVAL]
    held = bool(automation) and not (review and review.admin_approved)
    if waiting or held:
        parts = [f"{waiting} request(s) await approval"] if waiting else []
        if held:
            parts.append(f"{len(automation)} automation change(s) await an admin")
        return "pending", "; ".join(parts)
    total = sum(counts.values())
    return "success", f"{total} request(s) may run" if total else "no requests to decide"


def _comment(
    pr: PullRequest,
    errors: list[Problem],
    problems: list[Problem],
    report: PlanReport | None,
    automation: list[str],
    review: Review | None,
    state: str,
    description: str,
    gone: Sequence[str] = (),
) -> str:
    from remediate.service.render import MARKER, render_markdown

    extras: list[str] = []
    if errors:
        extras.append(f"\n#### {len(errors)} error(s): nothing is decided\n\n")
        extras.append("| file | line | problem |\n|---|---|---|\n")
        for p in errors[:50]:
            message = f"{p.path}: {p.message}" if p.path else p.message
            extras.append(f"| {cell(p.file)} | {p.line} | {cell(message)} |\n")
        if len(errors) > 50:
            extras.append(f"\n… and {len(errors) - 50} more: see the log of this step.\n")
    if automation:
        held = not (review and review.admin_approved)
        extras.append("\n#### Changes to the automation itself\n\n")
        admins = ", ".join(cell(x) for x in (review.admins if review else ()))
        extras.append(
            "These files change what the runner does. They **need an admin's approval** "
            "(rbac admins) of this pull request's head commit to take effect after the "
            "merge; "
            + (
                "**no admin has approved it yet**, so until then the runner keeps the base "
                "branch's versions and decides the requests here by them:\n\n"
                if held
                else f"**approved by {admins}** at {pr.head_sha[:12]}: they take effect "
                "when it is merged as it is (a later commit voids the approval):\n\n"
            )
        )
        extras += [
            f"- {cell(f)}" + (" (deleted)" if f in gone else "") + "\n" for f in automation[:100]
        ]
    if review is not None:
        if review.counted:
            extras.append(
                "\nApproved at the head commit by: "
                + ", ".join(cell(x) for x in review.counted)
                + "\n"
            )
        for login, why in review.ignored[:50]:
            extras.append(f"\nNot counted: {cell(login)}: {cell(why)}\n")
    tail = "".join(extras)
    tail = tail[:ROOM_FOR_EXTRAS]
    footer = f"\n`{CONTEXT}`: **{state}** ({description}) at {pr.head_sha[:12]}.\n"
    if report is not None:
        head = render_markdown(report, COMMENT_LIMIT - len(tail) - len(footer)).body
    else:
        head = f"{MARKER}\n### remediate plan\n\n"
        if not errors:
            head += "No requests are added or changed by this pull request.\n"
    return head + tail + footer
