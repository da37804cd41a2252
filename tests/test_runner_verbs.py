"""approve, reject, cancel, and the read commands, against real git clones (in-process CLI)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result
from tests.runner_support import (
    NOW,
    OPERATOR,
    OPERATOR2,
    REQUESTER,
    action_yaml,
    clone,
    git,
    make_remote,
    remote_events,
    request_yaml,
)

BLOCK_PRODUCTION = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: global}
spec:
  blockedEnvironments: [production]
"""

Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDIATE_NOW", NOW)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def setup(
    tmp: Path,
    decision: str = "require_approval",
    requester: str = REQUESTER,
    env: str = "staging",
    **requests: str,
) -> tuple[Path, Path, Path]:
    log = tmp / "executions.log"
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp,
        decision,
        actions={"noop": action_yaml("noop", argv)},
        requests=requests or {"rem-1": request_yaml("rem-1", env=env, incident="inc-1")},
        policies={"global": BLOCK_PRODUCTION},
        requester=requester,
    )
    return bare, clone(tmp, bare, "work"), log


def as_(repo: Path, email: str) -> None:
    git(repo, "config", "user.email", email)


def out(result: Result) -> dict[str, object]:
    body: dict[str, object] = json.loads(result.out)
    return body


def test_approve_counts_only_operators_who_did_not_request_it(run_cli: Run, tmp_path: Path) -> None:
    bare, repo, log = setup(tmp_path, requester=OPERATOR2)
    assert run_cli("apply", "--repo", str(repo)).code == 0
    assert out(run_cli("status", "rem-1", "--repo", str(repo), "--format", "json"))["status"] == (
        "PENDING_APPROVAL"
    )
    as_(repo, OPERATOR2)  # an operator, but the requester
    refused = run_cli("approve", "rem-1", "--repo", str(repo))
    assert refused.code == 1
    assert "requested rem-1 and cannot approve it" in refused.err
    as_(repo, "viewer@example.com")
    refused = run_cli("approve", "rem-1", "--repo", str(repo))
    assert refused.code == 1
    assert "viewer@example.com is not an operator" in refused.err
    as_(repo, OPERATOR)
    approved = run_cli("approve", "rem-1", "--repo", str(repo), "--format", "json")
    assert approved.code == 0, approved.err
    assert out(approved) == {"status": "QUEUED", "detail": out(approved)["detail"]}
    before = len(remote_events(tmp_path, bare))
    again = run_cli("approve", "rem-1", "--repo", str(repo), "--format", "json")
    assert (again.code, out(again)["status"]) == (0, "QUEUED")  # its current status, no new work
    assert len(remote_events(tmp_path, bare)) == before
    rejected = run_cli("reject", "rem-1", "--repo", str(repo))
    assert rejected.code == 1
    assert (
        'Cannot reject action in "QUEUED" status — only PENDING_APPROVAL actions can be rejected.'
        in rejected.err
    )
    assert run_cli("apply", "--repo", str(repo)).code == 0
    assert log.read_text().split() == ["rem-1"]


def test_rejection_never_executes(run_cli: Run, tmp_path: Path) -> None:
    bare, repo, log = setup(tmp_path)
    run_cli("apply", "--repo", str(repo))
    as_(repo, OPERATOR)
    done = run_cli(
        "reject",
        "rem-1",
        "--reason",
        "manual rollback instead",
        "--repo",
        str(repo),
        "--format",
        "json",
    )
    assert (done.code, out(done)) == (0, {"status": "REJECTED"})
    run_cli("apply", "--repo", str(repo))
    assert not log.exists()
    event = next(e for e in remote_events(tmp_path, bare) if e["to"] == "REJECTED")
    assert event["actor"] == OPERATOR
    assert event["details"]["reason"] == "manual rollback instead"  # type: ignore[index]


