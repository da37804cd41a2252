"""The `github_pr` executor on a real clone with a bare remote and the fake GitHub: one
branch and one pull request per request, across a crash and a re-run; a branch with a
stranger's commit is never reset; a lost create reply is resolved by a lookup."""

from __future__ import annotations

import dataclasses
import os
from datetime import timedelta
from typing import Any

from remediate.core.model import ActionType, Request
from remediate.executors.base import ExecutionContext
from remediate.executors.github_pr import GitHubPullRequestExecutor
from tests.github_world import World
from tests.runner_support import RUNNER, git

CONFIG = {
    "repository": "acme/ops",
    "title": "Restart {{ request.serviceName }} for {{ request.name }}",
    "body": "Requested in {{ request.name }}: {{ parameters.note }}",
    "files": [
        {"path": "deploy/{{ request.serviceName }}.txt", "content": "{{ parameters.note }}\n"}
    ],
}
FORGE = {"type": "github", "repository": "acme/ops", "baseBranch": "main"}


def context(
    world: World, note: str = "@carol <b>", forge: dict[str, Any] = FORGE
) -> ExecutionContext:
    request = Request.from_spec(
        "rem-9",
        {
            "action": {"type": "open-pr", "parameters": {"note": note}},
            "serviceName": "api",
            "environment": "staging",
            "severity": "LOW",
        },
    )
    action = ActionType("open-pr", "github_pr", CONFIG, {}, timeout=timedelta(seconds=30))
    return ExecutionContext(
        request=request,
        action=action,
        environment={
            "PATH": os.environ["PATH"],
            "GITHUB_TOKEN": "tok",
            "GITHUB_API_URL": world.fake.url,
        },
        allowed_environment=("PATH",),
        root=world.work,
        idempotency_key="rem-9/1",
        runner=RUNNER,
        forge=forge,
    )


def remote(world: World, ref: str) -> str:
    return git(
        world.tmp,
        "--git-dir",
        str(world.bare),
        "rev-parse",
        "--verify",
        "--quiet",
        ref,
        check=False,
    )


def test_one_branch_and_one_pull_request_across_a_re_run(world: World) -> None:
    world.fake.state.bare = world.bare
    first = GitHubPullRequestExecutor().run(context(world))
    assert first.ok, first.error
    pr = first.details["pullRequest"]
    assert pr["number"] == 1 and first.details["branch"] == "remediate/rem-9"
    tip = remote(world, "refs/heads/remediate/rem-9")
    assert tip == first.details["commit"]
    show = git(world.tmp, "--git-dir", str(world.bare), "show", f"{tip}:deploy/api.txt")
    assert show == "@carol <b>"
    assert git(world.tmp, "--git-dir", str(world.bare), "log", "-1", "--format=%ce", tip) == RUNNER
    again = GitHubPullRequestExecutor().run(context(world))  # a re-run after a crash
    assert again.ok and again.details["pullRequest"] == pr
    assert remote(world, "refs/heads/remediate/rem-9") == tip  # nothing new to commit
    assert len(world.fake.state.pulls) == 1
    assert [c.method for c in world.fake.calls].count("POST") == 1


def test_a_crash_after_the_push_before_the_pull_request_opens_it_once(world: World) -> None:
    world.fake.state.bare = world.bare
    world.fake.fail("POST", r"/pulls$", "before")  # the first run dies at the create
    first = GitHubPullRequestExecutor().run(context(world))
    assert not first.ok and first.outcome_unknown
    again = GitHubPullRequestExecutor().run(context(world))
    assert again.ok, again.error
    assert len(world.fake.state.pulls) == 1


def test_a_lost_reply_to_the_create_is_resolved_by_a_lookup(world: World) -> None:
    world.fake.state.bare = world.bare
    world.fake.fail("POST", r"/pulls$", "lost")
    done = GitHubPullRequestExecutor().run(context(world))
    assert done.ok, done.error
    assert done.details["pullRequest"]["number"] == 1
    assert len(world.fake.state.pulls) == 1


def test_an_edit_adds_a_commit_and_a_strangers_branch_is_never_reset(world: World) -> None:
    world.fake.state.bare = world.bare
    first = GitHubPullRequestExecutor().run(context(world, note="one"))
    second = GitHubPullRequestExecutor().run(context(world, note="two"))
    assert second.ok, second.error
    assert (
        git(world.tmp, "--git-dir", str(world.bare), "rev-parse", f"{second.details['commit']}^")
        == first.details["commit"]
    )
    # someone pushes to the branch: the runner refuses to touch it
    git(world.dev, "fetch", "--quiet", "origin")
    git(world.dev, "checkout", "--quiet", "-B", "theirs", "origin/remediate/rem-9")
    (world.dev / "mine.txt").write_text("mine\n")
    git(world.dev, "add", "-A")
    git(world.dev, "commit", "--quiet", "-m", "mine", email="mallory@example.com")
    git(world.dev, "push", "--quiet", "origin", "HEAD:refs/heads/remediate/rem-9")
    theirs = remote(world, "refs/heads/remediate/rem-9")
    third = GitHubPullRequestExecutor().run(context(world, note="three"))
    assert not third.ok
    assert third.error == (
        "github_pr: branch remediate/rem-9 holds commits by mallory@example.com, not only the"
        " runner's: it is left as it is, never reset"
    )
    assert remote(world, "refs/heads/remediate/rem-9") == theirs


def test_under_the_local_forge_it_pushes_the_branch_and_opens_nothing(world: World) -> None:
    done = GitHubPullRequestExecutor().run(context(world, forge={"type": "local"}))
    assert done.ok, done.error
    assert "pullRequest" not in done.details
    assert remote(world, "refs/heads/remediate/rem-9") == done.details["commit"]
    assert world.fake.calls == []


def test_a_path_out_of_the_repository_is_refused(world: World) -> None:
    bad = dataclasses.replace(
        context(world),
        action=ActionType(
            "open-pr",
            "github_pr",
            {**CONFIG, "files": [{"path": "../{{ parameters.note }}", "content": "x"}]},
            {},
            timeout=timedelta(seconds=30),
        ),
    )
    done = GitHubPullRequestExecutor().run(bad)
    assert not done.ok and "is not a path in the repository" in (done.error or "")
    assert remote(world, "refs/heads/remediate/rem-9") == ""
