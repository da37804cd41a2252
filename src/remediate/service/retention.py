"""`retention enforce`: replace the audit events older than `Settings.spec.retentionDays`
by checkpoint events, in one runner commit (`core.retention` plans it).

The enforcement is claimed once per fetched tip (`claims.claim` on the `retention`
stream: racing runners, one enforces), then written like every audit batch
(`audit_log.write`: never forced; on a rejected push the plan is made again on the new
tip, so files another runner already removed are not counted twice), and the runner's
checkpoint is saved on the result. Git history still holds what was removed from the tip:
retention shrinks what every clone reads, it does not erase.

`enforce(session, now=None)` is what `tick`'s `retention` job and a scheduled `report`
call (the run's `deletedCount` is `Enforced.deleted`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from remediate.core import retention as rules
from remediate.core.audit import to_line
from remediate.core.drafting import Batch, Chain, new_id
from remediate.core.snapshot import AuditSnapshot, parse_text
from remediate.core.streams import StreamEvent
from remediate.core.times import iso
from remediate.service import audit_log, claims, runtime
from remediate.service.ports import AuditReader
from remediate.service.session import Session

HISTORY = (
    "git history still holds what was removed from the tip: retention shrinks what "
    "remediate reads, it does not erase (rewriting history is the repository owner's call)"
)


@dataclass(frozen=True)
class Enforced:
    organization: str
    days: int
    cutoff: datetime
    deleted: int = 0  # events removed from the tip
    files: int = 0  # audit files removed
    checkpoints: int = 0  # checkpoint events written (one per chain that lost events)
    commit: str | None = None  # the retention commit
    elsewhere: bool = False  # another runner claimed this tip's enforcement

    def as_json(self) -> dict[str, Any]:
        return {
            "organizationId": self.organization,
            "retentionDays": self.days,
            "cutoff": iso(self.cutoff),
            "deletedCount": self.deleted,
            "files": self.files,
            "checkpoints": self.checkpoints,
            "commit": self.commit,
            "history": HISTORY,
        }

    def sentence(self) -> str:
        if self.elsewhere:
            return (
                "another runner is enforcing retention on this tip; nothing was done here "
                "(deletedCount 0)"
            )
        if not self.deleted:
            return f"no audit event is older than {iso(self.cutoff)}; nothing was removed"
        return (
            f"{self.deleted} audit event(s) older than {iso(self.cutoff)} in {self.files} "
            f"file(s) replaced by {self.checkpoints} checkpoint event(s) in commit "
            f"{(self.commit or '')[:12]}"
        )


def enforce(session: Session, now: datetime | None = None, days: int | None = None) -> Enforced:
    """Retention as of `now` (default: the runner's clock; the events' own time is always
    the real one) keeping `days` (default `Settings.spec.retentionDays`; a `retention`
    Schedule's own): fetch, refuse an audit log the runner did not write, claim, write."""
    rt = runtime.load(session)
    settings = rt.repository.settings
    runner = rt.runner
    days = days if days is not None else settings.retention_days
    cutoff = (now or session.clock.now()) - timedelta(days=days)
    done = Enforced(settings.name, days, cutoff)
    store = session.store
    if rt.rev is None:
        return done

    def planned(rev: str | None) -> rules.Plan:
        at = iso(session.clock.now()) or ""
        return rules.plan(_files(store, rev), cutoff, at, runner.email, new_id)

    first = planned(rt.rev)
    if not first.removed:
        return done
    subject = rt.rev[:20]
    record = first.record(settings.name, days, iso(cutoff) or "")
    event = StreamEvent(
        id=new_id(),
        at=iso(session.clock.now()) or "",
        stream=rules.STREAM,
        subject=subject,
        verb=rules.ENFORCE,
        actor=runner.email,
        details=record,
    )
    won = claims.claim(
        store, runner, [claims.Claim(rules.STREAM, subject, 1, (event,))], "retention"
    )
    if not won:
        return replace(done, elsewhere=True)
    made: dict[str, rules.Plan] = {}

    def build(snap: AuditSnapshot) -> Batch | None:
        plan = first if snap.rev == rt.rev else planned(snap.rev)
        if not plan.removed:
            return None  # another runner's retention got there first
        details = plan.record(settings.name, days, iso(cutoff) or "")
        chain = Chain(snap)
        if chain.add_to(replace(event, details=details)) is None:
            return None
        made["plan"] = plan
        written = (*plan.carried, *plan.checkpoints)
        requests = [e for e in written if not isinstance(e, StreamEvent)]
        others = [e for e in written if isinstance(e, StreamEvent)]
        subject_line = (
            f"remediate retention enforce: {plan.deleted} event(s) before {iso(cutoff)} "
            f"replaced by {len(plan.checkpoints)} checkpoint(s)\n\n{HISTORY}."
        )
        return Batch(
            requests,
            subject_line,
            others=[*others, *chain.others],
            streams=dict(chain.streams),
            removed=plan.removed,
        )

    snap = audit_log.write(session, build, session.clock.now(), runner, runner)
    audit_log.save_checkpoint(session, runner)
    # the claim ref of an enforcement on the branch is done with (a runner that claims that
    # tip again later builds on the newer tip, where nothing is left to remove)
    claims.prune(store, lambda name: snap.subject(rules.STREAM, name).value, rules.STREAM)
    plan = made.get("plan")
    if plan is None or snap.subject(rules.STREAM, subject).value is None:
        claims.release(store, won, [c.ref for c in won])  # another runner's got there first
        return done
    return replace(
        done,
        deleted=plan.deleted,
        files=len(plan.removed),
        checkpoints=len(plan.checkpoints),
        commit=snap.rev,
    )


def _files(store: AuditReader, rev: str | None) -> list[rules.AuditFile]:
    """Every audit file at `rev`, parsed (sizes checked before anything is read)."""
    found = []
    for path, text in audit_log.read_files(store, rev).items():
        items = list(parse_text(path, text))
        events = tuple(i for i in items if not isinstance(i, str))
        exact = text == "".join(to_line(e) + "\n" for e in events)
        found.append(rules.AuditFile(path, events, len(events) == len(items), exact))
    return found
