"""Reproductions of what the adversarial review of the checkpoint, carrier, fast-forward,
vouching and monthly rate-limit work found broken.

Each test states the contract's expectation and is marked xfail(strict=True): it fails
today, and the suite turns red (XPASS) the day a fix lands, so the marker is removed with
the fix. The attack is in a comment at the top of each test.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.review_support import add_request, logging_remote, ran
from tests.runner_support import (
    RUNNER,
    clone,
    git,
    remediate,
)

# --- refs/remediate/carrier: "nothing trusts it" -------------------------------------------


def _v3_checkpoint(bare: Path) -> str:
    """The remote's checkpoint as a runner of format version 3 would have written it (the
    same tree, `checkpoint.json` saying version 3), committed by the runner's identity."""
    current = git(bare, "rev-parse", "refs/remediate/checkpoint")
    data = json.loads(git(bare, "show", f"{current}:checkpoint.json"))
    data["version"] = 3
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=bare, input=json.dumps(data), capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    listing = [
        f"100644 blob {blob}\tcheckpoint.json" if line.endswith("\tcheckpoint.json") else line
        for line in git(bare, "ls-tree", current).splitlines()
    ]
    tree = subprocess.run(
        ["git", "mktree"], cwd=bare, input="\n".join(listing) + "\n",
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return git(bare, "commit-tree", tree, "-m", "remediate checkpoint", email=RUNNER)


def _forge(tmp: Path, bare: Path, files: Callable[[Path, str], dict[str, str]]) -> None:
    """Push, in the runner's name (no signing: the documented limit), the runner's
    checkpoint with the files `files(forger, tip)` gives (path in its tree → text)."""
    import os

    from remediate.core import checkpoint as cp

    forger = clone(tmp, bare, f"forger-{len(list(tmp.iterdir()))}", email="mallory@example.com")
    git(forger, "fetch", "--quiet", "origin", f"+{cp.REF}:{cp.REF}")
    changed = files(forger, git(forger, "rev-parse", "origin/main"))
    env = {**os.environ, "GIT_INDEX_FILE": str(tmp / "forged.index")}

    def plumb(*args: str, given: str | None = None) -> str:
        done = subprocess.run(["git", *args], cwd=forger, env=env, input=given,
                              capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout.strip()

    plumb("read-tree", cp.REF)
    for where, text in changed.items():
        made = plumb("hash-object", "-w", "--stdin", given=text)
        plumb("update-index", "--add", "--cacheinfo", f"100644,{made},{where}")
    forged = git(forger, "commit-tree", plumb("write-tree"), "-m", "remediate checkpoint",
                 email=RUNNER)  # fmt: skip
    git(forger, "push", "--quiet", "--force", "origin", f"{forged}:{cp.REF}")


def _settled_at_tip(path: str, name: str) -> Callable[[Path, str], dict[str, str]]:
    """The checkpoint moved to main's tip (no audit file added since: same states) with
    `path` recorded settled (its blob at the tip, declaring `name`)."""
    from remediate.core import checkpoint as cp

    def files(forger: Path, tip: str) -> dict[str, str]:
        bucket = cp.bucket("files", path)
        entries = json.loads(git(forger, "show", f"{cp.REF}:{bucket}", check=False) or "{}")
        blob = git(forger, "rev-parse", f"{tip}:{path}")
        entries[path] = {"blob": blob, "names": [[name, 3]], "requesters": ["dev@example.com"]}
        manifest = json.loads(git(forger, "show", f"{cp.REF}:{cp.MANIFEST}"))
        manifest["commit"] = tip
        return {bucket: cp.dumps(entries), cp.MANIFEST: cp.dumps(manifest)}

    return files


def test_a_carrier_replaced_by_a_directory_of_refs_does_not_stop_apply(tmp_path: Path) -> None:
    # Attack: anyone who may push deletes refs/remediate/carrier and pushes any commit to
    # refs/remediate/carrier/x. A runner clone that holds the carrier (every clone that
    # wrote or fetched a checkpoint twice) can no longer fetch: apply runs nothing, for
    # ever, until someone deletes the ref by hand.
    log = tmp_path / "log"
    bare = logging_remote(tmp_path, log)
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    person = clone(tmp_path, bare, "person")
    assert remediate(runner, "apply").returncode == 0
    add_request(person, "r2")
    assert remediate(runner, "apply").returncode == 0  # a second checkpoint: the carrier
    assert git(runner, "rev-parse", "--verify", "refs/remediate/carrier")
    attacker = clone(tmp_path, bare, "attacker", email="mallory@example.com")
    git(attacker, "push", "--quiet", "origin", ":refs/remediate/carrier")
    git(attacker, "push", "--quiet", "origin", "HEAD:refs/remediate/carrier/x")
    add_request(person, "r3")
    done = remediate(runner, "apply")
    assert done.returncode == 0, done.stderr
    assert ran(log) == ["r1", "r2", "r3"]


# --- The checkpoint: an unreadable one at the ref --------------------------------------


@pytest.mark.parametrize("there", ["version-3", "someone-elses-commit"])
def test_an_unreadable_checkpoint_at_the_ref_is_replaced_by_the_next_run(
    tmp_path: Path, there: str
) -> None:
    # Attack: (a) an upgrade: the remote holds a checkpoint of an older VERSION, which the
    # README says costs "one full read"; (b) anyone who may push sets
    # refs/remediate/checkpoint to any commit (here main's tip). Either way no run ever
    # writes a checkpoint again (the push of a root commit onto the ref, without a lease
    # on what it holds, is refused), so each command reads and folds the whole history
    # for ever, and `refuse_rewritten` has no runner checkpoint to compare with.
    log = tmp_path / "log"
    bare = logging_remote(tmp_path, log)
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    person = clone(tmp_path, bare, "person")
    assert remediate(runner, "apply").returncode == 0
    planted = _v3_checkpoint(bare) if there == "version-3" else git(bare, "rev-parse", "main")
    git(bare, "update-ref", "refs/remediate/checkpoint", planted)
    for name in ("r2", "r3"):
        add_request(person, name)
        assert remediate(runner, "apply").returncode == 0
    assert ran(log) == ["r1", "r2", "r3"]
    now = git(bare, "rev-parse", "refs/remediate/checkpoint")
    assert now != planted
    manifest = json.loads(git(bare, "show", f"{now}:checkpoint.json"))
    assert manifest["version"] == 4
    assert git(bare, "rev-list", "--count", f"{manifest['commit']}..main") in ("0", "1")


# --- Rate limits by month (core/ratelimit.py counted_since) -------------------------------


def test_audit_verify_reports_a_checkpoint_that_records_an_unsettled_request_as_settled(
    tmp_path: Path,
) -> None:
    # Attack: a person who may push and sets the runner's committer e-mail (no
    # runner.signing: what apply is documented to believe) records r2's file as settled in
    # the checkpoint. r2 is then never parsed, decided or run, and never shown as NEW.
    # `audit verify` is what the operator runs to catch such a checkpoint.
    log = tmp_path / "log"
    bare = logging_remote(tmp_path, log)
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    assert remediate(runner, "apply").returncode == 0
    add_request(clone(tmp_path, bare, "person"), "r2")
    _forge(tmp_path, bare, _settled_at_tip("remediations/r2.yaml", "r2"))
    assert remediate(runner, "apply").returncode == 0
    assert ran(log) == ["r1"]  # r2 hidden: believed, as documented without signing
    verified = remediate(runner, "audit", "verify")
    assert verified.returncode == 1, verified.stdout
    assert "does not match the audit" in verified.stdout + verified.stderr


@pytest.mark.parametrize("malformed", ["bucket-not-json", "manifest-nested"])
def test_a_malformed_checkpoint_in_the_runners_name_is_no_traceback(
    tmp_path: Path, malformed: str
) -> None:
    # Attack: the runner's checkpoint pushed again in its name (no signing) with one
    # request bucket that is not JSON, or a checkpoint.json of 100,000 nested lists. "No
    # input, however malformed, produces a Python traceback", and `audit verify` is how
    # the operator finds out what is wrong (the nested manifest stops apply too).
    from remediate.core import checkpoint as cp

    bare = logging_remote(tmp_path, tmp_path / "log")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    assert remediate(runner, "apply").returncode == 0
    if malformed == "bucket-not-json":
        files = {cp.bucket("requests", "r1"): "not json\n"}
    else:
        files = {cp.MANIFEST: "[" * 100_000 + "]" * 100_000}
    _forge(tmp_path, bare, lambda _f, _t: files)
    for command in (("audit", "verify"), ("status",), ("apply",)):
        done = remediate(runner, *command)
        assert "internal error" not in done.stderr, (command, done.stderr)
        assert done.returncode in (0, 1), (command, done.stderr)