def test_override_of_a_blocked_environment_needs_a_reason(run_cli: Run, tmp_path: Path) -> None:
    bare, repo, log = setup(tmp_path, decision="allow", env="production")
    run_cli("apply", "--repo", str(repo))
    as_(repo, OPERATOR)
    refused = run_cli("approve", "rem-1", "--repo", str(repo), "--format", "json")
    assert refused.code == 1
    body = out(refused)
    assert body["status"] == "POLICY_VIOLATION"
    assert body["violations"]
    assert not log.exists()
    done = run_cli(
        "approve",
        "rem-1",
        "--reason",
        "Safe change window active",
        "--repo",
        str(repo),
        "--format",
        "json",
    )
    assert (done.code, out(done)["status"]) == (0, "QUEUED"), done.err
    override = [e for e in remote_events(tmp_path, bare) if e["details"].get("verb") == "approve"]
    details = override[0]["details"]
    assert details["overrideReason"] == "Safe change window active"
    assert details["violations"] == body["violations"]
    assert override[0]["actor"] == OPERATOR
    run_cli("apply", "--repo", str(repo))
    assert log.read_text().split() == ["rem-1"]


def test_cancel_by_requester_or_operator_before_start(run_cli: Run, tmp_path: Path) -> None:
    bare, repo, log = setup(
        tmp_path,
        decision="allow",
        **{"rem-a": request_yaml("rem-a"), "rem-b": request_yaml("rem-b", service="web")},
    )
    run_cli("apply", "--max", "0", "--repo", str(repo))  # decided QUEUED, nothing executed
    as_(repo, "stranger@example.com")
    refused = run_cli("cancel", "rem-a", "--repo", str(repo))
    assert refused.code == 1 and "neither the requester" in refused.err
    as_(repo, REQUESTER)
    assert run_cli("cancel", "rem-a", "--repo", str(repo)).code == 0
    assert "refs/claims/rem-a/1" in git(tmp_path, "ls-remote", str(bare))  # cancel claims it
    run_cli("apply", "--repo", str(repo))
    assert log.read_text().split() == ["rem-b"]  # the cancelled one never ran
    late = run_cli("cancel", "rem-b", "--repo", str(repo))
    assert late.code == 1 and '"COMPLETED"' in late.err
    assert "refs/claims/" not in git(tmp_path, "ls-remote", str(bare))  # attempts over: pruned


def test_editing_a_queued_request_voids_its_approvals(run_cli: Run, tmp_path: Path) -> None:
    bare, repo, log = setup(tmp_path)
    run_cli("apply", "--repo", str(repo))
    as_(repo, OPERATOR)
    assert run_cli("approve", "rem-1", "--repo", str(repo)).code == 0
    author = clone(tmp_path, bare, "author", email=REQUESTER)
    (author / "remediations" / "rem-1.yaml").write_text(
        request_yaml("rem-1", incident="inc-1", note="now with a different target")
    )
    git(author, "commit", "-qam", "edit")
    git(author, "push", "-q", "origin", "HEAD:main")
    git(repo, "pull", "-q")
    run_cli("apply", "--repo", str(repo))
    status = out(run_cli("status", "rem-1", "--repo", str(repo), "--format", "json"))
    assert status["status"] == "PENDING_APPROVAL"
    assert not log.exists()


def test_approving_a_changed_request_is_stale(run_cli: Run, tmp_path: Path) -> None:
    _bare, repo, _log = setup(tmp_path)
    run_cli("apply", "--repo", str(repo))
    (repo / "remediations" / "rem-1.yaml").write_text(request_yaml("rem-1", note="edited"))
    git(repo, "commit", "-qam", "edit", email=REQUESTER)
    git(repo, "push", "-q")  # the runner acts on the fetched tip: a local commit is ignored
    as_(repo, OPERATOR)
    stale = run_cli("approve", "rem-1", "--repo", str(repo))
    assert stale.code == 1
    assert "changed since it was evaluated" in stale.err


