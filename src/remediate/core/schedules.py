"""Schedules: which fires are due, how missed fires are caught up, and the `schedules`
audit stream that records each fire once; pure (`now` is an argument).

Fire times come from the cron expression read in the schedule's IANA zone, by the one
cron reader of this project, `core.windows.ChangeWindow.next_opening` (cronsim with
zoneinfo; 06:00 Europe/Berlin stays 06:00 local across DST; a fire that does not exist
on a spring-forward night fires once at the first instant after the gap, like cronie;
a fixed-time fire inside a fall-back night's repeated hour fires once; `*` minute or hour
fields fire at every matching instant, Lord Howe's 30-minute shifts included).

A fire is one subject of the `schedules` stream, named like the request a `remediation`
job makes: `<schedule>-<yyyymmddThhmmZ>` (the fire time in UTC). Its first event is a
`fire` (the job ran at that fire) or a `miss` (it did not: `catchUp` said so); a `done`
event may follow a fire with the job's outcome (a report's run). The claim that makes a
fire happen once is the subject's claim ref, attempt 1 (`service.claims.claim`): a fire
is over, and its ref may be pruned, once its subject is on the branch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from remediate.core import streams
from remediate.core.document import Document
from remediate.core.model import Repository, Request
from remediate.core.times import iso, parse_time
from remediate.core.windows import ChangeWindow

if TYPE_CHECKING:
    from remediate.core.snapshot import AuditSnapshot

STREAM = "schedules"
JOBS = ("remediation", "report", "retention", "import")
CATCH_UP = ("latest", "all", "none")
LATE = timedelta(hours=1)  # `catchUp: none` runs a fire only if it is less late than this
MAX_FIRES = 100  # fires one tick runs of one `catchUp: all` schedule (the rest: next tick)
MAX_COUNT = 10_000  # missed fires counted one by one; beyond, "at least"
FIRE, MISS, DONE = "fire", "miss", "done"
SCHEDULE_LABEL = "remediate.dev/schedule"  # label of a request a schedule fired
SCHEDULE_FILE = "remediate.dev/schedule-file"  # … and the file of that schedule


@dataclass(frozen=True)
class Schedule:
    name: str
    file: str
    cron: str
    timezone: str
    catch_up: str
    job: str  # one of JOBS
    config: Mapping[str, Any]  # the job's own object
    suspended: bool = False

    @classmethod
    def from_document(cls, doc: Document) -> Schedule:
        spec = doc.spec
        ((job, config),) = spec["job"].items()
        return cls(
            name=doc.name,
            file=doc.file,
            cron=str(spec["cron"]),
            timezone=str(spec["timezone"]),
            catch_up=str(spec.get("catchUp", "latest")),
            job=job,
            config=dict(config or {}),
            suspended=bool(spec.get("suspend", False)),
        )

    def fires(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """Every fire time in (after, until], in order (UTC)."""
        window = ChangeWindow(self.cron, timedelta(0), self.timezone)
        moment = after
        while True:
            found = window.next_opening(moment)
            if found is None or found > until:
                return
            yield found
            moment = found

    def latest_fire(self, after: datetime, until: datetime) -> datetime | None:
        """The last fire in (after, until], sought back from `until` in growing steps (a
        schedule a year behind on a minute cron is not walked fire by fire)."""
        window = ChangeWindow(self.cron, timedelta(0), self.timezone)
        first = window.next_opening(after)
        if first is None or first > until:
            return None  # nothing in (after, until]: one cron step, not a search
        span = timedelta(hours=2)
        while True:
            start = max(after, until - span)
            found = None
            for found in self.fires(start, until):  # noqa: B007
                pass
            if found is not None or start == after:
                return found
            span *= 8


@dataclass(frozen=True)
class Missed:
    """Fires a tick did not run, summarised: the first, the last, how many (`count`
    exact, or at least that many when `exact` is false)."""

    first: datetime
    last: datetime
    count: int
    exact: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "first": iso(self.first),
            "last": iso(self.last),
            "count": self.count,
            "exact": self.exact,
        }


@dataclass(frozen=True)
class Due:
    """What one tick does for one schedule: fires to run (oldest first), and the fires
    it records as missed (on the first fire it runs, or on a `miss` of the last one)."""

    schedule: Schedule
    run: tuple[datetime, ...] = ()
    missed: Missed | None = None
    more: bool = False  # `catchUp: all` left fires for the next tick (MAX_FIRES)
    skipped: tuple[datetime, ...] = field(default=())  # the missed fires, when few


def due(schedule: Schedule, since: datetime, now: datetime) -> Due:
    """The fires in (since, now] and what `catchUp` makes of them: `latest` runs the most
    recent and records the others as missed, `all` runs each (at most MAX_FIRES per
    tick), `none` runs the most recent only if it is less than an hour late (else it too
    is missed)."""
    if schedule.suspended or now <= since:
        return Due(schedule)
    if schedule.catch_up == "all":
        fires: list[datetime] = []
        for fire in schedule.fires(since, now):
            if len(fires) == MAX_FIRES:
                return Due(schedule, tuple(fires), more=True)
            fires.append(fire)
        return Due(schedule, tuple(fires))
    last = schedule.latest_fire(since, now)
    if last is None:
        return Due(schedule)
    runs = schedule.catch_up == "latest" or now - last < LATE
    before = _count(schedule, since, last)  # the fires before the last
    if runs:
        return Due(schedule, (last,), before)
    first = before.first if before is not None else last
    count = (before.count if before is not None else 0) + 1
    exact = before.exact if before is not None else True
    return Due(schedule, (), Missed(first, last, count, exact))


def _count(schedule: Schedule, since: datetime, last: datetime) -> Missed | None:
    """The fires in (since, last), summarised; None when there are none."""
    first = None
    count = 0
    previous = None
    for fire in schedule.fires(since, last):
        if fire == last:
            break
        first = first or fire
        previous = fire
        count += 1
        if count == MAX_COUNT:
            return Missed(first, _before(schedule, since, last), count, exact=False)
    if first is None or previous is None:
        return None
    return Missed(first, previous, count)


def _before(schedule: Schedule, since: datetime, last: datetime) -> datetime:
    found = schedule.latest_fire(since, last - timedelta(microseconds=1))
    return found or last


def fire_name(schedule: str, fire: datetime) -> str:
    """`<schedule>-<yyyymmddThhmmZ>`: the fire's subject, and its request's name."""
    return f"{schedule}-{fire.astimezone(UTC):%Y%m%dT%H%MZ}"


def fire_details(
    schedule: Schedule,
    fire: datetime,
    missed: Missed | None,
    evaluated_at: datetime | None,
    requester: str | None,
) -> dict[str, Any]:
    """The details of a `fire` or `miss` event: the schedule, the fire time, the job and,
    for a remediation, the request it creates (spec and requester: who added the
    schedule)."""
    details: dict[str, Any] = {
        "schedule": schedule.name,
        "file": schedule.file,
        "fireTime": iso(fire),
        "job": schedule.job,
    }
    if schedule.job == "remediation":
        details["request"] = {"name": fire_name(schedule.name, fire), "spec": dict(schedule.config)}
        if requester:
            details["request"]["requester"] = requester
    if missed is not None:
        details["missed"] = missed.as_json()
    if evaluated_at is not None:
        details["evaluatedAt"] = iso(evaluated_at)  # `--now`/REMEDIATE_NOW: said, never `at`
    return details


# the stream's fold: a fire's value is its record
def _start(subject: str) -> dict[str, Any] | None:
    return None


def _step(value: dict[str, Any] | None, event: streams.StreamEvent) -> dict[str, Any]:
    d = event.details
    if event.verb == DONE and value is not None:
        return {**value, "status": d.get("status"), "outcome": d.get("outcome")}
    record = {
        "schedule": d.get("schedule"),
        "file": d.get("file"),
        "fireTime": d.get("fireTime"),
        "job": d.get("job"),
        "status": "fired" if event.verb == FIRE else "missed",
    }
    if "request" in d:
        record["request"] = d["request"]
    if "missed" in d:
        record["missed"] = d["missed"]
    return record


def _refuse(value: dict[str, Any] | None, event: streams.StreamEvent) -> str | None:
    d = event.details
    if event.verb in (FIRE, MISS):
        if value is not None:
            return "the fire is recorded already"
        if not isinstance(d.get("schedule"), str) or not isinstance(d.get("fireTime"), str):
            return "a fire names its schedule and its fire time"
        try:
            moment = parse_time(d["fireTime"])
        except ValueError:
            return "a fire's fireTime is not an ISO 8601 time"
        if fire_name(d["schedule"], moment) != event.subject:
            return "a fire's subject is <schedule>-<yyyymmddThhmmZ> of its schedule and time"
        if d.get("job") not in JOBS:
            return f"a fire's job is one of {', '.join(JOBS)}"
        request = d.get("request")
        if (d.get("job") == "remediation") != isinstance(request, dict):
            return "a remediation fire, and only one, carries its request"
        if isinstance(request, dict) and (
            request.get("name") != event.subject or not isinstance(request.get("spec"), dict)
        ):
            return "a fire's request is named like the fire and carries its spec"
        return None
    if event.verb == DONE:
        if value is None or value.get("status") != "fired":
            return "a fire is done only after it fired, once"
        return None
    return f"{event.verb!r} is not a verb of schedule fires (fire, miss, done)"


def _over(value: Any, attempt: int) -> bool:
    return value is not None  # on the branch: nobody fires it again


FOLD = streams.register(
    streams.Fold(
        STREAM,
        start=_start,
        step=_step,
        refuse=_refuse,
        over=_over,
        requests=lambda value: _fired_requests(value),
        names=lambda value: _fired_names(value),
    )
)


def last_fires(values: Iterable[Any]) -> dict[str, datetime]:
    """Schedule name → the latest fire time recorded (fired or missed)."""
    found: dict[str, datetime] = {}
    for value in values:
        if not isinstance(value, dict):
            continue
        try:
            name, moment = str(value["schedule"]), parse_time(value["fireTime"])
        except (KeyError, TypeError, ValueError):
            continue
        if name not in found or moment > found[name]:
            found[name] = moment
    return found


def recorded_last_fires(snap: AuditSnapshot) -> dict[str, datetime]:
    """`last_fires` of every fire `snap` records: from the checkpoint's index (each
    schedule's last fire as of its commit) and the fires recorded since, when the
    snapshot has one (`AuditSnapshot.indexed`): the cost follows the schedules and the
    fires since, not every fire ever recorded; else from every fire."""
    found = snap.indexed(STREAM)
    if found is not None:
        index, top = found
        try:
            last = {name: parse_time(text) for name, text in index.last}
        except ValueError:
            last = None
        if last is not None:
            for name, moment in last_fires(s.value for s in top).items():
                if name not in last or moment > last[name]:
                    last[name] = moment
            return last
    return last_fires(state.value for state in snap.stream(STREAM).values())


def fired_request(value: Any) -> Request | None:
    """The request a remediation fire created (None for any other fire, and for a missed
    one: its record names the request it would have made, which nobody is to run)."""
    name = _fired_name(value)
    if name is None:
        return None
    request = value["request"]
    labels = {SCHEDULE_LABEL: str(value.get("schedule"))}
    if value.get("file"):
        labels[SCHEDULE_FILE] = str(value["file"])
    if request.get("requester"):
        labels[REQUESTER_LABEL] = str(request["requester"])
    return Request.from_spec(name, dict(request["spec"]), None, labels)


def _fired_name(value: Any) -> str | None:
    """The name of a remediation fire's request (None: no request, or a missed fire)."""
    if not isinstance(value, dict) or not isinstance(value.get("request"), dict):
        return None
    if value.get("status") == "missed":
        return None
    return str(value["request"]["name"])


