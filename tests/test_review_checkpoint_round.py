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
from typing import Any

import pytest

from tests.conftest import Result
from tests.runner_support import (
    RUNNER,
    action_yaml,
    clone,
    git,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
    write_requests,
)


def _add(work: Path, name: str) -> None:
    git(work, "pull", "--quiet", "--rebase")
    write_requests(work, {name: request_yaml(name, service=f"svc-{name}")})
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", f"Add {name}")
    git(work, "push", "--quiet", "origin", "HEAD:main")


def _ran(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _runner_remote(tmp: Path, log: Path) -> Path:
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    return make_remote(
        tmp, actions={"noop": action_yaml("noop", argv)}, requests={"r1": request_yaml("r1")}
    )


# --- refs/remediate/carrier: "nothing trusts it" -------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="fetch takes +refs/remediate/*: a pushed refs/remediate/carrier/x (after deleting "
    "the carrier) is a D/F conflict with the clone's carrier: the fetch fails and every "
    "apply of that clone fails 'cannot reach the remote'",
)
def test_a_carrier_replaced_by_a_directory_of_refs_does_not_stop_apply(tmp_path: Path) -> None:
    # Attack: anyone who may push deletes refs/remediate/carrier and pushes any commit to
    # refs/remediate/carrier/x. A runner clone that holds the carrier (every clone that
    # wrote or fetched a checkpoint twice) can no longer fetch: apply runs nothing, for
    # ever, until someone deletes the ref by hand.
    log = tmp_path / "log"
    bare = _runner_remote(tmp_path, log)
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    person = clone(tmp_path, bare, "person")
    assert remediate(runner, "apply").returncode == 0
    _add(person, "r2")
    assert remediate(runner, "apply").returncode == 0  # a second checkpoint: the carrier
    assert git(runner, "rev-parse", "--verify", "refs/remediate/carrier")
    attacker = clone(tmp_path, bare, "attacker", email="mallory@example.com")
    git(attacker, "push", "--quiet", "origin", ":refs/remediate/carrier")
    git(attacker, "push", "--quiet", "origin", "HEAD:refs/remediate/carrier/x")
    _add(person, "r3")
    done = remediate(runner, "apply")
    assert done.returncode == 0, done.stderr
    assert _ran(log) == ["r1", "r2", "r3"]


# --- The checkpoint: an unreadable one at the ref --------------------------------------


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


@pytest.mark.xfail(
    strict=True,
    reason="draft() leases the ref on '' (must not exist) whenever stored() reads nothing "
    "there, so a v3 checkpoint, or any commit pushed to the ref, is never replaced: every "
    "later run reads every event",
)
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
    bare = _runner_remote(tmp_path, log)
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    person = clone(tmp_path, bare, "person")
    assert remediate(runner, "apply").returncode == 0
    planted = _v3_checkpoint(bare) if there == "version-3" else git(bare, "rev-parse", "main")
    git(bare, "update-ref", "refs/remediate/checkpoint", planted)
    for name in ("r2", "r3"):
        _add(person, name)
        assert remediate(runner, "apply").returncode == 0
    assert _ran(log) == ["r1", "r2", "r3"]
    now = git(bare, "rev-parse", "refs/remediate/checkpoint")
    assert now != planted
    manifest = json.loads(git(bare, "show", f"{now}:checkpoint.json"))
    assert manifest["version"] == 4
    assert git(bare, "rev-list", "--count", f"{manifest['commit']}..main") in ("0", "1")


