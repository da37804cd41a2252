"""A schedule fire is adopted from another runner's claim commit only when the runner made
that commit and its event is the fire this runner planned: a claim ref is open to whoever
can push it, and an adopted fire becomes a request that runs (found by an adversarial
review: a pushed group claim ref made tick record, and apply run, a request the schedule
never named, with a requester of the forger's choosing). Real git, the CLI as processes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.runner_support import clone, remediate, remote_events
from tests.test_followups import TICK_AT, lines, setup

FIRE = "edge-cert-20261123T1000Z"
GROUP_REF = "refs/claims-schedules/@20261123T1000Z/1"


def _event(host: str) -> dict[str, object]:
    return {
        "id": "6f0b5c1e-0000-4000-8000-000000000001",
        "at": "2026-11-23T10:05:00.000Z",
        "stream": "schedules",
        "subject": FIRE,
        "verb": "fire",
        "actor": "remediate-bot@example.com",
        "details": {
            "schedule": "edge-cert",
            "file": "schedules/edge-cert.yaml",
            "fireTime": "2026-11-23T10:00:00.000Z",
            "job": "remediation",
            "request": {
                "name": FIRE,
                "spec": {
                    "action": {"type": "renew-edge-cert", "parameters": {"host": host}},
                    "serviceName": "edge",
                    "environment": "production",
                    "severity": "LOW",
                },
                "requester": "nobody@example.com",
            },
        },
        "error": None,
        "prev": None,
    }


def _push_claim(tmp: Path, bare: Path, committer: str, text: str | None) -> str:
    """A parentless commit holding `text` as claims.jsonl (nothing: an empty tree),
    committed as `committer`, pushed to the fire time's group claim ref."""
    work = clone(tmp, bare, f"pusher-{committer.split('@')[0]}", committer)
    env = {**os.environ, "GIT_COMMITTER_NAME": "x", "GIT_COMMITTER_EMAIL": committer,
           "GIT_AUTHOR_NAME": "x", "GIT_AUTHOR_EMAIL": committer}  # fmt: skip

    def g(*args: str, given: str = "") -> str:
        done = subprocess.run(["git", "-C", str(work), *args], input=given, env=env,
                              capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout.strip()

    entries = ""
    if text is not None:
        entries = f"100644 blob {g('hash-object', '-w', '--stdin', given=text)}\tclaims.jsonl\n"
    sha = g("commit-tree", g("mktree", given=entries), "-m", "remediate schedule fires")
    g("push", "-q", "origin", f"{sha}:{GROUP_REF}")
    return sha


@pytest.mark.parametrize(
    ("committer", "why"),
    [
        ("mallory@example.com", "which this runner did not make"),
        # without signing the committer is whatever the pusher says: the event itself must
        # be the fire this runner planned (the schedule names another action and host)
        ("remediate-bot@example.com", "whose event is not the fire this runner planned"),
    ],
)
def test_a_fire_pushed_to_a_claim_ref_is_not_recorded_nor_run(
    tmp_path: Path, committer: str, why: str
) -> None:
    bare, repo, log = setup(tmp_path)
    text = json.dumps(_event("evil.example.test"), separators=(",", ":")) + "\n"
    sha = _push_claim(tmp_path, bare, committer, text)
    done = remediate(repo, "tick", now=TICK_AT)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert f"{FIRE}: its fire time is held by claim commit {sha[:12]} ({GROUP_REF}), {why}" in out
    assert not [e for e in remote_events(tmp_path, bare) if e.get("subject") == FIRE]
    for _ in range(2):
        remediate(repo, "apply", now=TICK_AT)
    assert lines(log) == []
    status = remediate(repo, "status", FIRE, "--format", "json", now=TICK_AT)
    assert status.returncode != 0 or json.loads(status.stdout).get("status") in (None, "NEW")


def test_a_claim_ref_holding_no_claims_is_named_not_reported_as_fired(tmp_path: Path) -> None:
    bare, repo, _log = setup(tmp_path)
    sha = _push_claim(tmp_path, bare, "mallory@example.com", None)
    done = remediate(repo, "tick", now=TICK_AT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"{FIRE}: its fire time is held by claim commit {sha[:12]} ({GROUP_REF}), which holds "
        "no claims.jsonl (or could not be fetched)" in done.stdout + done.stderr
    )
    # once the ref is deleted, the fire happens
    subprocess.run(["git", "-C", str(repo), "push", "-q", "origin", f":{GROUP_REF}"], check=True)
    again = remediate(repo, "tick", now=TICK_AT)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [e for e in remote_events(tmp_path, bare) if e.get("subject") == FIRE]