REQUESTER_LABEL = "remediate.dev/requested-by"  # who added the schedule (its requester)


def with_fired(
    repository: Repository, snap: AuditSnapshot, warnings: list[str] | None = None
) -> Repository:
    """The repository with the requests recorded in the audit, no file, that have not
    ended (a schedule's fire, a finding's auto-remediation, a follow-up: every stream whose
    fold lists `requests`), beside the files' requests: the next `apply` decides and runs
    them on the normal policy path. A recorded request's name is taken: a file of that name
    added later (whose author could otherwise rewrite what the audit recorded and approve
    it) is set aside, and `warnings` names it."""
    from remediate.core.lifecycle import FINAL

    fired = {}
    # the subjects that may list a request not settled (`AuditSnapshot.requesting`: from
    # the checkpoint's index and the subjects changed since, when it has one)
    every = ((f, s) for n, f in sorted(streams.FOLDS.items()) for s in snap.requesting(n))
    for fold, state in every:
        for request in fold.requests(state.value):
            name = request.name
            if snap.state(name).status in FINAL:
                continue
            taken = repository.requests.get(name)
            if taken is not None and warnings is not None:
                warnings.append(
                    f"{taken.file or name}: request {name} is one the audit recorded "
                    f"({fold.stream}); this file is not used for it"
                )
            fired[name] = request
    if not fired:
        return repository
    return replace(repository, requests={**repository.requests, **fired})


def _fired_names(value: Any) -> list[str]:
    """The name of the request `fired_request` gives, without making it."""
    name = _fired_name(value)
    return [] if name is None else [name]


def _fired_requests(value: Any) -> list[Request]:
    request = fired_request(value)
    return [] if request is None else [request]
