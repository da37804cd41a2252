"""Reproductions of what the adversarial review of the checkpoint, carrier, fast-forward,
vouching and monthly rate-limit work found broken.

Each test states the contract's expectation and is marked xfail(strict=True): it fails
today, and the suite turns red (XPASS) the day a fix lands, so the marker is removed with
the fix. The attack is in a comment at the top of each test.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result
from tests.review_support import add_request, logging_remote, ran
from tests.runner_support import (
    OPERATOR,
    RUNNER,
    action_yaml,
    clone,
    git,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
)

# --- refs/remediate/carrier: "nothing trusts it" -------------------------------------------


def test_a_valid_rate_limit_window_longer_than_the_calendar_is_not_a_bug(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    # Attack (a careless admin): `per: 999999d` matched the schema's pattern (1 to 6 digits)
    # and passed `validate`; every command that decides (plan, apply, the verbs) then
    # crashed on now - per (before year 1). Durations are now at most 3650d: validate
    # names the key, and plan refuses like any document error.
    policy = quickstart / "policies" / "rate-limits.yaml"
    policy.write_text(policy.read_text().replace("per: 1h", "per: 999999d"))
    checked = run_cli("validate", "--repo", str(quickstart))
    assert checked.code == 1
    assert (
        "policies/rate-limits.yaml:9: spec.rateLimit.per: '999999d' is longer than 3650d "
        "(ten years), the longest duration allowed"
    ) in checked.err
    result = run_cli("plan", "--repo", str(quickstart), "--now", "2026-11-23T10:00:00Z")
    assert result.code in (0, 1), result.err
    assert "internal error" not in result.err


# --- Refs anyone may push: a ref where the runner's directory of refs goes -----------------


def test_a_ref_where_a_requests_claim_refs_go_is_named_not_taken_for_a_claim(
    tmp_path: Path,
) -> None:
    # Attack: anyone who may push creates refs/claims/r2 (any commit). Git then refuses
    # refs/claims/r2/1 (a D/F conflict on the remote). Unlike a forged refs/claims/r2/1,
    # which apply names with `git push origin :<ref>`, nothing says why r2 never runs.
    log = tmp_path / "log"
    bare = logging_remote(tmp_path, log)
    person = clone(tmp_path, bare, "person")
    add_request(person, "r2")
    git(person, "push", "--quiet", "origin", "HEAD:refs/claims/r2")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    assert remediate(runner, "apply").returncode == 0
    again = remediate(runner, "apply")
    assert "r2" in ran(log) or "refs/claims/r2" in again.stderr, (again.stdout, again.stderr)


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
    bare = logging_remote(tmp_path, log)
    person = clone(tmp_path, bare, "person")
    git(person, "push", "--quiet", "origin", f"HEAD:{pushed}")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    for _ in range(2):
        done = remediate(runner, "apply")
    out = done.stdout + done.stderr
    assert ran(log) == ["r1"] or f"git push origin :{pushed}" in out, out


def test_valid_action_timeouts_whose_sum_passes_the_calendar_are_not_a_bug(
    tmp_path: Path,
) -> None:
    # Attack (a careless admin): `timeout: 999999d` for "no timeout" passed the schema and
    # `validate`; with three requests queued on one target, every apply crashed (now + the
    # sum of the timeouts passes year 9999) before it claimed anything, for every other
    # request too. Durations are now at most 3650d: validate names the key, apply refuses.
    log = tmp_path / "log"
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", argv, timeout="999999d")},
        requests={f"r{i}": request_yaml(f"r{i}") for i in range(1, 4)},
    )
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    checked = remediate(runner, "validate")
    assert checked.returncode == 1
    assert "spec.timeout: '999999d' is longer than 3650d (ten years)" in checked.stderr
    done = remediate(runner, "apply")
    assert "internal error" not in done.stderr, done.stderr
    assert done.returncode in (0, 1)


def _root_commit(work: Path, files: dict[str, str], email: str) -> str:
    """A parentless commit of `files`, committed as `email` (a lock's or a claim's shape)."""
    lines = []
    for name, text in files.items():
        (work / ".scratch").write_text(text)
        blob = git(work, "hash-object", "-w", ".scratch")
        lines.append(f"100644 blob {blob}\t{name}\n")
    (work / ".scratch").unlink()
    tree = subprocess.run(
        ["git", "-C", str(work), "mktree"],
        input="".join(lines),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return git(work, "commit-tree", tree, "-m", "remediate lock", email=email)


@pytest.mark.parametrize(
    ("email", "files", "why"),
    [
        # a lock as a runner writes it, good for years, but committed by someone else
        (
            "mallory@example.com",
            {
                "lock.json": '{"runner": "x", "at": "2026-11-23T10:00:00.000Z", '
                '"expires": "2999-01-01T00:00:00.000Z"}\n'
            },
            "which is no runner's lock (this runner did not make it)",
        ),
        # in the runner's name (no signing: anyone can), with no readable lock in it
        (RUNNER, {"lock.json": "[[[\n"}, "which holds no readable lock.json"),
    ],
)
def test_a_lock_ref_holding_what_no_runner_wrote_is_named_with_its_reason(
    tmp_path: Path, email: str, files: dict[str, str], why: str
) -> None:
    # Attack (around the fix of the test above): make the pushed commit look like a lock.
    log = tmp_path / "log"
    bare = logging_remote(tmp_path, log)
    person = clone(tmp_path, bare, "person")
    sha = _root_commit(person, files, email)
    git(person, "push", "--quiet", "origin", f"{sha}:refs/locks/staging/api")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    done = remediate(runner, "apply")
    assert ran(log) == []
    assert (
        f"r1: skipped (refs/locks/staging/api holds commit {sha[:12]}, {why}: delete it with "
        "`git push origin :refs/locks/staging/api`)"
    ) in done.stdout, done.stdout


@pytest.mark.parametrize("pushed", ["refs/claims/r2", "refs/claims/r2/1/x"])
def test_a_ref_in_the_way_of_a_claim_is_named_by_apply_and_by_cancel(
    tmp_path: Path, pushed: str
) -> None:
    # Attack (around the fix above): a ref inside the claim ref's path (refs/claims/r2/1/x)
    # stops its creation just as one above it does; and `cancel`, which needs the same
    # claim, blamed "a runner" for it.
    log = tmp_path / "log"
    bare = logging_remote(tmp_path, log)
    person = clone(tmp_path, bare, "person")
    add_request(person, "r2")
    git(person, "push", "--quiet", "origin", f"HEAD:{pushed}")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    done = remediate(runner, "apply")
    assert ran(log) == ["r1"]
    assert f"r2: skipped (not claimed: {pushed} is in the way)" in done.stdout
    assert (
        f"remediate: warning: r2: {pushed} stands where its claim ref refs/claims/r2/1 goes "
        f"and is no runner's claim; the request waits until it is deleted "
        f"(git push origin :{pushed})"
    ) in done.stderr
    cancelled = remediate(clone(tmp_path, bare, "ops", OPERATOR), "cancel", "r2")
    assert cancelled.returncode == 1
    assert (
        f"r2: {pushed} stands where its claim ref refs/claims/r2/1 goes and is no runner's "
        f"claim; nothing can leave QUEUED until it is deleted (git push origin :{pushed})"
    ) in cancelled.stderr
    git(person, "push", "--quiet", "origin", f":{pushed}")
    assert remediate(runner, "apply").returncode == 0
    assert ran(log) == ["r1", "r2"]


@pytest.mark.parametrize(
    "pushed",
    ["refs/claims-schedules/@20261123T1000Z", "refs/claims-schedules/@20261123T1000Z/1/x"],
)
def test_a_ref_in_the_way_of_a_fire_times_claim_is_named_and_the_fire_follows_its_deletion(
    tmp_path: Path, pushed: str
) -> None:
    # Attack (around the fix above): a ref inside the group's first attempt blocks it as
    # one above it does. Neither passes for a fire; once deleted, the next tick fires.
    from tests.test_followups import TICK_AT, setup

    fire = "edge-cert-20261123T1000Z"
    bare, repo, _log = setup(tmp_path)
    pusher = clone(tmp_path, bare, "pusher", "mallory@example.com")
    git(pusher, "push", "--quiet", "origin", f"HEAD:{pushed}")
    done = remediate(repo, "tick", now=TICK_AT)
    assert done.returncode == 0
    assert done.stdout == f"{fire}: not fired: {pushed} is in the way (see the warning)\n"
    assert (
        f"remediate: warning: {fire}: {pushed} stands where its fire time's claim refs go and "
        f"is no runner's claim; the fire waits until it is deleted (git push origin :{pushed})"
    ) in done.stderr
    assert not [e for e in remote_events(tmp_path, bare) if e.get("subject") == fire]
    git(pusher, "push", "--quiet", "origin", f":{pushed}")
    done = remediate(repo, "tick", now=TICK_AT)
    assert done.stdout.startswith(f"{fire}: fired, request {fire} recorded"), done.stdout
    assert [e for e in remote_events(tmp_path, bare) if e.get("subject") == fire]


@pytest.mark.parametrize("kind", ["blob", "tree"])
def test_a_lock_ref_at_an_object_that_is_no_commit_is_named(tmp_path: Path, kind: str) -> None:
    # Attack (around the fixes above): push a blob or a tree, which no lock check can
    # read as a commit, to a lock ref.
    log = tmp_path / "log"
    bare = logging_remote(tmp_path, log)
    person = clone(tmp_path, bare, "person")
    found = git(person, "rev-parse", "HEAD^{tree}" if kind == "tree" else "HEAD:remediate.yaml")
    git(person, "push", "--quiet", "origin", f"{found}:refs/locks/staging/api")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    done = remediate(runner, "apply")
    assert ran(log) == []
    assert (
        f"r1: skipped (refs/locks/staging/api holds {found[:12]}, which is no commit and no "
        "lock: delete it with `git push origin :refs/locks/staging/api`)"
    ) in done.stdout, done.stdout


def test_a_claim_ref_at_an_object_that_is_no_commit_is_named(tmp_path: Path) -> None:
    # Attack (around the fixes above): a blob at refs/claims/r2/1, which recovery cannot
    # read as a claim commit, held the attempt with nothing said.
    log = tmp_path / "log"
    bare = logging_remote(tmp_path, log)
    person = clone(tmp_path, bare, "person")
    add_request(person, "r2")
    blob = git(person, "rev-parse", "HEAD:remediate.yaml")
    git(person, "push", "--quiet", "origin", f"{blob}:refs/claims/r2/1")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    remediate(runner, "apply")
    done = remediate(runner, "apply")
    assert ran(log) == ["r1"]
    assert (
        f"r2: refs/claims/r2/1 holds {blob[:12]}, which is no commit; attempt 1 waits until "
        "someone who knows it never ran deletes the ref (git push origin :refs/claims/r2/1)"
    ) in done.stdout + done.stderr, done.stdout + done.stderr
