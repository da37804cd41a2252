"""`tick`: fire the schedules that are due, once per fire time, however many runners race.

The documents are those of the fetched tip (`runtime.load`, fail closed). For each
schedule, the fires since its last recorded fire (fired or missed; for a schedule that
never fired, since the first-parent commit that added its file, `Store.added_at`) up to
the evaluation time (`--now`, else REMEDIATE_NOW, else the runner's clock) are caught up
as its `catchUp` says (`core.schedules.due`). Each fire this tick records (a `fire`, or a
`miss` of the last missed one) is claimed first: `service.claims.claim` on the
`schedules` stream, subject `<schedule>-<yyyymmddThhmmZ>`, attempt 1, in its batch form
`claims.claim_group`: one compare-and-swap ref per fire time (and attempt), so racing
runners each win different fires or none. A won fire lands
on the branch (`audit_log.write`) unless the branch shows it recorded already (a claim
ref pruned and won again by a stale runner), and only then does its job run. A claim lost
to a runner whose events never reached the branch is adopted: its events are landed as
they are, and its job is not run again (at most once).

Jobs: `remediation` — the fire's event carries the request (recorded in the audit, no
file): the next `apply` decides it on the normal policy path (`core.schedules.with_fired`
through `runtime.load`); `report` — `service.reports.report.send` once, its run id in a
`done` event (retention enforced first when the settings set `retentionDays`, its
deletedCount in the run); `retention` — `service.retention.enforce` as of the fire time;
`import` — `service.importer.import_sarif` of the SARIF its `source` names in the checkout.
Events carry the runner's real time; under `--now`/REMEDIATE_NOW their details say
`evaluatedAt`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from remediate.core import schedules as sch
from remediate.core.drafting import Batch, Chain, new_id
from remediate.core.snapshot import AuditSnapshot
from remediate.core.streams import StreamEvent
from remediate.core.times import iso, parse_time
from remediate.service import audit_log, claims, runtime
from remediate.service.checkpoint import by_runner
from remediate.service.session import Session


@dataclass
class Fired:
    schedule: str
    subject: str
    job: str
    fire_time: datetime
    verb: str  # fire | miss
    missed: sch.Missed | None = None
    status: str = "fired"  # fired | missed | success | failed | skipped | taken
    outcome: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "fire": self.subject,
            "fireTime": iso(self.fire_time),
            "job": self.job,
            "status": self.status,
            "missed": self.missed.as_json() if self.missed else None,
            "outcome": self.outcome or None,
            "error": self.error,
        }


@dataclass
class TickReport:
    evaluated_at: datetime
    fires: list[Fired] = field(default_factory=list)  # what this runner recorded
    adopted: list[str] = field(default_factory=list)  # fires another runner claimed
    taken: list[str] = field(default_factory=list)  # fires another runner recorded
    waiting: list[str] = field(default_factory=list)  # schedules left for later ticks
    # fire → a ref in the way of its claim: not fired by anyone (`claims.in_the_way`)
    blocked: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.status == "failed" for f in self.fires)

    def as_json(self) -> dict[str, Any]:
        return {
            "evaluatedAt": iso(self.evaluated_at),
            "fires": [f.as_json() for f in self.fires],
            "adopted": list(self.adopted),
            "taken": list(self.taken),
            "blocked": dict(self.blocked),
            "more": list(self.waiting),
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        """What `tick` prints, one line per fire (and per fire another runner had)."""
        report = self
        lines = []
        for fired in report.fires:
            missed = fired.missed
            extra = ""
            if missed is not None:
                count = missed.count if missed.exact else f"at least {missed.count}"
                extra = f" ({count} missed fire(s) from {iso(missed.first)} to {iso(missed.last)})"
            what = {
                "remediation": f"request {fired.subject} recorded; the next apply decides it",
                "report": "report",
                "retention": "retention",
                "import": "import",
            }[fired.job]
            if fired.verb == "miss":
                lines.append(f"{fired.subject}: missed{extra}")
                continue
            status = "" if fired.job == "remediation" else f": {fired.status}"
            error = f" ({fired.error})" if fired.error else ""
            if fired.status == "skipped":
                error = f" ({'; '.join(fired.outcome.get('notes', []))})"
            lines.append(f"{fired.subject}: fired, {what}{status}{error}{extra}")
        for subject in report.adopted:
            lines.append(
                f"{subject}: claimed by another runner that did not record it; recorded now"
            )
        for subject in report.taken:
            lines.append(f"{subject}: already fired by another runner")
        for subject, other in sorted(report.blocked.items()):
            lines.append(f"{subject}: not fired: {other} is in the way (see the warning)")
        for name in report.waiting:
            lines.append(f"{name}: more missed fires to catch up: the next tick runs them")
        if not lines:
            lines.append(f"no schedule is due at {iso(report.evaluated_at)}")
        return lines


def tick(session: Session, now: datetime | None = None) -> TickReport:
    """Record and run the due fires of every schedule; `now`: the evaluation time."""
    rt = runtime.load(session)
    real = rt.now
    override = now or session.clock.override()
    at = override or real
    report = TickReport(at, warnings=list(rt.warnings))
    documents = [sch.Schedule.from_document(d) for d in rt.repository.schedules]
    if not documents:
        return report
    snap = audit_log.read(rt.store, rt.rev, rt.trust)
    last = sch.recorded_last_fires(snap)  # the checkpoint's index and the fires since
    added: dict[str, tuple[str, str]] | None = None

    def added_of(schedule: sch.Schedule) -> tuple[str, str] | None:
        """When the schedule's file was added, and by whom (its fires' requester): asked
        of git once, and only when a schedule never fired or a remediation fires."""
        nonlocal added
        if added is None:
            added = rt.store.added_at(rt.rev, "schedules") if rt.rev else {}
        return added.get(schedule.file)

    planned: list[tuple[Fired, StreamEvent]] = []
    memo: dict[tuple[str, str, str, bool, datetime], sch.Due] = {}
    added_since: dict[str, datetime] = {}  # schedules added by one commit share its time
    for schedule in sorted(documents, key=lambda s: s.name):
        since = last.get(schedule.name)
        if since is None:
            where = added_of(schedule)
            if where is None:
                report.warnings.append(
                    f"{schedule.file}: schedule {schedule.name} is not committed on the "
                    "branch yet; it counts from the commit that adds it"
                )
                continue
            if where[0] not in added_since:
                added_since[where[0]] = parse_time(where[0])
            since = added_since[where[0]]
        key = (schedule.cron, schedule.timezone, schedule.catch_up, schedule.suspended, since)
        if key not in memo:  # schedules alike and added together are due alike
            memo[key] = sch.due(schedule, since, at)
        due = replace(memo[key], schedule=schedule)
        if due.more:
            report.waiting.append(schedule.name)
        where = added_of(schedule) if due.run and schedule.job == "remediation" else None
        requester = where[1] if where else None
        for i, fire in enumerate(due.run):
            planned.append(
                _planned(
                    rt,
                    schedule,
                    fire,
                    sch.FIRE,
                    due.missed if i == 0 else None,
                    override,
                    requester,
                )
            )
        if not due.run and due.missed is not None:
            planned.append(
                _planned(rt, schedule, due.missed.last, sch.MISS, due.missed, override, requester)
            )
    if not planned:
        audit_log.save_checkpoint(session, rt.runner)
        return report
    grouped, theirs, landed = _claim_and_land(session, rt, planned, report.warnings, real)
    ours = {c.subject for c in grouped.won}
    by_subject = {f.subject: f for f, _ in planned}
    report.adopted = sorted(s for s in theirs if s in landed.get("__adopted__", set()))
    # fired by another runner: a claim lost to it, or won but found recorded on the branch
    report.taken = sorted(
        f.subject
        for f, _ in planned
        if f.subject not in landed
        and f.subject not in report.adopted
        and f.subject not in grouped.blocked
    )
    report.blocked = dict(grouped.blocked)
    for subject, other in sorted(grouped.blocked.items()):  # no claim at all: not fired
        report.warnings.append(
            f"{subject}: {other} stands where its fire time's claim refs go and is no "
            f"runner's claim; the fire waits until it is deleted (git push origin :{other})"
        )
    for fired, _event in planned:
        if fired.subject in landed and fired.subject in ours:
            report.fires.append(fired)
    for fired in report.fires:
        if fired.verb == sch.FIRE:
            _run_job(session, rt, by_subject[fired.subject], real, override)
    audit_log.save_checkpoint(session, rt.runner)
    tip = session.memo.get("audit@tip")
    listed = grouped.listed or {}  # as the claim left them (one ls-remote fewer)
    if isinstance(tip, AuditSnapshot):
        recorded = lambda s: tip.subject(sch.STREAM, s).value is not None  # noqa: E731
        claims.prune_groups(rt.store, sch.STREAM, listed, recorded, PRUNE_GROUPS_AT)
        mark = claims.PREFIXES[sch.STREAM] + claims.GROUP_MARK
        single = [r for r in listed if not r.startswith(mark)]
        if len(single) >= PRUNE_AT:  # refs of one fire each, made before group claims
            claims.prune(rt.store, lambda s: tip.subject(sch.STREAM, s).value, sch.STREAM)
    return report


def _fire_group(claim: claims.Claim) -> str:
    """The group of a fire's claim: its fire time (`<schedule>-<yyyymmddThhmmZ>`): racing
    runners that want the same fire want it in the same group."""
    return claim.subject.rpartition("-")[2]


# The claim refs of fires recorded on the branch guard nothing (a runner that wins one
# again finds the fire recorded when it lands): they are pruned in one push once there
# are this many, not after every tick (a push of deletions per tick doubled its cost).
PRUNE_AT = 256
# Group claim refs (one per fire time a tick fired) whose fires are all recorded: pruned
# in one push once there are this many.
PRUNE_GROUPS_AT = 24


def _planned(
    rt: runtime.Runtime,
    schedule: sch.Schedule,
    fire: datetime,
    verb: str,
    missed: sch.Missed | None,
    override: datetime | None,
    requester: str | None,
) -> tuple[Fired, StreamEvent]:
    subject = sch.fire_name(schedule.name, fire)
    event = StreamEvent(
        id=new_id(),
        at=iso(rt.now) or "",
        stream=sch.STREAM,
        subject=subject,
        verb=verb,
        actor=rt.runner.email,
        details=sch.fire_details(schedule, fire, missed, override, requester),
    )
    status = "fired" if verb == sch.FIRE else "missed"
    return Fired(schedule.name, subject, schedule.job, fire, verb, missed, status), event


# what a fire is: an adopted fire event must say what this runner would have recorded
_WHAT = ("schedule", "file", "fireTime", "job", "request")


def _claimed_events(
    rt: runtime.Runtime,
    lost: dict[str, str],
    planned: dict[str, StreamEvent],
    warnings: list[str],
    refs: Mapping[str, str] | None = None,
) -> dict[str, StreamEvent]:
    """The events of the fires other runners claimed (subject → event), read from their
    claim commits (subject → commit, fetched by `claims.claim_group`): adopted if their
    runner never landed them. Only from a claim commit the runner made
    (`checkpoint.by_runner`), and only an event that records the fire this runner planned
    for that subject (same schedule, file, fire time, job and request — spec and
    requester): a claim ref is open to whoever can push it, and a fire adopted from it
    becomes a request that runs. Any other holds its fire time, named in `warnings`."""
    found: dict[str, StreamEvent] = {}
    texts: dict[str, str | None] = {}
    trusted: dict[str, bool] = {}
    for subject, sha in lost.items():
        if sha not in texts:
            texts[sha] = rt.store.show(sha, claims.CLAIM_FILE)
            trusted[sha] = texts[sha] is not None and by_runner(
                rt.store, sha, rt.trust, claims.CLAIM_FILE
            )
        ours = planned.get(subject)
        for line in (texts[sha] or "").splitlines() if trusted[sha] else ():
            try:
                event = StreamEvent.from_json(json.loads(line))
            except (ValueError, TypeError):
                continue
            if event.key != (sch.STREAM, subject) or ours is None:
                continue
            if event.verb == ours.verb and all(
                event.details.get(k) == ours.details.get(k) for k in _WHAT
            ):
                found[subject] = event
        if subject not in found:
            if texts[sha] is None:
                why = f"which holds no {claims.CLAIM_FILE} (or could not be fetched)"
            elif not trusted[sha]:
                why = "which this runner did not make"
            else:
                why = "whose event is not the fire this runner planned"
            held = sorted(ref for ref, at in (refs or {}).items() if at == sha)
            where = f" ({', '.join(held)})" if held else ""
            note = (
                f"{subject}: its fire time is held by claim commit {sha[:12]}{where}, {why}; "
                f"the fire is not recorded from there (delete the claim ref once no runner "
                f"is recording it: git push origin :<ref>)"
            )
            if note not in warnings:
                warnings.append(note)
    return found


def _land(
    session: Session,
    rt: runtime.Runtime,
    ours: Sequence[StreamEvent],
    theirs: dict[str, StreamEvent],
    now: datetime,
) -> dict[str, Any]:
    """Put the won fires (and the adopted ones) on the branch; the subjects that landed
    as this runner's own events (key `__adopted__`: the adopted subjects)."""
    result: dict[str, Any] = {}
    audit_log.write(session, _builder(ours, theirs, result), now, rt.runner, rt.runner)
    return result


