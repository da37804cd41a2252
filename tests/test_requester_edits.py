"""Whoever wrote what runs is a requester of it: an edit of someone else's pending request
makes its author one of its requesters, and a file named like a request the audit
recorded (a follow-up, a fire, an auto-remediation) cannot take it over. Both were found
by an adversarial review: OPERATOR2 edited REQUESTER's pending request, or added a file
named like a pending follow-up with another host, approved it themselves, and it ran.
Real git, the CLI as processes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runner_support import (
    OPERATOR,
    OPERATOR2,
    action_yaml,
    clone,
    git,
    make_remote,
    remediate,
    request_yaml,
)
from tests.test_followups import follow_up_events, lines, renewal_remote

NOW = "2026-11-23T10:10:00Z"
REQUEST = """\
apiVersion: remediate/v1
kind: RemediationRequest
metadata: {name: @NAME@}
spec:
  action: {type: @TYPE@, parameters: {host: @HOST@}}
  serviceName: edge
  environment: production
  severity: MEDIUM
"""


def _request(name: str, action: str, host: str) -> str:
    return REQUEST.replace("@NAME@", name).replace("@TYPE@", action).replace("@HOST@", host)


def _push(repo: Path, path: str, text: str, who: str) -> None:
    git(repo, "pull", "-q", "--rebase", "origin", "main", email=who)
    (repo / path).write_text(text)
    git(repo, "add", "-A", email=who)
    git(repo, "commit", "-q", "-m", f"{who} writes {path}", email=who)
    git(repo, "push", "-q", "origin", "HEAD:main", email=who)


def test_the_author_of_an_edit_of_a_pending_request_cannot_approve_it(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    act = action_yaml(
        "noop", ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.serviceName }}"]
    )
    requests = {"r1": request_yaml("r1", service="requested")}
    bare = make_remote(tmp_path, "require_approval", actions={"noop": act}, requests=requests)
    editor = clone(tmp_path, bare, "editor", OPERATOR2)
    assert remediate(editor, "apply", now=NOW).returncode == 0  # r1: PENDING_APPROVAL
    _push(editor, "remediations/r1.yaml", request_yaml("r1", service="edited"), OPERATOR2)
    assert remediate(editor, "apply", now=NOW).returncode == 0  # decided again: edited
    refused = remediate(editor, "approve", "r1", now=NOW)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "requester" in (refused.stdout + refused.stderr).lower()
    assert remediate(editor, "apply", now=NOW).returncode == 0
    assert not log.exists()
    other = clone(tmp_path, bare, "other", OPERATOR)
    approved = remediate(other, "approve", "r1", now=NOW)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert remediate(other, "apply", now=NOW).returncode == 0
    assert log.read_text().splitlines() == ["edited"]


def _renewals(
    tmp: Path, extra: dict[str, str] | None = None, days: float = 10
) -> tuple[Path, Path, Path]:
    """The check `chk` (of a certificate valid for `days` more days: 10, expiring, the
    check fails and its follow-up is made) and `extra` requests; (remote, runner, log)."""
    requests = {"chk": _request("chk", "check-edge-cert", "api.example.test"), **(extra or {})}
    bare, log = renewal_remote(tmp, days=days, requests=requests)
    return bare, clone(tmp, bare, "runner", OPERATOR2), log


def test_a_file_named_like_a_pending_follow_up_does_not_take_it_over(tmp_path: Path) -> None:
    _bare, repo, log = _renewals(tmp_path)
    first = remediate(repo, "apply", "--format", "json", now=NOW)
    assert {"requestId": "renew-chk", "rule": "renew"} in json.loads(first.stdout)["created"]
    evil = _request("renew-chk", "renew-edge-cert", "evil.example.test")
    _push(repo, "remediations/renew-chk.yaml", evil, OPERATOR2)
    again = remediate(repo, "apply", now=NOW)
    assert (
        "remediations/renew-chk.yaml: request renew-chk is one the audit recorded "
        "(followups); this file is not used for it"
    ) in again.stdout + again.stderr
    approved = remediate(repo, "approve", "renew-chk", now=NOW)  # an SRE, not its requester
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert remediate(repo, "apply", now=NOW).returncode == 0
    assert lines(log) == ["renew-chk api.example.test"]  # what the audit recorded, once


def test_a_file_holding_a_follow_ups_name_first_is_named_in_a_note(tmp_path: Path) -> None:
    """The file's request keeps its name and its own path; the follow-up is not made,
    the note says what holds the name, and the audit records it on the check's subject
    (not made, and why), so that it is never made later under that name."""
    squat = {"renew-chk": _request("renew-chk", "renew-edge-cert", "other.example.test")}
    bare, repo, log = _renewals(tmp_path, squat)
    done = remediate(repo, "apply", "--format", "json", now=NOW)
    body = json.loads(done.stdout)
    assert body["created"] == []
    assert {"requestId": "chk", "status": "FAILED"} in body["executed"]
    taken = "the name renew-chk is taken by the request file remediations/renew-chk.yaml"
    assert body["notes"] == [
        f"follow-up renew of chk: no request: {taken}; recorded in the audit, not tried again"
    ]
    (event,) = follow_up_events(tmp_path, bare)
    assert (event["subject"], event["verb"]) == ("chk", "not_made")
    assert event["details"] == {
        "name": "renew-chk",
        "rule": "renew",
        "policy": "certificate-checks",
        "why": taken,
        "status": "FAILED",
        "attempt": 1,
    }
    again = json.loads(remediate(repo, "apply", "--format", "json", now=NOW).stdout)
    assert (again["created"], again["notes"]) == ([], [])
    assert len(follow_up_events(tmp_path, bare)) == 1
    explained = remediate(repo, "explain", "renew-chk", now=NOW)  # the file's own request
    assert "PENDING_APPROVAL" in explained.stdout, explained.stdout + explained.stderr
    assert remediate(repo, "approve", "renew-chk", now=NOW).returncode == 0
    assert remediate(repo, "apply", now=NOW).returncode == 0
    assert lines(log) == ["renew-chk other.example.test"]  # the file's host: its request
    verify = remediate(clone(tmp_path, bare, "check"), "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_taken_name_is_not_noted_when_the_rule_does_not_hold(tmp_path: Path) -> None:
    """A check that passes triggers nothing: no note about a name it would not make."""
    squat = {"renew-chk": _request("renew-chk", "renew-edge-cert", "other.example.test")}
    bare, repo, _log = _renewals(tmp_path, squat, days=80)
    body = json.loads(remediate(repo, "apply", "--format", "json", now=NOW).stdout)
    assert {"requestId": "chk", "status": "COMPLETED"} in body["executed"]
    assert (body["created"], body["notes"]) == ([], [])
    assert follow_up_events(tmp_path, bare) == []


def test_a_name_an_ended_request_held_is_taken_too(tmp_path: Path) -> None:
    """`renew-chk` ran and its file was deleted; a later check `chk` fails: the follow-up
    would share the ended request's lifecycle (and be FINAL at once), so it is not made,
    and the note names the request the audit recorded."""
    early = {"renew-chk": _request("renew-chk", "renew-edge-cert", "early.example.test")}
    bare, log = renewal_remote(tmp_path, requests=early)
    repo = clone(tmp_path, bare, "runner", OPERATOR2)
    assert remediate(repo, "apply", now=NOW).returncode == 0
    assert remediate(repo, "approve", "renew-chk", now=NOW).returncode == 0
    assert remediate(repo, "apply", now=NOW).returncode == 0
    assert lines(log) == ["renew-chk early.example.test"]
    git(repo, "pull", "-q", "--rebase", "origin", "main", email=OPERATOR)
    (repo / "remediations" / "renew-chk.yaml").unlink()
    check = _request("chk", "check-edge-cert", "api.example.test")
    (repo / "remediations" / "chk.yaml").write_text(check)
    git(repo, "add", "-A", email=OPERATOR)
    git(repo, "commit", "-q", "-m", "the check, instead of the renewal", email=OPERATOR)
    git(repo, "push", "-q", "origin", "HEAD:main", email=OPERATOR)
    body = json.loads(remediate(repo, "apply", "--format", "json", now=NOW).stdout)
    assert body["created"] == []
    assert body["notes"] == [
        "follow-up renew of chk: no request: the name renew-chk is taken by request "
        "renew-chk, which the audit recorded (COMPLETED); recorded in the audit, not tried again"
    ]
    (event,) = follow_up_events(tmp_path, bare)
    assert (event["subject"], event["verb"], event["details"]["rule"]) == (
        "chk",
        "not_made",
        "renew",
    )
    assert lines(log) == ["renew-chk early.example.test"]