def test_read_commands_machine_output(run_cli: Run, tmp_path: Path) -> None:
    _bare, repo, _log = setup(
        tmp_path,
        decision="allow",
        **{"rem-a": request_yaml("rem-a", incident="inc-7"), "rem-b": request_yaml("rem-b")},
    )
    run_cli("apply", "--repo", str(repo))
    rows = out(run_cli("status", "--repo", str(repo), "--format", "json"))["requests"]
    assert [r["requestId"] for r in rows] == ["rem-a", "rem-b"]  # type: ignore[index,union-attr]
    assert set(rows[0]) >= {  # type: ignore[index]
        "requestId",
        "status",
        "actionType",
        "environment",
        "serviceName",
        "updatedAt",
    }
    events = out(run_cli("history", "inc-7", "--repo", str(repo), "--format", "json"))["events"]
    assert [e["to"] for e in events] == ["COMPLETED", "EXECUTING", "QUEUED"]  # type: ignore[index,union-attr]
    assert set(events[0]) >= {  # type: ignore[index]
        "id",
        "at",
        "requestId",
        "incidentId",
        "actionType",
        "serviceName",
        "environment",
        "from",
        "to",
        "actor",
        "details",
        "error",
        "prev",
    }
    done = run_cli(
        "actions", "--status", "COMPLETED", "--limit", "1", "--repo", str(repo), "--format", "json"
    )
    assert len(out(done)["events"]) == 1  # type: ignore[arg-type]
    assert run_cli("actions", "--limit", "0", "--repo", str(repo)).code == 2
    missing = run_cli("status", "rem-zzz", "--repo", str(repo))
    assert missing.code == 1 and "Traceback" not in missing.err


def test_runner_commits_name_the_person_and_only_add_audit_files(
    run_cli: Run, tmp_path: Path
) -> None:
    bare, repo, _ = setup(tmp_path)
    run_cli("apply", "--repo", str(repo))
    as_(repo, OPERATOR)
    assert run_cli("approve", "rem-1", "--repo", str(repo)).code == 0
    log = git(tmp_path, "--git-dir", str(bare), "log", "-1", "--format=%ae|%ce|%B", "main")
    author, committer, body = log.split("|", 2)
    assert (author, committer) == (OPERATOR, "remediate-bot@example.com")
    assert "rem-1: PENDING_APPROVAL -> QUEUED" in body
    assert "Remediation-Id: rem-1" in body
    changes = git(
        tmp_path,
        "--git-dir",
        str(bare),
        "log",
        "--format=",
        "--name-status",
        "--committer=remediate-bot@example.com",
        "main",
    )
    assert changes and all(
        line.startswith("A\taudit/") for line in changes.splitlines() if line.strip()
    )


def test_dry_run_records_and_runs_nothing(run_cli: Run, tmp_path: Path) -> None:
    bare, repo, log = setup(tmp_path, decision="allow")
    before = git(tmp_path, "--git-dir", str(bare), "rev-parse", "main")
    done = run_cli("apply", "--dry-run", "--repo", str(repo), "--format", "json")
    assert done.code == 0, done.err
    body = out(done)
    assert body["decided"] == [{"requestId": "rem-1", "status": "QUEUED"}]
    assert git(tmp_path, "--git-dir", str(bare), "rev-parse", "main") == before
    assert not log.exists()


def test_identity_comes_from_the_github_event_inside_actions(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bare, repo, _ = setup(tmp_path)
    run_cli("apply", "--repo", str(repo))
    as_(repo, OPERATOR)  # ignored inside GitHub Actions
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"sender": {"login": "mallory"}}))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    refused = run_cli("approve", "rem-1", "--repo", str(repo))
    assert refused.code == 1 and "mallory is not an operator" in refused.err


TWO_SRE = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: two-sre}
spec:
  rules:
    - name: two-sre
      effect: require_approval
      approvals: {min: 2, from: ["team:sre"]}