# --- Rate limits by month (core/ratelimit.py counted_since) -------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="counted_since computes now - per; a valid per of 999999d (2,738 years, the "
    "schema's own bound) is before year 1: OverflowError, exit 70",
)
def test_a_valid_rate_limit_window_longer_than_the_calendar_is_not_a_bug(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    # Attack (a careless admin): `per: 999999d` passes the schema (1 to 6 digits) and
    # `validate`; every command that decides (plan, apply, the verbs) then crashes.
    policy = quickstart / "policies" / "rate-limits.yaml"
    policy.write_text(policy.read_text().replace("per: 1h", "per: 999999d"))
    assert run_cli("validate", "--repo", str(quickstart)).code == 0
    result = run_cli("plan", "--repo", str(quickstart), "--now", "2026-11-23T10:00:00Z")
    assert result.code in (0, 1), result.err
    assert "internal error" not in result.err


# --- Refs anyone may push: a ref where the runner's directory of refs goes -----------------


@pytest.mark.xfail(
    strict=True,
    reason="a pushed refs/claims/<request> (a ref where the directory of its attempts goes) "
    "makes every claim push of refs/claims/<request>/<n> fail; apply reports 'claimed by "
    "another runner', exit 0, names no ref, and the request waits for ever",
)
def test_a_ref_where_a_requests_claim_refs_go_is_named_not_taken_for_a_claim(
    tmp_path: Path,
) -> None:
    # Attack: anyone who may push creates refs/claims/r2 (any commit). Git then refuses
    # refs/claims/r2/1 (a D/F conflict on the remote). Unlike a forged refs/claims/r2/1,
    # which apply names with `git push origin :<ref>`, nothing says why r2 never runs.
    log = tmp_path / "log"
    bare = _runner_remote(tmp_path, log)
    person = clone(tmp_path, bare, "person")
    _add(person, "r2")
    git(person, "push", "--quiet", "origin", "HEAD:refs/claims/r2")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    assert remediate(runner, "apply").returncode == 0
    again = remediate(runner, "apply")
    assert "r2" in _ran(log) or "refs/claims/r2" in again.stderr, (again.stdout, again.stderr)


@pytest.mark.xfail(
    strict=True,
    reason="a pushed refs/claims-schedules/@<fire time> (where that fire time's group refs "
    "go) makes the group claim fail; tick says 'already fired by another runner', exit 0, "
    "and the fire is never recorded",
)
def test_a_ref_where_a_fire_times_group_refs_go_does_not_pass_for_a_fire(tmp_path: Path) -> None:
    # Attack: anyone who may push creates refs/claims-schedules/@20261123T1000Z. Every
    # tick then reports the fire as fired by another runner, and it never happens (a
    # pushed .../@20261123T1000Z/1 is named with its ref: test_tick_forged_claims).
    from tests.test_followups import TICK_AT, setup

    fire = "edge-cert-20261123T1000Z"
    bare, repo, _log = setup(tmp_path)
    pusher = clone(tmp_path, bare, "pusher", "mallory@example.com")
    git(pusher, "push", "--quiet", "origin", "HEAD:refs/claims-schedules/@20261123T1000Z")
    for _ in range(2):
        done = remediate(repo, "tick", now=TICK_AT)
    out = done.stdout + done.stderr
    recorded = [e for e in remote_events(tmp_path, bare) if e.get("subject") == fire]
    assert recorded or "refs/claims-schedules/@20261123T1000Z" in out, out


# --- GitHub vouching: revouch from the oldest commit a vouch names -------------------------


@pytest.mark.xfail(
    strict=True,
    reason="a vouch names every pushed commit GitHub associates with the pull request, "
    "its own commits too (not on the first-parent line): automation_from gives None and "
    "revouched judges the whole history (a shallow clone unshallowed) at every such merge",
)
def test_a_merge_commits_vouch_is_counted_without_the_whole_history(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Attack (an unlucky, ordinary merge): GitHub's push event for a merge commit lists the
    # pull request's commits beside the merge, and GET /commits/{sha}/pulls gives the
    # merged pull request for each. The fake of tests/github_world.py sends the merge
    # alone; here the push is as GitHub sends it. The record's commit is the merge (a run
    # at it came first), so `revouch` need read back only to the merge.
    from remediate.adapters.git_tree import GitTree
    from tests.github_world import merge
    from tests.test_github_automation import (
        ALLOW_STAGING,
        pending_staging_request,
        ran,
        status,
        vouches,
    )

    pending_staging_request(world)
    head = world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "alice")
    sha = merge(world, 8)
    assert world.run_cli("apply", "--repo", str(world.work)).code == 0  # a checkpoint at sha
    world.fake.state.commit_pulls.setdefault(head, []).append(8)  # as GitHub answers
    walked: list[str] = []
    whole = GitTree.automation_history

    def spy(self: GitTree, rev: str, paths: Any) -> Any:
        walked.append(rev)
        return whole(self, rev, paths)

    monkeypatch.setattr(GitTree, "automation_history", spy)
    pushed = [{"id": s, "committer": {"email": "dave@example.com"}} for s in (head, sha)]
    world.event(
        "push",
        {"ref": "refs/heads/main", "after": sha, "commits": pushed,
         "sender": world.fake.user("dave")},
    )  # fmt: skip
    done = world.github()
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1 and status(world, "rem-s") == "COMPLETED"
    assert head in vouches(world)[0]["details"]["commits"]
    assert walked == []  # without the PR's own commit in the push: [] (the whole walk: 1)


# --- Store.fast_forward's fast path (_add_files) -------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="_add_files checks the files out (index and work tree) before the compare-and-"
    "swap of the branch; when the swap loses, it returns False with the runner's audit "
    "files left staged, and the person's next commit carries them",
)
def test_a_fast_forward_that_loses_the_branch_to_a_concurrent_commit_leaves_nothing_staged(
    tmp_path: Path,
) -> None:
    # Attack (an unlucky checkout): a person's `git commit` in the same checkout lands
    # between the path checkout and `update-ref HEAD sha head`. A post-checkout hook stands
    # in for that commit (it moves the branch, leaving the index as it is).
    from tests.sessions import session
    from tests.test_fast_forward import _commit_on, _work

    work = _work(tmp_path)
    sha = _commit_on(work, {"audit/2026/12/a.jsonl": "{}\n"})
    hook = work / ".git" / "hooks" / "post-checkout"
    hook.write_text(
        "#!/bin/sh\n[ -f .git/once ] && exit 0\ntouch .git/once\n"
        'git update-ref HEAD "$(git commit-tree HEAD^{tree} -p HEAD -m concurrent)"\n'
    )
    hook.chmod(0o755)
    assert not session(work).store.fast_forward(sha)  # not a fast-forward any more
    assert git(work, "status", "--porcelain") == ""  # "False, with nothing done"