def _claim_and_land(
    session: Session,
    rt: runtime.Runtime,
    planned: Sequence[tuple[Fired, StreamEvent]],
    warnings: list[str],
    now: datetime,
) -> tuple[claims.Grouped, dict[str, StreamEvent], dict[str, Any]]:
    """Claim the planned fires, adopt what lost claims hold, land both (`_land`): what
    was claimed, the adopted events and what landed. In one push when it can
    (`_at_once`); else one claim ref per fire time, not per fire (`claims.claim_group`),
    and the landing after it."""
    wanted = [claims.Claim(sch.STREAM, fired.subject, 1, (event,)) for fired, event in planned]
    at_once = _at_once(session, rt, wanted, [e for _, e in planned], now)
    if at_once is not None:
        return at_once[0], {}, at_once[1]
    grouped = claims.claim_group(rt.store, rt.runner, wanted, _fire_group, "schedule fires")
    ours = {c.subject for c in grouped.won}
    events = {f.subject: e for f, e in planned}
    theirs = _claimed_events(rt, grouped.lost, events, warnings, grouped.listed)
    landed = _land(session, rt, [e for f, e in planned if f.subject in ours], theirs, now)
    return grouped, theirs, landed


def _at_once(
    session: Session,
    rt: runtime.Runtime,
    wanted: Sequence[claims.Claim],
    events: Sequence[StreamEvent],
    now: datetime,
) -> tuple[claims.Grouped, dict[str, Any]] | None:
    """The usual tick in one push: when no fire time it claims has an attempt on the
    remote yet, the first attempt of each (`claims.first_attempts`), the fires' events on
    the branch as fetched and the checkpoint, all or none (`audit_log.write_at_once`).
    Winning the claim refs and moving the branch are then one compare-and-swap, so a fire
    lands only with the claim that holds it, as `claim_group` then `_land` would have it.
    None when that push did not land (nothing of it did) or could not be tried: the
    caller claims and lands the usual way."""
    if rt.rev is None or not rt.store.has_upstream:
        return None
    first = claims.first_attempts(rt.store, rt.runner, wanted, _fire_group, "schedule fires")
    if first is None:
        return None
    grouped, updates = first
    result: dict[str, Any] = {}
    build = _builder(events, {}, result)
    branch = rt.repository.settings.base_branch
    written = audit_log.write_at_once(session, rt.rev, build, now, rt.runner, branch, updates)
    return None if written is None else (grouped, result)


