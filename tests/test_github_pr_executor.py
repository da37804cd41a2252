"""The `github_pr` executor on a real clone with a bare remote and the fake GitHub: one
branch and one pull request per request, across a crash and a re-run; a branch with a
stranger's commit is never reset; a lost create reply is resolved by a lookup."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from remediate import wiring
from remediate.core.model import ActionType, Request, Settings
from remediate.executors.base import ExecutionContext
from remediate.executors.github_pr import GitHubPullRequestExecutor
from tests.conftest import Result
from tests.github_world import World
from tests.runner_support import RUNNER, git

CONFIG = {
    "repository": "acme/ops",
    "title": "Restart {{ request.serviceName }} for {{ request.name }}",
    "body": "Requested in {{ request.name }}: {{ parameters.note }}",
    "change": {
        "files": [
            {"path": "deploy/{{ request.serviceName }}.txt", "content": "{{ parameters.note }}\n"}
        ]
    },
}
FORGE = {"type": "github", "repository": "acme/ops", "baseBranch": "main"}


def context(
    world: World,
    note: str = "@carol <b>",
    forge: dict[str, Any] = FORGE,
    config: dict[str, Any] | None = None,
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
    action = ActionType("open-pr", "github_pr", config or CONFIG, {}, timeout=timedelta(seconds=30))
    environment = {
        "PATH": os.environ["PATH"],
        "GITHUB_TOKEN": "tok",
        "GITHUB_API_URL": world.fake.url,
        "REMEDIATE_GITHUB_BACKOFF": "0",
    }
    settings = Settings.from_spec("acme", {"forge": forge})
    return ExecutionContext(
        request=request,
        action=action,
        environment=environment,
        allowed_environment=("PATH",),
        root=world.work,
        idempotency_key="rem-9/1",
        runner=RUNNER,
        forge=forge,
        open_forge=lambda: wiring.forge(settings, environment),
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
            {**CONFIG, "change": {"files": [{"path": "../{{ parameters.note }}", "content": "x"}]}},
            {},
            timeout=timedelta(seconds=30),
        ),
    )
    done = GitHubPullRequestExecutor().run(bad)
    assert not done.ok and "is not a path in the repository" in (done.error or "")
    assert remote(world, "refs/heads/remediate/rem-9") == ""


def with_config(world: World, note: str = "x", **changes: Any) -> ExecutionContext:
    return context(world, note=note, config={**CONFIG, **changes})


def show(world: World, rev: str, path: str) -> str:
    return git(world.tmp, "--git-dir", str(world.bare), "show", f"{rev}:{path}", check=False)


PATCH = """\
diff --git a/deploy/{{ request.serviceName }}.txt b/deploy/{{ request.serviceName }}.txt
new file mode 100644
--- /dev/null
+++ b/deploy/{{ request.serviceName }}.txt
@@ -0,0 +1 @@
+{{ parameters.note }}
"""


def test_a_patch_is_applied_to_the_base_and_a_re_run_reuses_the_branch(world: World) -> None:
    world.fake.state.bare = world.bare
    first = GitHubPullRequestExecutor().run(
        with_config(world, "{{ 7 * 7 }}", change={"patch": PATCH})
    )
    assert first.ok, first.error
    assert first.details["change"] == "patch"
    assert show(world, first.details["commit"], "deploy/api.txt") == "{{ 7 * 7 }}"  # data
    again = GitHubPullRequestExecutor().run(
        with_config(world, "{{ 7 * 7 }}", change={"patch": PATCH})
    )
    assert again.ok, again.error  # applied to the base again, not on top of the branch
    assert again.details["commit"] == first.details["commit"]
    assert len(world.fake.state.pulls) == 1


def test_a_patch_that_does_not_apply_is_refused_and_nothing_is_pushed(world: World) -> None:
    world.fake.state.bare = world.bare
    bad = (
        "--- a/remediate.yaml\n+++ b/remediate.yaml\n@@ -1,1 +1,1 @@\n-no such line\n+kind: Other\n"
    )
    done = GitHubPullRequestExecutor().run(with_config(world, change={"patch": bad}))
    assert not done.ok and not done.outcome_unknown
    assert (done.error or "").startswith("github_pr: change.patch does not apply to the base: ")
    assert remote(world, "refs/heads/remediate/rem-9") == ""
    assert world.fake.calls == []


def test_a_patch_that_leaves_the_checkout_is_refused(world: World) -> None:
    for target in ("../outside.txt", ".git/hooks/pre-commit", "audit/forged.json"):
        patch = (
            f"diff --git a/{target} b/{target}\nnew file mode 100644\n--- /dev/null\n"
            f"+++ b/{target}\n@@ -0,0 +1 @@\n+x\n"
        )
        done = GitHubPullRequestExecutor().run(with_config(world, change={"patch": patch}))
        assert not done.ok, target
        assert done.error and done.error.startswith("github_pr: "), done.error
    assert not (world.tmp / "outside.txt").exists()
    assert remote(world, "refs/heads/remediate/rem-9") == ""


def test_a_command_runs_in_a_fresh_checkout_with_the_allow_listed_environment(
    world: World,
) -> None:
    world.fake.state.bare = world.bare
    (world.work / "local-only.txt").write_text("the runner's checkout\n")  # never committed
    argv = ["sh", "-c", 'pwd > where.txt; env | sort > env.txt; printf "%s" "$1" > note.txt', "sh",
            "{{ parameters.note }}"]  # fmt: skip
    done = GitHubPullRequestExecutor().run(
        with_config(world, "$(touch pwned)", change={"command": {"argv": argv, "timeout": "10s"}})
    )
    assert done.ok, done.error
    commit = done.details["commit"]
    where = show(world, commit, "where.txt")
    assert where != str(world.work) and not where.startswith(str(world.work))
    assert "GITHUB_TOKEN" not in show(world, commit, "env.txt")
    assert show(world, commit, "note.txt") == "$(touch pwned)"
    assert show(world, commit, "local-only.txt") == ""
    assert not list(world.tmp.rglob("pwned"))
    assert git(world.work, "status", "--porcelain") == "?? local-only.txt"
    assert git(world.work, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_command_that_times_out_fails_and_pushes_nothing(world: World) -> None:
    done = GitHubPullRequestExecutor().run(
        with_config(world, change={"command": {"argv": ["sleep", "30"], "timeout": "1s"}})
    )
    assert not done.ok
    assert done.error == (
        "github_pr: change.command: timed out after 1s; its process group was killed"
    )
    assert remote(world, "refs/heads/remediate/rem-9") == ""


def test_a_command_that_changes_nothing_proposes_nothing(world: World) -> None:
    done = GitHubPullRequestExecutor().run(
        with_config(world, change={"command": {"argv": ["true"]}})
    )
    assert not done.ok
    assert done.error == "github_pr: the change leaves main as it is: nothing to propose"


def test_labels_and_draft_reach_the_pull_request(world: World) -> None:
    world.fake.state.bare = world.bare
    done = GitHubPullRequestExecutor().run(
        with_config(world, labels=["remediate", "svc-{{ request.serviceName }}"], draft=True)
    )
    assert done.ok, done.error
    pr = world.fake.state.pulls[done.details["pullRequest"]["number"]]
    assert pr["draft"] is True and pr["labels"] == ["remediate", "svc-api"]
    assert pr["title"] == "Restart api for rem-9"
    assert pr["body"] == "Requested in rem-9: x"


def test_hostile_branch_names_and_titles_are_refused(world: World) -> None:
    for value in ("../main", "-x", "a..b", "x.lock", "a b", "@{-1}", ".hidden/x", "x//y"):
        done = GitHubPullRequestExecutor().run(
            with_config(world, value, branch="{{ parameters.note }}")
        )
        assert done.error == f"github_pr: branch {value!r} is not a branch name", value
    done = GitHubPullRequestExecutor().run(
        with_config(world, "a\nb", title="{{ parameters.note }}")
    )
    assert done.error == "github_pr: title must be one non-empty line after rendering"
    assert world.fake.calls == []


def test_a_file_through_a_symbolic_link_of_the_base_is_refused(world: World) -> None:
    git(world.dev, "checkout", "--quiet", "main")
    (world.dev / "deploy").symlink_to(world.tmp)
    git(world.dev, "add", "-A")
    git(world.dev, "commit", "--quiet", "-m", "a link", email="alice@example.com")
    git(world.dev, "push", "--quiet", "origin", "HEAD:main")
    done = GitHubPullRequestExecutor().run(context(world))
    assert done.error == (
        "github_pr: files: 'deploy/api.txt' passes through deploy, which is not a directory"
    )
    assert not (world.tmp / "api.txt").exists()


def test_when_the_base_moved_on_the_branch_gets_a_merge_never_a_reset(world: World) -> None:
    world.fake.state.bare = world.bare
    first = GitHubPullRequestExecutor().run(context(world, note="one"))
    git(world.dev, "checkout", "--quiet", "main")
    git(world.dev, "pull", "--quiet", "origin", "main")
    (world.dev / "other.txt").write_text("other\n")
    git(world.dev, "add", "-A")
    git(world.dev, "commit", "--quiet", "-m", "other", email="alice@example.com")
    git(world.dev, "push", "--quiet", "origin", "HEAD:main")
    second = GitHubPullRequestExecutor().run(context(world, note="two"))
    assert second.ok, second.error
    parents = git(world.tmp, "--git-dir", str(world.bare), "log", "-1", "--format=%P",
                  second.details["commit"]).split()  # fmt: skip
    assert parents == [first.details["commit"], world.main_sha()]
    assert len(world.fake.state.pulls) == 1


def test_a_5xx_after_the_create_took_effect_leaves_one_pull_request(world: World) -> None:
    world.fake.state.bare = world.bare
    world.fake.fail("POST", r"/pulls$", "after")
    done = GitHubPullRequestExecutor().run(context(world))
    assert done.ok, done.error
    assert len(world.fake.state.pulls) == 1
    assert [c.method for c in world.fake.calls].count("POST") == 1  # never re-sent


def test_a_secondary_limit_on_the_create_is_waited_out_and_opens_one(world: World) -> None:
    world.fake.state.bare = world.bare
    world.fake.fail("POST", r"/pulls$", "secondary", retry_after=0)
    done = GitHubPullRequestExecutor().run(context(world))
    assert done.ok, done.error
    assert len(world.fake.state.pulls) == 1


def test_a_422_already_exists_from_a_racing_runner_is_resolved_by_lookup(world: World) -> None:
    world.fake.state.bare = world.bare

    def racer() -> None:  # another runner opens the pull request between lookup and create
        head = remote(world, "refs/heads/remediate/rem-9")
        world.fake.open_pull(7, "github-actions[bot]", head, world.main_sha(),
                             head_ref="remediate/rem-9")  # fmt: skip

    world.fake.fail("POST", r"/pulls$", "race", first=racer)
    done = GitHubPullRequestExecutor().run(context(world))
    assert done.ok, done.error
    assert done.details["pullRequest"]["number"] == 7
    assert sorted(world.fake.state.pulls) == [7]
    assert [(c.method, c.status) for c in world.fake.calls if c.method == "POST"] == [("POST", 422)]


def test_validate_names_what_cannot_work_as_written(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    (quickstart / "actions" / "open-pr.yaml").write_text(
        """\