# --- audit verify and what the checkpoint says of request files ----------------------------


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


@pytest.mark.xfail(
    strict=True,
    reason="verify.compare checks the checkpoint's requesters of each file, not its settled "
    "entries (blob, names) nor streams.json: a checkpoint that records a NEW request's "
    "file as settled hides it from apply for ever, and `audit verify` says intact",
)
def test_audit_verify_reports_a_checkpoint_that_records_an_unsettled_request_as_settled(
    tmp_path: Path,
) -> None:
    # Attack: a person who may push and sets the runner's committer e-mail (no
    # runner.signing: what apply is documented to believe) records r2's file as settled in
    # the checkpoint. r2 is then never parsed, decided or run, and never shown as NEW.
    # `audit verify` is what the operator runs to catch such a checkpoint.
    log = tmp_path / "log"
    bare = _runner_remote(tmp_path, log)
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    assert remediate(runner, "apply").returncode == 0
    _add(clone(tmp_path, bare, "person"), "r2")
    _forge(tmp_path, bare, _settled_at_tip("remediations/r2.yaml", "r2"))
    assert remediate(runner, "apply").returncode == 0
    assert _ran(log) == ["r1"]  # r2 hidden: believed, as documented without signing
    verified = remediate(runner, "audit", "verify")
    assert verified.returncode == 1, verified.stdout
    assert "does not match the audit" in verified.stdout + verified.stderr


@pytest.mark.xfail(
    strict=True,
    reason="a runner-named checkpoint is decoded unguarded: a request bucket that is not "
    "JSON (Stored.bucket) or a manifest nested past the recursion limit (stored() catches "
    "ValueError only) is a traceback, exit 70, in status, stats, audit verify (and apply)",
)
@pytest.mark.parametrize("malformed", ["bucket-not-json", "manifest-nested"])
def test_a_malformed_checkpoint_in_the_runners_name_is_no_traceback(
    tmp_path: Path, malformed: str
) -> None:
    # Attack: the runner's checkpoint pushed again in its name (no signing) with one
    # request bucket that is not JSON, or a checkpoint.json of 100,000 nested lists. "No
    # input, however malformed, produces a Python traceback", and `audit verify` is how
    # the operator finds out what is wrong (the nested manifest stops apply too).
    from remediate.core import checkpoint as cp

    bare = _runner_remote(tmp_path, tmp_path / "log")
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


@pytest.mark.xfail(
    strict=True,
    reason="the fast path sees the file and leaves the fast-forward to `git merge --ff-only`, "
    "which overwrites ignored files by default (--overwrite-ignore): a person's ignored "
    "local file at a path the fetched tip adds is replaced",
)
def test_a_persons_ignored_file_at_an_added_path_is_never_overwritten(tmp_path: Path) -> None:
    # Attack (a careless user, or a hostile one): the checkout ignores local drafts
    # (`remediations/draft-*.yaml`); someone force-adds remediations/draft-1.yaml on the
    # branch. After the runner's next command the person's own draft is gone.
    from tests.sessions import session
    from tests.test_fast_forward import _commit_on, _work

    work = _work(tmp_path)
    base = _commit_on(work, {".gitignore": "remediations/draft-*.yaml\n"})
    git(work, "merge", "--quiet", "--ff-only", base)
    draft = work / "remediations" / "draft-1.yaml"
    draft.parent.mkdir()
    draft.write_text("theirs\n")
    git(work, "add", "--force", "remediations/draft-1.yaml")
    git(work, "commit", "--quiet", "-m", "theirs")
    sha = git(work, "rev-parse", "HEAD")
    git(work, "reset", "--quiet", "--hard", base)
    draft.parent.mkdir(exist_ok=True)
    draft.write_text("my local draft\n")
    session(work).store.fast_forward(sha)
    assert draft.read_text() == "my local draft\n"