def _builder(
    ours: Sequence[StreamEvent], theirs: dict[str, StreamEvent], result: dict[str, Any]
) -> Callable[[AuditSnapshot], Batch | None]:
    """The build of `_land`: the batch of the won fires (and the adopted ones) not on the
    branch yet; it fills `result` (subject → True for this runner's own, `__adopted__`)."""

    def build(snap: AuditSnapshot) -> Batch | None:
        result.clear()
        adopted: set[str] = set()
        chain = Chain(snap)
        for event, mine in [*((e, True) for e in ours), *((e, False) for e in theirs.values())]:
            current = chain.subject(sch.STREAM, event.subject)
            if event.id in current.ids:  # already there (a push whose reply was lost)
                if mine:
                    result[event.subject] = True
                continue
            if current.value is not None:  # recorded by another runner: taken
                continue
            chain.add_to(event)
            if mine:
                result[event.subject] = True
            else:
                adopted.add(event.subject)
        result["__adopted__"] = adopted
        if not chain.others:
            return None
        return chain.batch(f"remediate tick: {len(chain.others)} schedule fire(s)")

    return build


def enforce_retention(session: Session, now: datetime, days: int | None = None) -> tuple[int, str]:
    """`retention enforce` as of `now` (`service.retention.enforce`), for a `retention`
    job (its own `retentionDays`, else the settings') and for a `report` job when the
    settings set `retentionDays`: (deleted, what it did, in a sentence)."""
    from remediate.service.retention import enforce

    done = enforce(session, now, days)
    return done.deleted, done.sentence()


