"""Only the runner's claims are adopted. Recovery takes the events of a claim commit whose
events never reached the branch (the runner died between the claim push and the branch
push) and writes them as its own; a claim commit someone else pushed in its place must
not launder a forged event into the audit (a re-decision to QUEUED that skips every
approval). Real git, a bare remote, real `remediate` processes."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.runner_support import (
    OPERATOR,
    REQUESTER,
    RUNNER,
    action_yaml,
    cli_env,
    clone,
    git,
    json_out,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
)
from tests.test_audit_trust import _key
from tests.test_what_runs_is_reviewed import ADMIN, marker, ran


def _queued(
    tmp: Path, log: Path, signing: str | None = None, env: dict[str, str] | None = None
) -> Path:
    """rem-1 approved by an operator: QUEUED on the remote, not yet claimed."""
    bare = make_remote(
        tmp,
        decision="require_approval",
        actions={"noop": action_yaml("noop", marker(log, "ran"))},
        requests={"rem-1": request_yaml("rem-1")},
    )
    if signing:
        admin = clone(tmp, bare, "admin", email=ADMIN)
        path = admin / "remediate.yaml"
        lines = [line for line in path.read_text().splitlines() if "runner:" not in line]
        runner = (
            f"  runner: {{name: remediate-bot, email: {RUNNER}, signing: [{json.dumps(signing)}]}}"
        )
        path.write_text("\n".join([*lines, runner]) + "\n")
        git(admin, "commit", "-qam", "sign the runner's commits", email=ADMIN)
        git(admin, "push", "-q", "origin", "HEAD:main", email=ADMIN)
    runner = clone(tmp, bare, "approver")
    assert remediate(runner, "apply", env=env).returncode == 0  # PENDING_APPROVAL
    operator = clone(tmp, bare, "operator", email=OPERATOR)
    done = remediate(operator, "approve", "rem-1", env=env)
    assert done.returncode == 0, done.stderr
    return bare


def _forge_claim(tmp: Path, bare: Path, committer: str, key: Path | None = None) -> None:
    """A claim commit for rem-1's attempts 0 and 1 holding its cancellation, committed as
    `committer` (signed by `key`), pushed to the claim refs."""
    decided = [e for e in remote_events(tmp, bare) if e["requestId"] == "rem-1"][-1]
    assert decided["to"] == "QUEUED"
    work = clone(tmp, bare, "forger", email=committer)
    for attempt in (0, 1):
        event = {
            **decided,
            "id": str(uuid.uuid4()),
            "from": "QUEUED",
            "to": "CANCELLED",
            "actor": REQUESTER,
            "details": {"verb": "cancel", "attempt": attempt, "reason": "forged"},
        }
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=work,
            input=json.dumps(event) + "\n",
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        tree = subprocess.run(
            ["git", "mktree"],
            cwd=work,
            input=f"100644 blob {blob}\tclaims.jsonl\n",
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        sign = ["-c", "gpg.format=ssh", "-c", f"user.signingKey={key}"] if key else []
        commit = git(
            work,
            *sign,
            "commit-tree",
            tree,
            *(["-S"] if key else []),
            "-m",
            "claim",
            email=committer,
        )
        git(work, "push", "-q", "origin", f"{commit}:refs/claims/rem-1/{attempt}", email=committer)


def _not_laundered(tmp: Path, bare: Path, runner: Path, log: Path) -> None:
    """The forged cancellation is not in the audit: rem-1 is still QUEUED. (The forged ref
    holds the attempt, so rem-1 does not run either while it is there: the limit
    docs/guarantees.md states for whoever can push `refs/claims/*`.)"""
    assert not [e for e in remote_events(tmp, bare) if e["details"].get("reason") == "forged"]
    status = json_out(remediate(runner, "status", "rem-1", "--format", "json"))
    assert status["status"] == "QUEUED"
    assert ran(log) == []


def test_a_claim_pushed_by_someone_else_is_not_adopted(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    bare = _queued(tmp_path, log)
    _forge_claim(tmp_path, bare, REQUESTER)
    runner = clone(tmp_path, bare, "runner")
    assert remediate(runner, "apply").returncode == 0
    _not_laundered(tmp_path, bare, runner, log)


@pytest.mark.parametrize("forger", ["another key", "unsigned"])
def test_with_signing_a_claim_in_the_runners_name_it_did_not_sign_is_not_adopted(
    tmp_path: Path, forger: str
) -> None:
    log = tmp_path / "ran.log"
    key, public = _key(tmp_path, "runner")
    signed = cli_env(REMEDIATE_SIGNING_KEY=str(key))
    bare = _queued(tmp_path, log, public, signed)
    other = _key(tmp_path, "forger")[0] if forger == "another key" else None
    _forge_claim(tmp_path, bare, RUNNER, other)
    runner = clone(tmp_path, bare, "runner")
    done = remediate(runner, "apply", env=signed)
    assert done.returncode == 0
    _not_laundered(tmp_path, bare, runner, log)
    # the runner says which ref holds the attempt and how to release it; once released,
    # the request runs, once
    found = re.search(
        r"rem-1: (refs/claims/rem-1/\d) holds a claim commit \w{12} that this "
        r"runner did not make",
        done.stdout + done.stderr,
    )
    assert found, done.stdout + done.stderr
    assert f"(git push origin :{found[1]})" in done.stdout + done.stderr
    git(runner, "push", "-q", "origin", f":{found[1]}")
    again = remediate(runner, "apply", env=signed)
    assert again.returncode == 0, again.stdout + again.stderr
    assert ran(log) == ["ran"]  # the one action of rem-1, once
    assert "did not make" not in again.stdout + again.stderr


@pytest.mark.parametrize("signed_by", ["the runner's key", "unsigned"])
def test_with_signing_a_lock_counts_only_when_the_runner_signed_it(
    tmp_path: Path, signed_by: str
) -> None:
    # A lock is a runner's when `checkpoint.by_runner` says so: with signing, a lock the
    # runner signed holds the target; one in its name but unsigned is named, not obeyed
    # as a lock, and not broken either (the runner did not sign it: it may predate signing).
    from datetime import timedelta

    from remediate.core.commits import Person
    from remediate.core.times import parse_time
    from remediate.service.apply import locks
    from tests.runner_support import NOW
    from tests.sessions import session

    log = tmp_path / "ran.log"
    key, public = _key(tmp_path, "runner")
    signed = cli_env(REMEDIATE_SIGNING_KEY=str(key))
    bare = _queued(tmp_path, log, public, signed)
    holder = clone(tmp_path, bare, "holder")
    store = session(holder, REMEDIATE_SIGNING_KEY=str(key)).store
    if signed_by == "the runner's key":
        store.sign_commits()  # as the runtime does when the settings list keys
    won, _held = locks.acquire(
        store,
        Person("remediate-bot", RUNNER),
        parse_time(NOW),
        {("staging", "api"): timedelta(days=3650)},  # held, whatever the clock,
    )
    assert won == {("staging", "api")}
    done = remediate(clone(tmp_path, bare, "runner"), "apply", env=signed)
    assert ran(log) == []
    if signed_by == "unsigned":
        assert "rem-1: skipped (refs/locks/staging/api holds commit " in done.stdout
        assert "no runner's lock" in done.stdout, done.stdout
    else:
        assert "rem-1: skipped (another runner holds refs/locks/staging/api)" in done.stdout
