"""`report`: build the digest of a period; with `--send`, e-mail it and record the run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from remediate.core.commits import Person
from remediate.core.drafting import new_id
from remediate.core.model import Repository, build_repository
from remediate.core.report_runs import ReportRun
from remediate.core.reports import Digest
from remediate.errors import UserError
from remediate.service import audit_log
from remediate.service.reports import digest as digests
from remediate.service.reports import runs
from remediate.service.reports.send import deliver
from remediate.service.runtime import actor_or_none, person
from remediate.service.session import Session


@dataclass(frozen=True)
class Sent:
    digest: Digest
    run: ReportRun


def build(session: Session, now: datetime, length: timedelta | None = None) -> Digest:
    repo = build_repository(session.documents.load())
    start, end = digests.window(repo.settings, now, length)
    return digests.build(session, start, end, repo)


def rendered(session: Session, digest: Digest, kind: str) -> str:
    """The digest as `markdown`, `html` or `control` (the control center page), the
    runner's secrets redacted (as in e-mail)."""
    from remediate.executors.base import ambient_secrets
    from remediate.executors.redaction import Redactor
    from remediate.service.reports import render

    if kind == "control":
        text = render.control_center(digest)
    else:
        text = render.html(digest) if kind == "html" else render.markdown(digest)
    return Redactor(ambient_secrets(session.env.variables()))(text)


def send(
    session: Session,
    now: datetime,
    length: timedelta | None = None,
    retry_of: ReportRun | None = None,
    deleted: int = 0,
    repo: Repository | None = None,
) -> Sent:
    """E-mail the digest of the period (a retried run's own period) to the report
    recipients, recording the run before anything is sent and again when it ends.

    The settings are those in force at the fetched tip (`runtime.load`, or `repo`, what
    `tick` loaded): a settings change no admin made does not take effect, so it cannot
    send the report (the audit's content) to addresses of its own."""
    if repo is None:
        from remediate.service import runtime

        repo = runtime.load(session).repository
    settings = repo.settings
    recipients = tuple(str(r) for r in settings.reporting.get("reportRecipients", ()))
    if not recipients:
        raise UserError(
            f"{settings.name}: spec.reporting.reportRecipients is empty; nobody to send to"
        )
    if retry_of is not None:
        start, end = retry_of.period_start, retry_of.period_end
    else:
        start, end = digests.window(settings, now, length)
    mailer = session.mailer  # a bad SMTP_* fails here, before a run is recorded
    runner = Person(settings.runner_name, settings.runner_email)
    author = person(actor_or_none(session) or settings.runner_email, session.store)
    digest = digests.build(session, start, end, repo)
    run = ReportRun(
        id=new_id(),
        organization=settings.name,
        cadence=str(settings.reporting.get("reportCadence", "weekly")),
        recipients=recipients,
        started_at=session.clock.now(),
        period_start=start,
        period_end=end,
        total_actions=digest.total,
        failed_actions=digest.failure_count,
        pending_approvals=digest.pending_count,
        queued_executions=digest.queued,
        retry_of=retry_of.id if retry_of is not None else None,
        deleted=deleted,  # events a retention run just before removed (a scheduled report)
    )
    del mailer
    runs.record(session, run, author, runner)
    try:
        failures = deliver(session, digest, recipients, session.clock.now())
        done = run.finished(session.clock.now(), failures)
    except Exception as exc:  # the run is recorded as failed, whatever went wrong
        done = run.finished(session.clock.now(), {}, f"{type(exc).__name__}: {exc}")
        runs.record(session, done, author, runner)
        audit_log.save_checkpoint(session, runner)
        raise
    runs.record(session, done, author, runner)
    # the checkout shows the run (the fast-forward waits for the command's end) and the
    # runner's checkpoint includes it, as after every command that writes the audit
    audit_log.save_checkpoint(session, runner)
    return Sent(digest, done)


def retry(session: Session, run_id: str, now: datetime) -> Sent:
    """Send the period of run `run_id` again, as a new run."""
    found = runs.find(session, run_id)
    return send(session, now, retry_of=found)