def _run_job(
    session: Session,
    rt: runtime.Runtime,
    fired: Fired,
    now: datetime,
    override: datetime | None,
) -> None:
    """Run the job of a fire this runner landed, once, and record how it ended."""
    if fired.job == "remediation":
        fired.outcome = {"request": fired.subject}
        return  # the fire's event is the request: the next `apply` decides it
    if fired.job == "retention":
        from remediate.errors import RemediateError

        (doc,) = [d for d in rt.repository.schedules if d.name == fired.schedule]
        days = sch.Schedule.from_document(doc).config.get("retentionDays")
        try:
            deleted, note = enforce_retention(
                session, fired.fire_time, int(days) if days is not None else None
            )
        except RemediateError as exc:
            fired.status, fired.error = "failed", str(exc)
        else:
            fired.status = "success"
            fired.outcome = {"deletedCount": deleted, "notes": [note]}
    elif fired.job == "report":
        _report(session, rt, fired)
    else:
        _import(session, rt, fired)
    _done(session, rt, fired, now, override)


def _import(session: Session, rt: runtime.Runtime, fired: Fired) -> None:
    """The `import` job: the SARIF file at `source` (or each `*.sarif` of a directory
    there) in the checkout, where the workflow's scanner step wrote it, imported as
    `remediate import sarif` would (`service.importer.import_sarif`)."""
    from remediate.errors import RemediateError
    from remediate.service.importer import import_sarif

    (doc,) = [d for d in rt.repository.schedules if d.name == fired.schedule]
    source = str(sch.Schedule.from_document(doc).config.get("source", ""))
    where = session.root / source
    if not where.resolve().is_relative_to(session.root.resolve()):
        fired.status, fired.error = "failed", f"{source} leads out of the checkout"
        return
    paths = sorted(where.glob("*.sarif")) if where.is_dir() else [where] if where.is_file() else []
    root = session.root.resolve()
    outside = [p for p in paths if not p.resolve().is_relative_to(root)]
    if outside or ".git" in Path(source).parts:
        fired.status, fired.error = "failed", f"{source} leads out of the checkout"
        return
    if not paths:
        fired.status, fired.error = "failed", f"no SARIF file at {source} in the checkout"
        return
    try:
        done = import_sarif(session, paths)
    except RemediateError as exc:
        fired.status, fired.error = "failed", str(exc)
        return
    fired.status = "success"
    fired.outcome["scans"] = [scan["id"] for scan in done.as_json()["scans"]]