"""


def test_approvals_that_do_not_count_say_why(run_cli: Run, tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        "allow",
        actions={"noop": action_yaml("noop", argv)},
        requests={"rem-2": request_yaml("rem-2")},
        policies={"two-sre": TWO_SRE},
    )
    repo = clone(tmp_path, bare, "work")
    run_cli("apply", "--repo", str(repo))
    as_(repo, "admin@example.com")  # an operator (admin), but not in team:sre
    refused = run_cli("approve", "rem-2", "--repo", str(repo))
    assert refused.code == 1
    assert "does not count: is not one of team:sre" in refused.err
    as_(repo, OPERATOR)
    first = run_cli("approve", "rem-2", "--repo", str(repo), "--format", "json")
    assert (first.code, out(first)["status"]) == (0, "PENDING_APPROVAL")
    twice = run_cli("approve", "rem-2", "--repo", str(repo))
    assert twice.code == 1 and "already approved" in twice.err
    as_(repo, OPERATOR2)
    second = run_cli("approve", "rem-2", "--repo", str(repo), "--format", "json")
    assert (second.code, out(second)["status"]) == (0, "QUEUED")
    run_cli("apply", "--repo", str(repo))
    assert log.read_text().split() == ["rem-2"]


NOON_WINDOW = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: noon-window}
spec:
  changeWindows: [{cron: "0 12 * * *", duration: 1h, timezone: UTC}]
"""


def test_apply_leaves_requests_deferred_by_a_change_window(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "executions.log"
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        "allow",
        actions={"noop": action_yaml("noop", argv)},
        requests={"rem-w": request_yaml("rem-w")},
        policies={"noon-window": NOON_WINDOW},
    )
    repo = clone(tmp_path, bare, "work")
    from remediate.service.apply import apply
    from tests.sessions import session

    # the runner's clock, injected through the Clock port (REMEDIATE_NOW never sets it)
    report = apply(session(repo, now="2026-11-23T10:00:00Z"), None).as_json()
    assert report["skipped"] == [
        {"requestId": "rem-w", "reason": "deferred until 2026-11-23T12:00:00.000Z"}
    ]
    assert not log.exists()
    report = apply(session(repo, now="2026-11-23T12:30:00Z"), None).as_json()
    assert report["executed"] == [{"requestId": "rem-w", "status": "COMPLETED"}]
    assert log.read_text().split() == ["rem-w"]


