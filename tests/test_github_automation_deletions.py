"""Deleting a file of the automation itself through a pull request (PRODUCT.md, Lifecycle):
the deletion counts only when an admin approved the head commit that deletes it, and
then only at the commits the merge made; a rename is a deletion and an addition, both
reviewed. End to end against the fake GitHub (driven by PyGithub) with real git."""

from __future__ import annotations

import json
from typing import Any

from tests.github_world import World, merge, push_event, request
from tests.runner_support import git
from tests.test_github_automation import (
    ALLOW_EVERYWHERE,
    ALLOW_STAGING,
    on_main,
    push_of,
    rebase,
    result,
    status,
    vouches,
)

STAGING = "policies/staging.yaml"
QA = "policies/qa.yaml"
ALLOW_QA = ALLOW_STAGING.replace("staging-is-free", "qa-is-free").replace(
    "environments: [staging]", "environments: [qa]"
)


def with_policies(world: World) -> None:
    """Alice (an admin) puts both policies on main: staging and qa requests run unapproved."""
    sha = on_main(world, {STAGING: ALLOW_STAGING, QA: ALLOW_QA}, email="alice@example.com")
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err


def decided(world: World, name: str, env: str) -> tuple[str, list[str]]:
    """A new request `name` for `env` pushed to main: its status, and the apply warnings."""
    sha = on_main(world, {f"remediations/{name}.yaml": request(name, env=env)})
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    warnings = [w for run in json.loads(done.out)["apply"] for w in run["warnings"]]
    return status(world, name), warnings


def held(warnings: list[str]) -> list[str]:
    return sorted(p for w in warnings for p in (STAGING, QA, RENAMED) if f"holding back {p}" in w)


RENAMED = "policies/renamed.yaml"


def merged_pull(done: Any) -> dict[str, Any]:
    assert done.code == 0, done.out + done.err
    [pr] = json.loads(done.out)["pullRequests"]
    assert isinstance(pr, dict)
    return pr


def test_an_admins_approval_of_a_deletion_makes_it_count(world: World) -> None:
    with_policies(world)
    assert decided(world, "rem-1", "staging") == ("COMPLETED", [])
    world.open_pr(8, {STAGING: None})
    world.review(8, "alice")
    sha = merge(world, 8)
    pr = merged_pull(push_event(world, sha))
    assert pr["automation"] == [STAGING] and pr["automationApprovedBy"] == ["alice"]
    [vouch] = vouches(world)
    assert vouch["details"]["files"] == {STAGING: None}
    assert vouch["details"]["commits"] == [sha]
    body = result(world, 8)
    assert f"`{STAGING}` (deleted)" in body and "in force, approved" in body
    assert decided(world, "rem-2", "staging") == ("PENDING_APPROVAL", [])
    assert decided(world, "rem-3", "qa")[0] == "COMPLETED"


def test_an_operators_approval_of_a_deletion_leaves_the_policy_in_force(world: World) -> None:
    with_policies(world)
    world.open_pr(8, {STAGING: None})
    world.review(8, "bob")  # an operator, not an admin
    pr = merged_pull(push_event(world, merge(world, 8)))
    assert pr["automation"] == [STAGING] and pr["automationApprovedBy"] == []
    assert vouches(world) == []
    assert "held back: no admin approved the head commit" in result(world, 8)
    found, warnings = decided(world, "rem-2", "staging")
    assert found == "COMPLETED" and held(warnings) == [STAGING]


def test_an_admins_approval_of_an_older_commit_does_not_make_the_deletion_count(
    world: World,
) -> None:
    with_policies(world)
    first = world.open_pr(8, {STAGING: None})
    world.commit(8, {QA: None})  # after alice looked: she never saw qa go
    world.review(8, "alice", commit=first)
    pr = merged_pull(push_event(world, merge(world, 8)))
    assert pr["automation"] == [QA, STAGING] and pr["automationApprovedBy"] == []
    assert vouches(world) == []
    found, warnings = decided(world, "rem-2", "staging")
    assert found == "COMPLETED" and held(warnings) == [QA, STAGING]