def _report(session: Session, rt: runtime.Runtime, fired: Fired) -> None:
    from remediate.errors import RemediateError
    from remediate.service.reports.report import send

    notes = []
    deleted = 0
    if rt.repository.settings.reporting.get("scheduledReportEnabled") is not True:
        fired.status = "skipped"
        fired.outcome["notes"] = [
            "scheduled reports are off (Settings spec.reporting.scheduledReportEnabled is "
            "not true): nothing was sent and retention was not enforced"
        ]
        return
    try:
        if any(d.kind == "Settings" and "retentionDays" in d.spec for d in rt.repository.documents):
            deleted, note = enforce_retention(session, fired.fire_time)
            fired.outcome["deletedCount"] = deleted
            notes.append(note)
        audit_log.settle(session)  # the report reads the checkout: show it the tip
        sent = send(session, fired.fire_time, deleted=deleted, repo=rt.repository)
    except RemediateError as exc:
        fired.status, fired.error = "failed", str(exc)
        return
    fired.outcome["reportRun"] = sent.run.id
    fired.status = "success" if sent.run.status == "success" else "failed"
    fired.error = sent.run.error
    if notes:
        fired.outcome["notes"] = notes


def _done(
    session: Session,
    rt: runtime.Runtime,
    fired: Fired,
    now: datetime,
    override: datetime | None,
) -> None:
    details: dict[str, Any] = {
        "schedule": fired.schedule,
        "fireTime": iso(fired.fire_time),
        "status": fired.status,
        "outcome": fired.outcome,
    }
    if override is not None:
        details["evaluatedAt"] = iso(override)
    event = StreamEvent(
        id=new_id(),
        at=iso(session.clock.now()) or "",
        stream=sch.STREAM,
        subject=fired.subject,
        verb=sch.DONE,
        actor=rt.runner.email,
        details=details,
        error=fired.error,
    )

    def build(snap: AuditSnapshot) -> Batch | None:
        chain = Chain(snap)
        if chain.add_to(event) is None:
            return None
        return chain.batch(f"remediate tick: {fired.subject} {fired.status}")

    audit_log.write(session, build, now, rt.runner, rt.runner)
