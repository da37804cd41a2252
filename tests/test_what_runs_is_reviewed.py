"""What runs is what was reviewed: documents from the fetched tip, approvals bound to the
request and its ActionType, decided again at claim time, the automation's own files as an
admin made them (PRODUCT.md, Lifecycle). Real git (a bare remote and clones), real
`remediate` processes, real actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.runner_support import (
    OPERATOR,
    OPERATOR2,
    REQUESTER,
    SETTINGS,
    action_yaml,
    clone,
    git,
    json_out,
    make_remote,
    remediate,
    request_yaml,
)
from tests.sessions import Wrapped, session

ADMIN = "admin@example.com"

NEEDS_APPROVAL_IN_PRODUCTION = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: production-safety}
spec:
  match: {environments: [production]}
  rules:
    - name: production-needs-sre
      effect: require_approval
      approvals: {min: 1, from: ["team:sre"]}
"""

BLOCK_STAGING = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: freeze}
spec:
  blockedEnvironments: [staging]
"""


def marker(log: Path, word: str) -> list[str]:
    """An action that appends `word` to `log`: which argv ran, not only whether one did."""
    return ["/bin/sh", "-c", f"echo {word} >> {log}"]


def ran(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def status(repo: Path, name: str) -> dict[str, Any]:
    found = json_out(remediate(repo, "status", name, "--format", "json"))
    assert isinstance(found, dict)
    return found


def push_as(repo: Path, email: str, path: str, text: str, message: str) -> None:
    """Commit `text` at `path` as `email` and push it to main."""
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    git(repo, "add", "-A", email=email)
    git(repo, "commit", "-qm", message, email=email)
    git(repo, "push", "-q", "origin", "HEAD:main", email=email)


def test_an_uncommitted_policy_edit_does_not_run(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    bare = make_remote(
        tmp_path,
        decision="allow",
        actions={"noop": action_yaml("noop", marker(log, "committed"))},
        policies={"production-safety": NEEDS_APPROVAL_IN_PRODUCTION},
        requests={"rem-1": request_yaml("rem-1", env="production")},
    )
    runner = clone(tmp_path, bare, "runner")
    # The attack of the issue: edit the policy in the runner's checkout, commit nothing.
    allow = NEEDS_APPROVAL_IN_PRODUCTION.replace("effect: require_approval", "effect: allow")
    (runner / "policies" / "production-safety.yaml").write_text(
        allow.replace('      approvals: {min: 1, from: ["team:sre"]}\n', "")
    )
    done = remediate(runner, "apply", "--format", "json")
    report = json_out(done)
    assert report["executed"] == []
    assert report["decided"] == [{"requestId": "rem-1", "status": "PENDING_APPROVAL"}]
    assert ran(log) == []
    (warning,) = report["warnings"]
    assert "policies/production-safety.yaml; every document is read from" in warning
    assert "remediate: warning: ignoring 1 file(s) of the working tree" in done.stderr
    # plan previews the working tree, and says that it is not what apply reads
    planned = remediate(runner, "plan", "--format", "json")
    assert json_out(planned)["decisions"][0]["status"] == "QUEUED"  # the local edit
    (differs,) = json_out(planned)["warnings"]
    assert differs.startswith("the working tree differs from origin/main (")
    assert differs.endswith(
        "which apply and the verbs read: policies/production-safety.yaml; "
        "this plan shows the working tree"
    )
    git(runner, "checkout", "-q", "--", "policies")
    clean = remediate(runner, "plan")
    assert clean.returncode == 0 and "warning" not in clean.stderr


def test_an_uncommitted_argv_edit_does_not_run(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    bare = make_remote(
        tmp_path,
        decision="allow",
        actions={"noop": action_yaml("noop", marker(log, "committed"))},
        requests={"rem-1": request_yaml("rem-1")},
    )
    runner = clone(tmp_path, bare, "runner")
    (runner / "actions" / "noop.yaml").write_text(action_yaml("noop", marker(log, "local")))
    report = json_out(remediate(runner, "apply", "--format", "json"))
    assert report["executed"] == [{"requestId": "rem-1", "status": "COMPLETED"}]
    assert ran(log) == ["committed"]  # the reviewed argv, never the local one
    assert "actions/noop.yaml" in report["warnings"][0]


def test_a_checkout_one_commit_behind_does_not_run_what_main_now_blocks(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    bare = make_remote(
        tmp_path,
        decision="allow",
        actions={"noop": action_yaml("noop", marker(log, "ran"))},
        requests={"rem-1": request_yaml("rem-1")},
    )
    runner = clone(tmp_path, bare, "runner")  # then never pulled
    admin = clone(tmp_path, bare, "admin", email=ADMIN)
    push_as(admin, ADMIN, "policies/freeze.yaml", BLOCK_STAGING, "freeze staging")
    report = json_out(remediate(runner, "apply", "--format", "json"))
    assert report["executed"] == []
    assert report["decided"] == [{"requestId": "rem-1", "status": "POLICY_VIOLATION"}]
    assert ran(log) == []
    assert status(runner, "rem-1")["status"] == "POLICY_VIOLATION"


def _approved(tmp_path: Path, log: Path) -> tuple[Path, Path]:
    """rem-1 (staging, defaultDecision require_approval) approved by OPERATOR: QUEUED."""
    bare = make_remote(
        tmp_path,
        decision="require_approval",
        actions={"noop": action_yaml("noop", marker(log, "reviewed"))},
        requests={"rem-1": request_yaml("rem-1")},
    )
    runner = clone(tmp_path, bare, "runner")
    assert json_out(remediate(runner, "apply", "--format", "json"))["decided"] == [
        {"requestId": "rem-1", "status": "PENDING_APPROVAL"}
    ]
    approved = remediate(runner, "approve", "rem-1")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith("QUEUED")
    return bare, runner


def test_an_action_type_edited_after_approval_voids_the_approval(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    bare, runner = _approved(tmp_path, log)
    admin = clone(tmp_path, bare, "admin", email=ADMIN)
    edited = action_yaml("noop", marker(log, "unreviewed"))
    push_as(admin, ADMIN, "actions/noop.yaml", edited, "new argv")
    git(runner, "pull", "-q")  # the runner's checkout is up to date: only the binding matters
    report = json_out(remediate(runner, "apply", "--format", "json"))
    assert report["executed"] == []
    assert report["decided"] == [{"requestId": "rem-1", "status": "PENDING_APPROVAL"}]
    assert ran(log) == []
    explained = json_out(remediate(runner, "explain", "rem-1", "--format", "json"))
    assert explained["status"] == "PENDING_APPROVAL"
    (voided,) = explained["voided"]
    assert voided["by"] == OPERATOR and voided["edit"] == "actionType"
    text = remediate(runner, "explain", "rem-1").stdout
    assert f"the approval by {OPERATOR} (" in text
    assert "was voided by an edit of action type noop" in text
    # approving again, for the new argv, runs the new argv
    assert remediate(runner, "approve", "rem-1").returncode == 0
    assert json_out(remediate(runner, "apply", "--format", "json"))["executed"] == [
        {"requestId": "rem-1", "status": "COMPLETED"}
    ]
    assert ran(log) == ["unreviewed"]


def test_an_action_type_edited_while_the_runner_claims_runs_nothing(tmp_path: Path) -> None:
    """Decided again at claim time: the claim lands on a commit whose ActionType differs
    from the one the runner selected with, so the approval is void and nothing runs."""
    log = tmp_path / "ran.log"
    bare, runner = _approved(tmp_path, log)
    admin = clone(tmp_path, bare, "admin", email=ADMIN)
    edited = action_yaml("noop", marker(log, "unreviewed"))
    pushed: list[bool] = []

    class EditWhileClaiming(Wrapped):
        def push_leases(self, updates: dict[str, Any]) -> dict[str, str]:
            result: dict[str, str] = self.inner.push_leases(updates)
            if not pushed and any(ref.startswith("refs/claims/") for ref in updates):
                pushed.append(True)  # the claim ref is won; the claim event is not pushed yet
                push_as(admin, ADMIN, "actions/noop.yaml", edited, "new argv")
            return result

    from remediate.service.apply import apply

    report = apply(session(runner, store=EditWhileClaiming), OPERATOR)
    assert pushed
    assert report.executed == []
    assert report.decided == [("rem-1", "PENDING_APPROVAL")]
    assert ("rem-1", "action type noop was edited: earlier approvals are void") in report.skipped
    assert ran(log) == []
    assert status(runner, "rem-1")["status"] == "PENDING_APPROVAL"


def test_a_non_admin_setting_default_decision_allow_does_not_take_effect(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    bare = make_remote(
        tmp_path,
        decision="require_approval",
        actions={"noop": action_yaml("noop", marker(log, "ran"))},
    )
    dev = clone(tmp_path, bare, "dev", email=REQUESTER)
    git(dev, "checkout", "-qb", "allow-everything")
    (dev / "remediations").mkdir()
    (dev / "remediate.yaml").write_text(SETTINGS.replace("@DECISION@", "allow"))
    (dev / "remediations" / "rem-1.yaml").write_text(request_yaml("rem-1"))
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", "allow everything")
    planned = remediate(dev, "plan", "--base", "origin/main", "--format", "json")
    body = json_out(planned)
    assert body["automation"] == [{"file": "remediate.yaml", "approvers": [ADMIN]}]
    text = remediate(dev, "plan", "--base", "origin/main").stdout
    assert "remediate.yaml changes the automation itself: only an admin may approve it" in text
    assert f"({ADMIN})" in text
    git(dev, "push", "-q", "origin", "HEAD:main")  # no branch protection: it lands
    runner = clone(tmp_path, bare, "runner")
    done = remediate(runner, "apply", "--format", "json")
    report = json_out(done)
    assert report["executed"] == []
    assert report["decided"] == [{"requestId": "rem-1", "status": "PENDING_APPROVAL"}]
    assert ran(log) == []
    (held,) = report["warnings"]
    assert held.startswith("holding back remediate.yaml: the version of ")
    assert f"by {REQUESTER} is not an admin's and does not take effect; using its version of" in (
        held
    )
    assert "remediate: warning: holding back remediate.yaml" in done.stderr
    # the same change, made by an admin, takes effect
    admin = clone(tmp_path, bare, "admin", email=ADMIN)
    text = SETTINGS.replace("@DECISION@", "allow") + "# reviewed\n"
    push_as(admin, ADMIN, "remediate.yaml", text, "allow, as an admin")
    report = json_out(remediate(runner, "apply", "--format", "json"))
    assert report["warnings"] == []
    assert report["executed"] == [{"requestId": "rem-1", "status": "COMPLETED"}]


def test_a_policy_a_non_admin_deletes_stays_in_force(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    bare = make_remote(
        tmp_path,
        decision="allow",
        actions={"noop": action_yaml("noop", marker(log, "ran"))},
        policies={"freeze": BLOCK_STAGING},
    )
    dev = clone(tmp_path, bare, "dev", email=REQUESTER)
    git(dev, "rm", "-q", "policies/freeze.yaml")
    push_as(dev, REQUESTER, "remediations/rem-1.yaml", request_yaml("rem-1"), "unfreeze")
    runner = clone(tmp_path, bare, "runner")
    report = json_out(remediate(runner, "apply", "--format", "json"))
    assert report["decided"] == [{"requestId": "rem-1", "status": "POLICY_VIOLATION"}]
    assert report["warnings"][0].startswith("holding back policies/freeze.yaml: the version of ")
    assert ran(log) == []


def test_a_queued_request_whose_approver_lost_the_role_goes_back_to_pending(
    tmp_path: Path,
) -> None:
    log = tmp_path / "ran.log"
    bare, runner = _approved(tmp_path, log)
    admin = clone(tmp_path, bare, "admin", email=ADMIN)
    without = SETTINGS.replace("@DECISION@", "require_approval").replace(f"{OPERATOR}, ", "")
    assert without != SETTINGS.replace("@DECISION@", "require_approval")
    push_as(admin, ADMIN, "remediate.yaml", without, f"{OPERATOR} leaves team sre")
    git(runner, "pull", "-q")
    report = json_out(remediate(runner, "apply", "--format", "json"))
    assert report["executed"] == []
    assert report["decided"] == [{"requestId": "rem-1", "status": "PENDING_APPROVAL"}]
    assert ran(log) == []
    reason = _last_event(runner, "rem-1")["details"]["reason"]
    assert f"the approval by {OPERATOR} no longer counts: is not an operator" in reason
    # another operator's approval is recorded (it used to exit 0 and record nothing)
    second = clone(tmp_path, bare, "second", email=OPERATOR2)
    approved = remediate(second, "approve", "rem-1")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith("QUEUED")
    assert json_out(remediate(second, "apply", "--format", "json"))["executed"] == [
        {"requestId": "rem-1", "status": "COMPLETED"}
    ]
    assert ran(log) == ["reviewed"]


def _last_event(repo: Path, name: str) -> dict[str, Any]:
    found = json_out(remediate(repo, "actions", "--format", "json"))["events"]
    return next(e for e in found if e["requestId"] == name)