@pytest.mark.xfail(
    strict=True,
    reason="on_push keeps the first MAX_COMMITS (20) commits of the push event, so a "
    "rebase-merge of more commits records a vouch without the replayed commit that "
    "changed the policy: the admin-approved change is held back",
)
def test_a_rebase_merge_of_more_than_twenty_commits_counts_the_approved_change(
    world: Any,
) -> None:
    # Attack (an unlucky, ordinary merge): a pull request of 22 commits, the 21st changing
    # the policy, approved by an admin at its head and rebase-merged (GitHub replays each
    # commit); the push event lists the replayed commits.
    from tests.test_github_automation import (
        ALLOW_STAGING,
        pending_staging_request,
        push_of,
        ran,
        rebase,
        status,
    )

    pending_staging_request(world)
    world.open_pr(8, {"docs/0.md": "0\n"})
    for i in range(1, 20):
        world.commit(8, {f"docs/{i}.md": f"{i}\n"})
    world.commit(8, {"policies/staging.yaml": ALLOW_STAGING})  # the 21st
    world.commit(8, {"docs/last.md": "last\n"})
    world.review(8, "alice")
    made = rebase(world, 8)
    assert len(made) == 22
    done = push_of(world, made)
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1 and status(world, "rem-s") == "COMPLETED"


@pytest.mark.xfail(
    strict=True,
    reason="on_push vouches for (and carries approvals of) only the pull requests of its own "
    "event's commits; GitHub cancels a pending run when a newer one joins the concurrency "
    "group, so a merge whose push run was replaced never gets its admin's vouch recorded",
)
def test_a_merge_whose_push_run_was_replaced_by_a_newer_one_still_counts(world: Any) -> None:
    # Attack (an unlucky queue): the write job's concurrency group keeps one pending run
    # ("a newer one replaces a pending one and does all of its work", says the workflow
    # `init` writes). Two merges in a row while an apply runs: the first merge's push run
    # is cancelled, the second's runs with only its own commits. PR 8, an admin-approved
    # policy change, is then held back for ever (and approvals given on a replaced run's
    # pull request are lost the same way).
    from tests.github_world import merge, push_event
    from tests.test_github_automation import ALLOW_STAGING, pending_staging_request, ran

    pending_staging_request(world)
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "alice")
    merge(world, 8)  # its push run: pending, then replaced by the next one
    world.open_pr(9, {"docs/readme.md": "hello\n"})
    done = push_event(world, merge(world, 9))
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1


@pytest.mark.xfail(
    strict=True,
    reason="locks._expired keeps a lock whose lock.json cannot be read ('not ours to break') "
    "and checks no authorship: any commit pushed to a lock ref (or a ref where its directory "
    "goes) holds the target for ever, reported as 'another runner holds refs/locks/...'",
)
@pytest.mark.parametrize("pushed", ["refs/locks/staging/api", "refs/locks/staging"])
def test_a_lock_ref_that_holds_no_runners_lock_is_named_not_taken_for_a_lock(
    tmp_path: Path, pushed: str
) -> None:
    # Attack: anyone who may push pushes any commit to refs/locks/staging/api (or to
    # refs/locks/staging, where the directory of staging's locks goes). Every request on
    # that target (every staging service) then waits for ever, and apply blames "another
    # runner" (for refs/locks/staging it names refs/locks/staging/api, which does not
    # exist). A forged claim ref, by contrast, is named with how to delete it.
    log = tmp_path / "log"
    bare = _runner_remote(tmp_path, log)
    person = clone(tmp_path, bare, "person")
    git(person, "push", "--quiet", "origin", f"HEAD:{pushed}")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    for _ in range(2):
        done = remediate(runner, "apply")
    out = done.stdout + done.stderr
    assert _ran(log) == ["r1"] or f"git push origin :{pushed}" in out, out


@pytest.mark.xfail(
    strict=True,
    reason="locks.acquire computes now + the sum of the target's action timeouts: three "
    "requests of an action with a valid `timeout: 999999d` (2,738 years each) pass year "
    "9999: OverflowError, every apply exits 70 and runs nothing",
)
def test_valid_action_timeouts_whose_sum_passes_the_calendar_are_not_a_bug(
    tmp_path: Path,
) -> None:
    # Attack (a careless admin): `timeout: 999999d` for "no timeout" passes the schema
    # and `validate`. With three requests queued on one target, every apply crashes before
    # it claims anything, for every other request too.
    log = tmp_path / "log"
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", argv, timeout="999999d")},
        requests={f"r{i}": request_yaml(f"r{i}") for i in range(1, 4)},
    )
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    assert remediate(runner, "validate").returncode == 0
    done = remediate(runner, "apply")
    assert "internal error" not in done.stderr, done.stderr
    assert done.returncode in (0, 1)