apiVersion: remediate/v1
kind: ActionType
metadata: {name: open-pr}
spec:
  parameters: {type: object}
  executor:
    github_pr:
      title: "Fix {{ request.name }}"
      branch: "../main"
      change:
        files:
          - {path: "{{ parameters.dir }}/ok.txt", content: x}
          - {path: ".git/hooks/post-checkout", content: x}
  timeout: 60s
"""
    )
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[:2] == [
        "actions/open-pr.yaml:9: spec.executor.github_pr.branch: '../main' is not a branch name",
        "actions/open-pr.yaml:13: spec.executor.github_pr.change.files[1].path: "
        "'.git/hooks/post-checkout' is not a path in the repository (no .., absolute path, "
        ".git or audit/)",
    ]


def test_the_old_keys_are_refused_by_the_schema(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    (quickstart / "actions" / "open-pr.yaml").write_text(
        """\
apiVersion: remediate/v1
kind: ActionType
metadata: {name: open-pr}
spec:
  parameters: {type: object}
  executor:
    github_pr: {title: x, baseBranch: main, files: [{path: a, content: b}]}
  timeout: 60s
"""
    )
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert "spec.executor.github_pr" in result.err and "change" in result.err


def test_the_local_forge_has_no_pull_requests_and_reads_teams_from_settings() -> None:
    import pytest

    from remediate.errors import UserError

    settings = Settings.from_spec(
        "acme",
        {
            "forge": {"type": "local"},
            "people": [{"github": "bob", "emails": ["bob@example.com"]}],
            "teams": {"sre": ["bob@example.com"]},
        },
    )
    local = wiring.forge(settings, {})
    assert local.proposes is False and local.open_pull("remediate/x") is None
    assert local.team_member("sre", "bob") and not local.team_member("sre", "mallory")
    with pytest.raises(UserError) as raised:
        local.reviews(3)
    assert str(raised.value) == (
        "reading the reviews of #3: the forge is local git (Settings spec.forge.type: local), "
        "which has no pull requests; set spec.forge to {type: github, repository: owner/name}"
    )


def test_another_repository_than_the_forges_is_refused_at_execution(world: World) -> None:
    done = GitHubPullRequestExecutor().run(with_config(world, repository="evil/ops"))
    assert done.error == (
        "github_pr: repository 'evil/ops' is not the forge's ('acme/ops'): the runner "
        "opens pull requests only in its own repository"
    )
    assert world.fake.calls == []
    unnamed = {"type": "github", "baseBranch": "main"}
    done = GitHubPullRequestExecutor().run(context(world, forge=unnamed))
    assert done.error == (
        "github_pr: repository 'acme/ops' cannot be checked: Settings spec.forge names no "
        "repository (set it to owner/name)"
    )
    world.fake.state.bare = world.bare
    same = GitHubPullRequestExecutor().run(with_config(world, repository="ACME/Ops"))
    assert same.ok, same.error  # GitHub's names ignore case


OPEN_PR = """\
apiVersion: remediate/v1
kind: ActionType
metadata: {{name: open-pr}}
spec:
  parameters: {{type: object}}
  executor:
    github_pr:
      repository: {repository}
      title: "Fix {{{{ request.name }}}}"
      change:
        command: {{argv: [make, fix], timeout: {inner}}}
{timeout}"""


def test_validate_refuses_another_repository_and_a_longer_command_timeout(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    settings = quickstart / "remediate.yaml"
    text = settings.read_text()
    settings.write_text(
        text.replace("forge: {type: local}", "forge: {type: github, repository: acme/ops}")
    )
    assert "repository: acme/ops" in settings.read_text()
    action = quickstart / "actions" / "open-pr.yaml"
    action.write_text(OPEN_PR.format(repository="evil/ops", inner="10m", timeout="  timeout: 5m\n"))
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert result.err.splitlines()[:2] == [
        "actions/open-pr.yaml:8: spec.executor.github_pr.repository: repository 'evil/ops' is "
        "not the forge's ('acme/ops'): the runner opens pull requests only in its own "
        "repository",
        "actions/open-pr.yaml:11: spec.executor.github_pr.change.command.timeout: 10m is "
        "longer than the action's timeout (5m, spec.timeout), which stops the whole action "
        "first: shorten it, or lengthen spec.timeout",
    ]
    action.write_text(OPEN_PR.format(repository="acme/ops", inner="301s", timeout=""))
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.err.splitlines()[:1] == [
        "actions/open-pr.yaml:11: spec.executor.github_pr.change.command.timeout: 301s is "
        "longer than the action's timeout (300s, spec.timeout, by default), which stops the "
        "whole action first: shorten it, or lengthen spec.timeout",
    ]
    action.write_text(OPEN_PR.format(repository="acme/ops", inner="5m", timeout="  timeout: 5m\n"))
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 0, result.err
