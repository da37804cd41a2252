"""At the push that merged a pull request changing the automation itself
(`remediate.yaml`, `actions/`, `policies/`): record which admins approved it, so that its
changes count (PRODUCT.md, Lifecycle: "merged through a pull request that an admin
approved").

The reviewers are judged as for requests (`reviews.judge`: latest review per reviewer,
`APPROVED` on the head commit, not the author, not a bot, write permission read from the
API now), against the settings in force on the base branch (`runtime.load`: never the
pull request's own `remediate.yaml`), and only an admin of those settings counts. What
is recorded, as one event on the audit's `vouches` stream (`core.automation.Vouch`, a
runner commit like every audit event, so trusted only as such): the pull request, its
head commit, the commits the merge put on the base branch, each automation file's blob at
the head (null: the head deletes it; a rename is a deletion and an addition), and the
admins, each with the rule that made it one when not its login itself (`{"login": "carol",
"via": "team:leads"}`: the API confirmed the membership now, which the runner's later
re-judgment cannot ask). `core.automation` then counts those admins as vouchers of a
version exactly when its commit is one of those and its blob the head's: a merge that
changed the file, or a later edit on the base branch, is not what they reviewed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from remediate.core.automation import VOUCH, VOUCHES, Vouch, Voucher
from remediate.core.commits import Person
from remediate.core.drafting import Batch, Chain, new_id
from remediate.core.snapshot import AuditSnapshot
from remediate.core.streams import StreamEvent
from remediate.core.times import iso
from remediate.errors import UserError
from remediate.service.github import GitHubRun, Outcome
from remediate.service.github.reviews import judge
from remediate.service.session import Session

if TYPE_CHECKING:
    from remediate.service.github.merged import _Merged


def said(admin: Voucher) -> str:
    return admin.who if admin.via is None else f"{admin.who} (through {admin.via})"


def subject(m: _Merged) -> str:
    return f"pr-{m.pull.number}-{(m.pull.merge_commit_sha or m.pull.head_sha)[:12]}"


def vouch(
    github: GitHubRun,
    session: Session,
    merged: Sequence[_Merged],
    slugs: Sequence[str],
    out: Outcome,
) -> int:
    """Record the admins' approvals of the merged pull requests that change the automation;
    the number of vouches recorded (each merge once, also when the event comes again)."""
    from remediate.service import audit_log, runtime

    wanted = [m for m in merged if m.automation]
    try:
        state = runtime.load(session)
    except UserError as exc:
        for m in wanted:
            m.notes.append(f"its automation changes could not be judged: {exc}")
        return 0
    settings = state.repository.settings
    found: dict[str, Vouch] = {}
    for m in wanted:
        verdict = judge(m.reviews, m.pull.author, m.pull.head_sha, settings, github.forge, slugs)
        admins = list(verdict.vouchers)
        m.vouched = tuple(a.who for a in admins)
        if not admins:
            m.notes.append(
                "no admin approved its head commit: its changes to the automation itself "
                "do not take effect"
            )
            continue
        commits = tuple(dict.fromkeys([*m.commits, *filter(None, [m.pull.merge_commit_sha])]))
        found[subject(m)] = Vouch(
            new_id(), m.pull.number, m.pull.head_sha, commits, dict(m.automation), tuple(admins)
        )
    if not found:
        return 0
    runner = state.runner
    now = session.clock.now()
    recorded: list[str] = []

    def build(snap: AuditSnapshot) -> Batch | None:
        chain = Chain(snap)
        recorded.clear()
        for name, v in sorted(found.items()):
            if chain.subject(VOUCHES, name).value is not None:
                continue  # recorded by an earlier delivery of this push
            event = StreamEvent(
                id=v.id,
                at=iso(now) or "",
                stream=VOUCHES,
                subject=name,
                verb=VOUCH,
                actor=runner.email,
                details=v.details(),
            )
            if chain.add_to(event) is not None:
                recorded.append(name)
        if not recorded:
            return None
        return chain.batch("remediate vouch " + ", ".join(recorded))

    audit_log.write(session, build, now, Person(runner.name, runner.email), runner)
    for name in recorded:
        v = found[name]
        out.lines.append(
            f"#{v.pull}: automation changes approved by {', '.join(map(said, v.admins))}: "
            + ", ".join(sorted(v.files))
        )
    return len(recorded)
