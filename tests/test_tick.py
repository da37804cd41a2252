"""`remediate tick` on real git: racing runners (real processes on clones of a bare
remote) fire each fire once, a remediation fire becomes a request `apply` runs, missed
fires are recorded, a scheduled report is sent once per fire (aiosmtpd on loopback)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.runner_support import (
    action_yaml,
    cli_env,
    clone,
    commit_schedules,
    git,
    make_remote,
    remediate,
    remediation_job,
    remote_events,
    schedule_yaml,
    start,
)
from tests.smtp_support import Inbox, smtp_env, smtp_server
from tests.test_runner_race import executions, recorder

HOURLY = schedule_yaml("hourly", remediation_job("noop", "api", "staging"), catch_up="all")

REPORT = schedule_yaml("daily-report", "report: {}", cron="0 6 * * *")

REPORTING = (
    "  reporting: {scheduledReportEnabled: true, reportCadence: daily, "
    "reportRecipients: [sre@example.com, lead@example.com]}\n"
)


# The name the other tick test files knew it by (`runner_support.commit_schedules`).
_commit_schedule = commit_schedules


def _fires(events: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((e["subject"], e["verb"]) for e in events if e.get("stream") == "schedules")


def test_racing_ticks_fire_each_fire_once_and_apply_runs_the_requests(tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", recorder(log))})
    commit_schedules(tmp_path, bare, {"hourly": HOURLY}, "2026-11-23T06:30:00Z")
    clones = [clone(tmp_path, bare, f"runner-{i}") for i in range(4)]
    now = "2026-11-23T10:10:00Z"  # fires at 07:00, 08:00, 09:00, 10:00 UTC (CET = UTC+1)
    procs = [start(c, "tick", "--format", "json", now=now) for c in clones]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    names = [f"hourly-20261123T{h:02d}00Z" for h in (7, 8, 9, 10)]
    events = remote_events(tmp_path, bare)
    assert _fires(events) == Counter({(n, "fire"): 1 for n in names})
    fired = [f["fire"] for out, _ in outputs for f in json.loads(out)["fires"]]
    assert sorted(fired) == names  # each reported by exactly the runner that fired it
    again = remediate(clones[0], "tick", "--format", "json", now=now)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["fires"] == []
    done = remediate(clones[1], "apply", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert executions(log) == Counter(names)  # the normal policy path: decided, run once
    fire = next(e for e in events if e.get("subject") == names[0])
    assert fire["details"]["request"]["spec"]["serviceName"] == "api"
    assert fire["details"]["evaluatedAt"] == "2026-11-23T10:10:00.000Z"
    assert fire["at"] != fire["details"]["evaluatedAt"]  # the runner's real time
    check = clone(tmp_path, bare, "verify")
    verify = remediate(check, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    status = json.loads(remediate(check, "status", "--format", "json").stdout)
    assert {r["requestId"]: r["status"] for r in status["requests"]} == dict.fromkeys(
        names, "COMPLETED"
    )


def test_missed_fires_are_recorded_and_a_scheduled_report_is_sent_once(tmp_path: Path) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, {"daily-report": REPORT}, "2026-11-20T12:00:00Z", REPORTING)
    inbox = Inbox(refuse={"lead@example.com"})
    with smtp_server(inbox, None, starttls=False, auth=False) as port:
        env = cli_env("2026-11-23T05:20:00Z", **smtp_env(port, None, "none", credentials=False))
        clones = [clone(tmp_path, bare, f"runner-{i}") for i in range(3)]
        procs = [start(c, "tick", "--format", "json", env=env) for c in clones]
        outputs = [p.communicate(timeout=180) for p in procs]
        codes = sorted(p.returncode for p in procs)
        # the one runner that fired it sent it; one recipient refused → that tick exits 1
        assert codes == [0, 0, 1], outputs
        later = remediate(clones[0], "tick", "--format", "json", env=env)
        assert later.returncode == 0 and json.loads(later.stdout)["fires"] == []
    assert len(inbox.received) == 1  # one fire, one message, however many ticks
    assert inbox.received[0][0] == ["sre@example.com"]
    events = remote_events(tmp_path, bare)
    subject = "daily-report-20261123T0500Z"
    assert _fires(events) == Counter({(subject, "fire"): 1, (subject, "done"): 1})
    fire = next(e for e in events if e.get("subject") == subject and e["verb"] == "fire")
    # fires on 21 and 22 November at 06:00 Berlin were missed: latest runs only the last
    assert fire["details"]["missed"] == {
        "first": "2026-11-21T05:00:00.000Z",
        "last": "2026-11-22T05:00:00.000Z",
        "count": 2,
        "exact": True,
    }
    done = next(e for e in events if e.get("subject") == subject and e["verb"] == "done")
    assert done["details"]["status"] == "failed"
    runs = [e for e in events if e.get("stream") == "reports"]
    assert {e["details"]["run"]["id"] for e in runs} == {done["details"]["outcome"]["reportRun"]}


def test_catch_up_none_records_a_late_fire_as_missed(tmp_path: Path) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    text = HOURLY.replace("catchUp: all", "catchUp: none").replace('"0 * * * *"', '"0 6 * * *"')
    commit_schedules(tmp_path, bare, {"hourly": text}, "2026-11-22T12:00:00Z")
    runner = clone(tmp_path, bare, "runner")
    done = remediate(runner, "tick", now="2026-11-23T07:30:00Z")  # 06:00 Berlin = 05:00Z
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "hourly-20261123T0500Z: missed (1 missed fire(s) from 2026-11-23T05:00:00.000Z "
        "to 2026-11-23T05:00:00.000Z)\n"
    )
    events = remote_events(tmp_path, bare)
    assert _fires(events) == Counter({("hourly-20261123T0500Z", "miss"): 1})
    assert remediate(runner, "status", "--format", "json").stdout.count("hourly-") == 0


def test_a_missed_remediation_fire_makes_no_request_apply_runs(tmp_path: Path) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    text = HOURLY.replace("catchUp: all", "catchUp: none").replace('"0 * * * *"', '"0 6 * * *"')
    commit_schedules(tmp_path, bare, {"hourly": text}, "2026-11-22T12:00:00Z")
    runner = clone(tmp_path, bare, "runner")
    assert remediate(runner, "tick", now="2026-11-23T07:30:00Z").returncode == 0
    applied = remediate(runner, "apply")
    assert applied.returncode == 0, applied.stderr
    assert "hourly-" not in applied.stdout
    events = remote_events(tmp_path, bare)
    assert [e for e in events if e.get("requestId", "").startswith("hourly-")] == []
    assert remediate(runner, "plan", "--format", "json").stdout.count("hourly-") == 0


SCAN = schedule_yaml(
    "scan", "import: {source: @SOURCE@}", cron="0 6 * * *", timezone="UTC", catch_up=None
)
SARIF = {
    "version": "2.1.0",
    "runs": [
        {
            "tool": {"driver": {"name": "bandit", "rules": [{"id": "B307"}]}},
            "results": [
                {
                    "ruleId": "B307",
                    "level": "warning",
                    "message": {
                        "text": "Use of possibly insecure function - consider ast.literal_eval."
                    },
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": "app.py"},
                                "region": {"startLine": 3, "snippet": {"text": "eval(x)"}},
                            }
                        }
                    ],
                }
            ],
        }
    ],
}


def test_an_import_job_imports_the_sarif_the_workflow_left_in_the_checkout(
    tmp_path: Path,
) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(
        tmp_path, bare, {"scan": SCAN.replace("@SOURCE@", "scans")}, "2026-11-22T12:00:00Z"
    )
    runner = clone(tmp_path, bare, "runner")
    (runner / "scans").mkdir()
    (runner / "scans" / "bandit.sarif").write_text(json.dumps(SARIF))
    done = remediate(runner, "tick", now="2026-11-23T06:30:00Z")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "scan-20261123T0600Z: fired, import: success\n", done.stdout
    found = json.loads(remediate(runner, "findings", "list", "--format", "json").stdout)
    ((finding),) = found["findings"]
    assert finding["ruleId"] == "B307" and finding["status"] == "open"
    again = remediate(runner, "tick", now="2026-11-23T06:45:00Z")  # the same fire: nothing
    assert again.returncode == 0 and "scan-" not in again.stdout


def test_an_import_job_outside_the_checkout_is_refused_by_validate(tmp_path: Path) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    runner = clone(tmp_path, bare, "runner")
    (runner / "schedules").mkdir()
    (runner / "schedules" / "scan.yaml").write_text(SCAN.replace("@SOURCE@", "../out.sarif"))
    done = remediate(runner, "validate")
    assert done.returncode == 1
    assert (
        "schedules/scan.yaml:8: spec.job.import.source: '../out.sarif' must be a path inside "
        "the repository's checkout (no leading `/`, no `..`): a SARIF file, or a directory "
        "whose *.sarif files are imported"
    ) in done.stdout + done.stderr


def test_a_shallow_clone_counts_from_the_commit_that_added_the_schedule(tmp_path: Path) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    daily = HOURLY.replace('"0 * * * *"', '"0 6 * * *"').replace("catchUp: all", "catchUp: latest")
    commit_schedules(tmp_path, bare, {"daily": daily}, "2026-11-22T12:00:00Z")
    # a later commit: in a depth-1 clone it is the boundary, which "adds" every file
    commit_schedules(
        tmp_path,
        bare,
        {"notes": daily.replace("name: hourly", "name: later")},
        "2026-11-23T09:00:00Z",
    )
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{bare}", str(shallow))
    git(shallow, "config", "user.email", "ops@example.com")
    done = remediate(shallow, "tick", "--format", "json", now="2026-11-23T10:10:00Z")
    assert done.returncode == 0, done.stderr
    # 06:00 Berlin on the 23rd is after the schedule's commit (12:00Z on the 22nd), not
    # after the boundary commit (09:00Z on the 23rd): it is due
    assert [f["fire"] for f in json.loads(done.stdout)["fires"]] == ["hourly-20261123T0500Z"]


def test_the_store_deepens_a_shallow_clone_to_find_when_a_schedule_was_added(
    tmp_path: Path,
) -> None:
    from remediate.adapters.git_store import GitStore

    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, {"daily": REPORT}, "2026-11-22T12:00:00Z")
    for n in range(20):  # more than the first deepening step (16 commits)
        commit_schedules(
            tmp_path,
            bare,
            {f"s{n}": REPORT.replace("daily-report", f"s{n}")},
            f"2026-11-23T09:{n:02d}:00Z",
        )
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{bare}", str(shallow))
    store = GitStore(shallow)
    found = store.added_at("HEAD", "schedules")
    assert found["schedules/daily.yaml"] == ("2026-11-22T12:00:00+00:00", "dev@example.com")
    assert found["schedules/s19.yaml"][0] == "2026-11-23T09:19:00+00:00"
    assert len(found) == 21


def test_claim_refs_of_recorded_fires_are_pruned_in_batches(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from remediate.service import tick as ticking
    from tests.sessions import session

    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, {"hourly": HOURLY}, "2026-11-23T06:30:00Z")
    runner = clone(tmp_path, bare, "runner")

    def refs() -> list[str]:
        out = git(
            tmp_path,
            "--git-dir",
            str(bare),
            "for-each-ref",
            "--format=%(refname)",
            "refs/claims-schedules/",
        )
        return out.splitlines()

    first = ticking.tick(session(runner), ticking.parse_time("2026-11-23T08:10:00Z"))
    assert [f.subject for f in first.fires] == ["hourly-20261123T0700Z", "hourly-20261123T0800Z"]
    assert refs() == [
        "refs/claims-schedules/@20261123T0700Z/1",
        "refs/claims-schedules/@20261123T0800Z/1",
    ]  # one group claim per fire time; fewer than PRUNE_GROUPS_AT: kept for now
    monkeypatch.setattr(ticking, "PRUNE_GROUPS_AT", 3)
    second = ticking.tick(session(runner), ticking.parse_time("2026-11-23T09:10:00Z"))
    assert [f.subject for f in second.fires] == ["hourly-20261123T0900Z"]
    assert refs() == []  # three group refs of recorded fires: pruned in one push
    again = ticking.tick(session(runner), ticking.parse_time("2026-11-23T09:10:00Z"))
    assert again.fires == [] and again.taken == []


def test_a_fire_claimed_by_a_runner_that_never_landed_it_is_adopted_not_sent_again(
    tmp_path: Path,
) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    commit_schedules(tmp_path, bare, {"daily-report": REPORT}, "2026-11-22T12:00:00Z", REPORTING)
    first, second = clone(tmp_path, bare, "first"), clone(tmp_path, bare, "second")
    hook = bare / "hooks" / "pre-receive"  # the first runner "dies" after its claim push
    hook.write_text(
        "#!/bin/sh\n"
        "while read old new ref; do\n"
        '  [ "$ref" = refs/heads/main ] || continue\n'
        '  if git log -1 --format=%s "$new" | grep -q "^remediate tick: "; then\n'
        "    echo 'the runner is gone' >&2; exit 1\n"
        "  fi\n"
        "done\n"
    )
    hook.chmod(0o755)
    inbox = Inbox()
    with smtp_server(inbox, None, starttls=False, auth=False) as port:
        env = cli_env(
            "2026-11-23T05:20:00Z",
            REMEDIATE_PUSH_ATTEMPTS="1",
            **smtp_env(port, None, "none", credentials=False),
        )
        done = remediate(first, "tick", env=env)
        assert done.returncode == 1 and "could not push the audit" in done.stderr, done.stderr
        hook.unlink()
        assert "refs/claims-schedules/@20261123T0500Z/1" in git(tmp_path, "ls-remote", str(bare))
        later = remediate(second, "tick", env=env)
        assert later.returncode == 0, later.stderr
        assert later.stdout == (
            "daily-report-20261123T0500Z: claimed by another runner that did not record it; "
            "recorded now\n"
        )
    assert inbox.received == []  # at most once: the claimer may have sent it
    events = remote_events(tmp_path, bare)
    assert _fires(events) == Counter({("daily-report-20261123T0500Z", "fire"): 1})


def test_a_fired_request_follows_the_approval_path_and_its_requester_cannot_approve_it(
    tmp_path: Path,
) -> None:
    log = tmp_path / "executions.log"
    bare = make_remote(
        tmp_path, decision="require_approval", actions={"noop": action_yaml("noop", recorder(log))}
    )
    daily = HOURLY.replace('"0 * * * *"', '"0 6 * * *"').replace("catchUp: all", "catchUp: latest")
    commit_schedules(tmp_path, bare, {"daily": daily}, "2026-11-22T12:00:00Z")
    operator = clone(tmp_path, bare, "operator")
    author = clone(tmp_path, bare, "author", email="dev@example.com")
    assert remediate(operator, "tick", now="2026-11-23T10:10:00Z").returncode == 0
    name = "hourly-20261123T0500Z"
    decided = remediate(operator, "apply", "--format", "json")
    assert json.loads(decided.stdout)["decided"] == [
        {"requestId": name, "status": "PENDING_APPROVAL"}
    ]
    own = remediate(author, "approve", name)  # dev@example.com added the schedule
    assert own.returncode == 1
    assert "requested" in own.stderr and "cannot approve" in own.stderr, own.stderr
    approved = remediate(operator, "approve", name)
    assert approved.returncode == 0, approved.stderr
    ran = remediate(operator, "apply", "--format", "json")
    assert ran.returncode == 0, ran.stderr
    assert executions(log) == Counter([name])


def test_a_report_jobs_own_recipients_are_said_to_be_unused(tmp_path: Path) -> None:
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])})
    runner = clone(tmp_path, bare, "runner")
    (runner / "schedules").mkdir()
    (runner / "schedules" / "r.yaml").write_text(
        REPORT.replace("report: {}", "report: {recipients: [a@example.com]}")
    )
    done = remediate(runner, "validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == (
        "schedules/r.yaml:9: warning: spec.job.report.recipients: not used yet: a scheduled "
        "report covers every environment and goes to Settings spec.reporting.reportRecipients"
    )