def test_two_operators_approving_at_once_both_count(run_cli: Run, tmp_path: Path) -> None:
    import threading

    from remediate.service import verbs
    from tests.sessions import Wrapped, session

    bare = make_remote(
        tmp_path,
        "allow",
        actions={"noop": action_yaml("noop", ["true"])},
        requests={"rem-2": request_yaml("rem-2")},
        policies={"two-sre": TWO_SRE},
    )
    repo = clone(tmp_path, bare, "work")
    run_cli("apply", "--max", "0", "--repo", str(repo))
    one, two = clone(tmp_path, bare, "one", OPERATOR), clone(tmp_path, bare, "two", OPERATOR2)
    # both decide on the same audit (one approval each, not enough alone), then push in turn:
    # each first push waits for the other approval to be built on the same snapshot
    same_snapshot = threading.Barrier(2, timeout=10)
    calls: list[str] = []

    def in_step(actor: str) -> type[Wrapped]:
        class InStep(Wrapped):
            def push_branch(self, sha: str) -> tuple[str, str]:
                calls.append(actor)
                if calls.count(actor) == 1:
                    same_snapshot.wait()
                    if actor == OPERATOR2:
                        time.sleep(0.5)
                return self.inner.push_branch(sha)  # type: ignore[no-any-return]

        return InStep

    threads = [
        threading.Thread(target=verbs.approve, args=(session(r, store=in_step(who)), "rem-2", None))
        for r, who in ((one, OPERATOR), (two, OPERATOR2))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert calls.count(OPERATOR2) == 2  # rejected once, then rebuilt on the first approval
    git(repo, "pull", "-q")
    status = out(run_cli("status", "rem-2", "--repo", str(repo), "--format", "json"))
    assert status["status"] == "QUEUED"
    assert run_cli("audit", "verify", "--repo", str(repo)).code == 0


def test_an_edited_queued_request_still_allowed_runs_and_can_be_cancelled(
    run_cli: Run, tmp_path: Path
) -> None:
    bare, repo, log = setup(
        tmp_path,
        decision="allow",
        **{"rem-a": request_yaml("rem-a"), "rem-b": request_yaml("rem-b", service="web")},
    )
    assert run_cli("apply", "--max", "0", "--repo", str(repo)).code == 0  # both QUEUED
    author = clone(tmp_path, bare, "author", email=REQUESTER)
    for name, service in (("rem-a", "api"), ("rem-b", "web")):
        (author / "remediations" / f"{name}.yaml").write_text(
            request_yaml(name, service=service, note="edited while queued")
        )
    git(author, "commit", "-qam", "edit")
    git(author, "push", "-q", "origin", "HEAD:main")
    git(repo, "pull", "-q")
    done = run_cli("apply", "--max", "0", "--repo", str(repo), "--format", "json")
    assert done.code == 0, done.err  # re-decided, still QUEUED, under a new attempt
    assert sorted(d["requestId"] for d in out(done)["decided"]) == ["rem-a", "rem-b"]  # type: ignore[union-attr]
    as_(repo, REQUESTER)
    cancelled = run_cli("cancel", "rem-a", "--repo", str(repo))
    assert cancelled.code == 0, cancelled.err  # not "was just claimed"
    git(author, "pull", "-q", "--rebase")
    (author / "remediations" / "rem-b.yaml").write_text(
        request_yaml("rem-b", service="web", note="edited again")
    )
    git(author, "commit", "-qam", "edit again")
    git(author, "push", "-q", "origin", "HEAD:main")
    git(repo, "pull", "-q")
    done = run_cli("apply", "--repo", str(repo), "--format", "json")  # re-decides, then runs
    assert done.code == 0, done.err
    assert out(done)["decided"] == [{"requestId": "rem-b", "status": "QUEUED"}]
    assert out(done)["executed"] == [{"requestId": "rem-b", "status": "COMPLETED"}]
    assert log.read_text().split() == ["rem-b"]
    statuses = {
        r["requestId"]: r["status"]  # type: ignore[index]
        for r in out(run_cli("status", "--repo", str(repo), "--format", "json"))["requests"]  # type: ignore[union-attr]
    }
    assert statuses == {"rem-a": "CANCELLED", "rem-b": "COMPLETED"}
    assert run_cli("audit", "verify", "--repo", str(repo)).code == 0


CAROL = "carol@example.com"  # an operator, and the requester
ALICE = "alice@example.com"  # an operator who only moves the file


def _operators(repo: Path, *emails: str) -> None:
    settings = repo / "remediate.yaml"
    text = settings.read_text().replace(
        f"sre: [{OPERATOR}", f"sre: [{', '.join(emails)}, {OPERATOR}"
    )
    settings.write_text(text)


@pytest.mark.parametrize("moved", ["after the decision", "before the decision"])
def test_moving_a_request_file_does_not_make_the_mover_its_requester(
    run_cli: Run, tmp_path: Path, moved: str
) -> None:
    bare = make_remote(
        tmp_path,
        "require_approval",
        actions={"noop": action_yaml("noop", ["true"])},
        requests={"rem-p": request_yaml("rem-p", env="production")},
        requester=CAROL,
    )
    repo = clone(tmp_path, bare, "work")
    _operators(repo, CAROL, ALICE)
    git(repo, "commit", "-qam", "carol and alice are operators", email="admin@example.com")
    git(repo, "push", "-q", "origin", "HEAD:main")

    def move() -> None:
        (repo / "remediations" / "prod").mkdir()
        git(repo, "mv", "remediations/rem-p.yaml", "remediations/prod/rem-p.yaml")
        git(repo, "commit", "-qm", "tidy", email=ALICE)
        git(repo, "push", "-q", "origin", "HEAD:main")

    if moved == "before the decision":
        move()
    assert run_cli("apply", "--repo", str(repo)).code == 0
    if moved == "after the decision":
        move()
    as_(repo, CAROL)
    refused = run_cli("approve", "rem-p", "--repo", str(repo))
    assert refused.code == 1
    assert f"{CAROL} requested rem-p and cannot approve it: the requester never counts" in (
        refused.err
    )
    status = out(run_cli("status", "rem-p", "--repo", str(repo), "--format", "json"))
    assert status["status"] == "PENDING_APPROVAL"
    as_(repo, OPERATOR)
    approved = run_cli("approve", "rem-p", "--repo", str(repo), "--format", "json")
    assert (approved.code, out(approved)["status"]) == (0, "QUEUED"), approved.err
