"""The checkpoint's automation record: a run judges who made each automation file from the
record of the last checkpoint and the commits since, so a shallow clone (the
`actions/checkout` default) is deepened only to the checkpoint's commit, never unshallowed;
and a record the running process cannot trust is ignored for the whole history. Real git
(a bare remote, full and `--depth 1` clones), real `remediate` processes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from remediate.core import checkpoint as cp
from remediate.core.automation import Record, Version
from tests.runner_support import (
    REQUESTER,
    RUNNER,
    action_yaml,
    cli_env,
    clone,
    git,
    json_out,
    make_remote,
    remediate,
    request_yaml,
)
from tests.test_audit_trust import _key
from tests.test_what_runs_is_reviewed import ADMIN, BLOCK_STAGING, marker, push_as, ran

STAGING = request_yaml("rem-1")  # staging: what BLOCK_STAGING blocks


def _remote(tmp: Path, log: Path) -> Path:
    """A freeze of staging, and 40 commits of history before the first checkpoint (more
    than a shallow clone's first deepening fetches)."""
    bare = make_remote(
        tmp,
        decision="allow",
        actions={"noop": action_yaml("noop", marker(log, "ran"))},
        policies={"freeze": BLOCK_STAGING},
    )
    work = clone(tmp, bare, "history")
    for n in range(40):
        git(work, "commit", "-q", "--allow-empty", "-m", f"history {n}")
    git(work, "push", "-q", "origin", "HEAD:main")
    return bare


def _shallow(tmp: Path, bare: Path, name: str = "shallow") -> Path:
    target = tmp / name
    git(tmp, "clone", "--quiet", "--depth", "1", bare.as_uri(), str(target))
    git(target, "config", "user.email", "ops@example.com")
    return target


def _record(bare: Path) -> dict[str, object]:
    data = json.loads(git(bare, "show", f"{cp.REF}:{cp.AUTOMATION}"))
    assert isinstance(data, dict)
    return data


def _unfreeze(tmp: Path, bare: Path, email: str) -> None:
    """`email` deletes the freeze and adds a staging request in one pushed commit."""
    work = clone(tmp, bare, f"unfreeze-{email.split('@')[0]}", email=email)
    git(work, "rm", "-q", "policies/freeze.yaml", email=email)
    push_as(work, email, "remediations/rem-1.yaml", STAGING, "unfreeze staging")


def test_apply_records_the_automation_in_force_in_its_checkpoint(tmp_path: Path) -> None:
    bare = _remote(tmp_path, tmp_path / "ran.log")
    assert remediate(clone(tmp_path, bare, "runner"), "apply").returncode == 0
    data = _record(bare)
    summarised = json.loads(git(bare, "show", f"{cp.REF}:{cp.MANIFEST}"))["commit"]
    assert data["commit"] == summarised
    record = Record.from_json(data["record"])
    assert record is not None and record.in_force is not None
    assert record.in_force.path == "remediate.yaml"
    assert set(record.chosen) == {"remediate.yaml", "actions/noop.yaml", "policies/freeze.yaml"}


def test_a_shallow_clone_holds_back_a_non_admins_change_without_unshallowing(
    tmp_path: Path,
) -> None:
    log = tmp_path / "ran.log"
    bare = _remote(tmp_path, log)
    assert remediate(clone(tmp_path, bare, "runner"), "apply").returncode == 0
    for n in range(3):  # history between the checkpoint and the tip
        work = clone(tmp_path, bare, f"filler-{n}")
        push_as(work, REQUESTER, f"notes/{n}.txt", "x\n", f"note {n}")
    _unfreeze(tmp_path, bare, REQUESTER)
    shallow = _shallow(tmp_path, bare)
    done = remediate(shallow, "apply", "--format", "json")
    report = json_out(done)
    assert report["decided"] == [{"requestId": "rem-1", "status": "POLICY_VIOLATION"}]
    assert report["warnings"][0].startswith("holding back policies/freeze.yaml: the version of ")
    assert ran(log) == []
    assert git(shallow, "rev-parse", "--is-shallow-repository") == "true"
    total = int(git(bare, "rev-list", "--count", "main"))
    assert int(git(shallow, "rev-list", "--count", "HEAD")) < total  # not the whole history


def test_a_shallow_clone_takes_an_admins_change_made_after_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    bare = _remote(tmp_path, log)
    assert remediate(clone(tmp_path, bare, "runner"), "apply").returncode == 0
    _unfreeze(tmp_path, bare, ADMIN)
    shallow = _shallow(tmp_path, bare)
    report = json_out(remediate(shallow, "apply", "--format", "json"))
    assert report["warnings"] == []
    assert report["executed"] == [{"requestId": "rem-1", "status": "COMPLETED"}]
    assert ran(log) == ["ran"]
    assert git(shallow, "rev-parse", "--is-shallow-repository") == "true"


def _forge_record(
    tmp: Path,
    bare: Path,
    committer: str,
    key: Path | None = None,
    settings: str | None = None,
    automation: str | None = None,
) -> None:
    """Replace the checkpoint with one whose record says the freeze is gone (its newest
    version, the requester's deletion, chosen), committed as `committer`, signed by `key`;
    with `settings`, the record names a settings blob of that text as in force; with
    `automation`, that text is the whole `automation.json`."""
    work = clone(tmp, bare, "forger", email=committer)
    git(work, "fetch", "-q", "origin", f"+{cp.REF}:{cp.REF}", email=committer)
    data = _record(bare)
    record = Record.from_json(data["record"])
    assert record is not None and record.in_force is not None
    if settings is not None:
        own = _hash(work, settings)
        forced = Version(record.in_force.commit, ADMIN, "remediate.yaml", own)
        record = Record(forced, record.newest, {**record.chosen, "remediate.yaml": forced})
    deletion = record.newest["policies/freeze.yaml"]
    assert deletion.blob is None and deletion.author == REQUESTER
    forged = Record(record.in_force, record.newest, {**record.chosen, deletion.path: deletion})
    text = automation or cp.dumps({"commit": data["commit"], "record": forged.as_json()})
    blob = _hash(work, text)
    listing = git(work, "ls-tree", cp.REF)
    lines = [line for line in listing.splitlines() if not line.endswith(f"\t{cp.AUTOMATION}")]
    lines.append(f"100644 blob {blob}\t{cp.AUTOMATION}")
    if settings is not None:  # pushed with it, so the runner can read the blob it names
        lines.append(f"100644 blob {record.in_force.blob}\tforged-settings.yaml")
    tree = subprocess.run(
        ["git", "mktree"], cwd=work, input="\n".join(lines) + "\n", capture_output=True, text=True
    ).stdout.strip()
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingKey={key}"] if key else []
    args = [*sign, "commit-tree", tree, *(["-S"] if key else []), "-m", "forged"]
    commit = git(work, *args, email=committer)
    git(work, "push", "-q", "--force", "origin", f"{commit}:{cp.REF}", email=committer)


def _hash(work: Path, text: str) -> str:
    done = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=work,
        input=text,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _freeze_then_unfreeze(tmp: Path, log: Path, env: dict[str, str] | None = None) -> Path:
    """A checkpoint, then the requester's deletion of the freeze, then a second checkpoint
    whose record rightly holds the deletion back."""
    bare = _remote(tmp, log)
    runner = clone(tmp, bare, "runner")
    assert remediate(runner, "apply", env=env).returncode == 0
    _unfreeze(tmp, bare, REQUESTER)
    git(runner, "pull", "-q", "--ff-only")
    done = remediate(runner, "apply", "--format", "json", env=env)
    assert json_out(done)["decided"] == [{"requestId": "rem-1", "status": "POLICY_VIOLATION"}]
    return bare


def test_a_record_committed_by_someone_else_is_ignored(tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    bare = _freeze_then_unfreeze(tmp_path, log)
    _forge_record(tmp_path, bare, REQUESTER)
    report = json_out(remediate(_shallow(tmp_path, bare), "apply", "--format", "json"))
    assert report["warnings"][0].startswith("holding back policies/freeze.yaml")
    assert ran(log) == []


def test_a_runner_holding_a_key_ignores_a_record_in_its_name_it_did_not_sign(
    tmp_path: Path,
) -> None:
    """The record names the settings in force, so it cannot vouch for itself: a runner with
    a key trusts only a checkpoint signed by that key. Here the settings sign nothing, the
    forger commits in the runner's name, and the runner (holding a key) walks the history."""
    log = tmp_path / "ran.log"
    key, _ = _key(tmp_path, "runner")
    signed = cli_env(REMEDIATE_SIGNING_KEY=str(key))
    bare = _freeze_then_unfreeze(tmp_path, log, signed)
    _forge_record(tmp_path, bare, RUNNER, _key(tmp_path, "forger")[0])
    report = json_out(remediate(_shallow(tmp_path, bare), "apply", "--format", "json", env=signed))
    assert report["warnings"][0].startswith("holding back policies/freeze.yaml")
    assert ran(log) == []


def test_without_a_key_a_record_in_the_runners_name_is_believed(tmp_path: Path) -> None:
    """The limit docs/guarantees.md states: without signing, the committer is self-asserted
    (as for every audit commit and every admin's authorship), so a forger who can push the
    checkpoint ref can choose the automation; signing the runner's commits closes it."""
    log = tmp_path / "ran.log"
    bare = _freeze_then_unfreeze(tmp_path, log)
    _forge_record(tmp_path, bare, RUNNER)
    report = json_out(remediate(_shallow(tmp_path, bare), "apply", "--format", "json"))
    assert report["warnings"] == []
    assert ran(log) == ["ran"]


def test_a_record_naming_settings_in_which_the_forger_is_the_runner_is_ignored(
    tmp_path: Path,
) -> None:
    """Found by review: without signing, the committer was checked against the identities
    of the settings the record itself names. A forger pushing a settings blob that lists
    their own e-mail as the runner's, and a record naming it, committed as themselves,
    chose the automation. The committer must also be the runner of the settings file at
    the tip, which only a commit on the branch changes."""
    from tests.runner_support import SETTINGS

    log = tmp_path / "ran.log"
    bare = _freeze_then_unfreeze(tmp_path, log)
    theirs = SETTINGS.replace("@DECISION@", "allow").replace(RUNNER, REQUESTER)
    _forge_record(tmp_path, bare, REQUESTER, settings=theirs)
    report = json_out(remediate(_shallow(tmp_path, bare), "apply", "--format", "json"))
    assert report["warnings"][0].startswith("holding back policies/freeze.yaml")
    assert ran(log) == []


def test_a_checkpoint_whose_record_cannot_be_parsed_changes_nothing(tmp_path: Path) -> None:
    """Found by review: a pushed checkpoint ref with 200,000 nested brackets made every
    run end in an internal error (a RecursionError, before the record's author was
    judged). It is ignored: the whole history is judged."""
    log = tmp_path / "ran.log"
    bare = _freeze_then_unfreeze(tmp_path, log)
    _forge_record(tmp_path, bare, REQUESTER, automation="[" * 200_000)
    done = remediate(_shallow(tmp_path, bare), "apply", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json_out(done)["warnings"][0].startswith("holding back policies/freeze.yaml")
    assert ran(log) == []