def test_a_deletion_the_merge_adds_is_not_the_reviewed_one(world: World) -> None:
    """Alice approved deleting staging; the merge commit also deletes qa: only the
    reviewed deletion counts, although both are changes of the one commit the vouch names."""
    with_policies(world)
    world.open_pr(8, {STAGING: None})
    world.review(8, "alice")
    dev = world.dev
    git(dev, "fetch", "--quiet", "origin")
    git(dev, "checkout", "--quiet", "-B", "main", "origin/main")
    git(dev, "merge", "--quiet", "--no-ff", "--no-commit", "pr-8", email="dave@example.com")
    git(dev, "rm", "--quiet", QA)
    git(dev, "commit", "--quiet", "-m", "Merge pull request #8", email="dave@example.com")
    sha = git(dev, "rev-parse", "HEAD")
    git(dev, "push", "--quiet", "origin", "main")
    world.fake.merge(8, sha)
    git(world.work, "pull", "--quiet", "--ff-only")
    merged_pull(push_event(world, sha))
    [vouch] = vouches(world)
    assert vouch["details"]["files"] == {STAGING: None} and vouch["details"]["commits"] == [sha]
    found, warnings = decided(world, "rem-2", "qa")
    assert found == "COMPLETED" and held(warnings) == [QA]
    assert decided(world, "rem-3", "staging")[0] == "PENDING_APPROVAL"


def test_after_a_vouched_deletion_later_deletions_and_re_additions_are_held_back(
    world: World,
) -> None:
    """dave deletes qa on main, and puts staging back exactly as alice once wrote it:
    neither is what an admin made or approved."""
    with_policies(world)
    world.open_pr(8, {STAGING: None})
    world.review(8, "alice")
    merged_pull(push_event(world, merge(world, 8)))
    on_main(world, {QA: None, STAGING: ALLOW_STAGING})
    found, warnings = decided(world, "rem-2", "staging")
    assert found == "PENDING_APPROVAL" and held(warnings) == [QA, STAGING]
    assert decided(world, "rem-3", "qa")[0] == "COMPLETED"
    assert len(vouches(world)) == 1


def test_a_rename_an_admin_approved_counts_both_halves(world: World) -> None:
    with_policies(world)
    world.open_pr(8, {STAGING: None, RENAMED: ALLOW_STAGING})
    world.review(8, "alice")
    sha = merge(world, 8)
    pr = merged_pull(push_event(world, sha))
    assert pr["automation"] == [RENAMED, STAGING]
    [vouch] = vouches(world)
    blob = git(world.work, "rev-parse", f"{sha}:{RENAMED}")
    assert vouch["details"]["files"] == {RENAMED: blob, STAGING: None}
    assert decided(world, "rem-2", "staging") == ("COMPLETED", [])
    assert decided(world, "rem-3", "production")[0] == "PENDING_APPROVAL"


def test_a_rename_an_operator_approved_keeps_the_old_file(world: World) -> None:
    with_policies(world)
    world.open_pr(8, {STAGING: None, RENAMED: ALLOW_EVERYWHERE})
    world.review(8, "bob")
    merged_pull(push_event(world, merge(world, 8)))
    assert vouches(world) == []
    found, warnings = decided(world, "rem-2", "production")
    assert found == "PENDING_APPROVAL" and held(warnings) == [RENAMED, STAGING]
    assert decided(world, "rem-3", "staging")[0] == "COMPLETED"


def test_deleting_and_re_adding_a_path_binds_the_content_at_the_head(world: World) -> None:
    """Rebase-merged: the replayed deletion alone is not what alice reviewed (the head
    holds the file, with other content); the re-added content is."""
    with_policies(world)
    world.open_pr(8, {STAGING: None})
    head = world.commit(8, {STAGING: ALLOW_EVERYWHERE})
    world.review(8, "alice")
    made = rebase(world, 8)
    assert merged_pull(push_of(world, made))["automationApprovedBy"] == ["alice"]
    [vouch] = vouches(world)
    blob = git(world.work, "rev-parse", f"{head}:{STAGING}")
    assert vouch["details"]["files"] == {STAGING: blob} and vouch["details"]["commits"] == made
    assert decided(world, "rem-2", "production") == ("COMPLETED", [])


def test_the_plan_comment_names_a_deletion_as_needing_an_admin(world: World) -> None:
    with_policies(world)
    head = world.open_pr(8, {STAGING: None})
    done = world.pull_request(8)
    assert done.code == 0, done.out + done.err
    assert json.loads(done.out)["automation"] == [STAGING]
    body = world.sticky(8)[0]["body"]
    assert "They **need an admin's approval** (rbac admins)" in body
    assert f"- {STAGING} (deleted)" in body
    assert world.status(head) == "pending"
    world.review(8, "alice")
    assert f"**approved by alice** at {head[:12]}" in world.sticky(8)[0]["body"]
    assert world.status(head) == "success"
