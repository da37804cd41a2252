"""What a scheduled job takes from the documents: a `report` job sends only while
`Settings.spec.reporting.scheduledReportEnabled` is true (otherwise its fire is recorded
as skipped, once, and nothing is sent); a report goes to the recipients of the settings in
force, never to those of a change no admin made; a `retention` job keeps its own
`retentionDays` (real git, a bare remote, clones, real processes; aiosmtpd on loopback)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tests.runner_support import (
    action_yaml,
    cli_env,
    clone,
    commit_schedules,
    git,
    make_remote,
    remediate,
    remote_events,
    schedule_yaml,
)
from tests.smtp_support import Inbox, smtp_env, smtp_server
from tests.test_retention import _at, _read, _setup
from tests.test_tick import REPORT, REPORTING, _fires


def test_a_report_job_is_skipped_once_while_scheduled_reports_are_off(tmp_path: Path) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    off = REPORTING.replace("scheduledReportEnabled: true", "scheduledReportEnabled: false")
    commit_schedules(tmp_path, bare, {"daily-report": REPORT}, "2026-11-22T12:00:00Z", off)
    runner = clone(tmp_path, bare, "runner")
    inbox = Inbox()
    with smtp_server(inbox, None, starttls=False, auth=False) as port:
        env = cli_env("2026-11-23T05:20:00Z", **smtp_env(port, None, "none", credentials=False))
        done = remediate(runner, "tick", env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            "daily-report-20261123T0500Z: fired, report: skipped (scheduled reports are off "
            "(Settings spec.reporting.scheduledReportEnabled is not true): nothing was sent "
            "and retention was not enforced)\n"
        )
        again = remediate(runner, "tick", "--format", "json", env=env)
        assert json.loads(again.stdout)["fires"] == []
    assert inbox.received == []
    events = remote_events(tmp_path, bare)
    subject = "daily-report-20261123T0500Z"
    assert _fires(events) == Counter({(subject, "fire"): 1, (subject, "done"): 1})
    (done_event,) = [e for e in events if e.get("verb") == "done"]
    assert done_event["details"]["status"] == "skipped"
    assert not [e for e in events if e.get("stream") == "reports"]  # no report run


def test_a_retention_job_keeps_its_own_retention_days(tmp_path: Path) -> None:
    """Settings keep 30 days; the job keeps 60: at day 41 nothing is old enough (the
    events of day 0 are 41 days old), where the settings' 30 days would remove them."""
    bare, work = _setup(tmp_path)
    schedule = schedule_yaml(
        "retention", "retention: {retentionDays: 60}", cron="0 6 * * *", timezone="UTC"
    )
    commit_schedules(tmp_path, bare, {"retention": schedule}, _at(39))
    git(work, "pull", "--quiet", "--ff-only")
    before = _read(work)
    done = remediate(work, "tick", "--format", "json", now=_at(41))
    assert done.returncode == 0, done.stderr
    (fired,) = json.loads(done.stdout)["fires"]
    assert fired["status"] == "success", fired
    assert fired["outcome"]["deletedCount"] == 0
    assert "nothing was removed" in fired["outcome"]["notes"][0]
    git(work, "pull", "--quiet", "--ff-only")
    assert _read(work)["status"] == before["status"]
    events = remote_events(tmp_path, bare)
    assert not [e for e in events if e.get("stream") == "retention"]


def test_a_report_goes_to_the_recipients_in_force_not_to_a_persons_change(
    tmp_path: Path,
) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, {"daily-report": REPORT}, "2026-11-22T12:00:00Z", REPORTING)
    person = clone(tmp_path, bare, "person")  # dev@example.com: no admin
    settings = person / "remediate.yaml"
    settings.write_text(
        settings.read_text().replace("sre@example.com, lead@example.com", "mallory@example.net")
    )
    git(person, "commit", "--quiet", "-am", "reports to me")
    git(person, "push", "--quiet", "origin", "HEAD:main")
    runner = clone(tmp_path, bare, "runner")
    inbox = Inbox()
    with smtp_server(inbox, None, starttls=False, auth=False) as port:
        env = cli_env("2026-11-23T05:20:00Z", **smtp_env(port, None, "none", credentials=False))
        sent = remediate(runner, "report", "--send", env=env)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        fired = remediate(runner, "tick", "--format", "json", env=env)
        assert fired.returncode == 0, fired.stderr
        assert json.loads(fired.stdout)["fires"][0]["status"] == "success"
    assert sorted(r for rcpts, *_ in inbox.received for r in rcpts) == sorted(
        ["sre@example.com", "lead@example.com"] * 2
    )
