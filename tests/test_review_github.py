"""Reproductions of what the adversarial review of the checkpoint, carrier, fast-forward,
vouching and monthly rate-limit work found broken.

Each test states the contract's expectation and is marked xfail(strict=True): it fails
today, and the suite turns red (XPASS) the day a fix lands, so the marker is removed with
the fix. The attack is in a comment at the top of each test.
"""

from __future__ import annotations

from typing import Any

import pytest


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
