"""The commits a push brought, from git (`GitPullHeads.between`), and what `remediate
github` does with them on a `push` (review findings 10 and 12): real repositories, a
shallow clone, a force push; end to end against the fake GitHub."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from remediate.adapters.github_heads import GitPullHeads
from remediate.core.forge import Commit
from tests.runner_support import REQUESTER, git

ZERO = "0" * 40


def history(tmp: Path) -> tuple[Path, list[str], str]:
    """A bare remote: 60 commits on main, then a side branch of two merged (no ff)."""
    bare, work = tmp / "remote.git", tmp / "make"
    git(tmp, "init", "--quiet", "--bare", "-b", "main", str(bare))
    git(tmp, "clone", "--quiet", str(bare), str(work))
    made = []
    for n in range(60):
        (work / "f").write_text(f"{n}\n")
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", f"c{n}")
        made.append(git(work, "rev-parse", "HEAD"))
    git(work, "checkout", "--quiet", "-b", "side")
    for n in range(2):
        (work / f"s{n}").write_text("s\n")
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", f"s{n}", email="noreply@github.com")
        made.append(git(work, "rev-parse", "HEAD"))
    git(work, "checkout", "--quiet", "main")
    git(work, "merge", "--quiet", "--no-ff", "-m", "merge", "side")
    merge = git(work, "rev-parse", "HEAD")
    git(work, "push", "--quiet", "origin", "main")
    return bare, made, merge


def test_the_pushed_commits_are_the_first_parent_line_and_what_its_merge_brought(
    tmp_path: Path,
) -> None:
    _, made, merge = history(tmp_path)
    heads = GitPullHeads(tmp_path / "make")
    found = heads.between(made[30], merge)
    assert found is not None
    assert [c.sha for c in found if c.first_parent] == [merge, *reversed(made[31:60])]
    assert [c.sha for c in found if not c.first_parent] == [made[61], made[60]]
    assert {c.committer for c in found if not c.first_parent} == {"noreply@github.com"}
    assert heads.between(ZERO, merge) is None  # a new branch: git cannot say what was pushed
    assert heads.between("--all", merge) is None  # never an option


def test_a_force_push_brought_what_lies_after_the_merge_base(tmp_path: Path) -> None:
    bare, made, merge = history(tmp_path)
    runner = tmp_path / "runner"
    git(tmp_path, "clone", "--quiet", str(bare), str(runner))  # saw the old tip
    work = tmp_path / "make"
    git(work, "checkout", "--quiet", "-B", "main", made[40])
    (work / "g").write_text("rewritten\n")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "rewritten")
    rewritten = git(work, "rev-parse", "HEAD")
    git(work, "push", "--quiet", "--force", "origin", "main")
    git(runner, "fetch", "--quiet", "origin")
    assert GitPullHeads(runner).between(merge, rewritten) == [
        Commit(rewritten, True, REQUESTER)
    ]  # what the push brought: the new commit only, not the 41 it shares with the old tip
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "--quiet", str(bare), str(fresh))  # the old tip unreachable:
    assert GitPullHeads(fresh).between(merge, rewritten) == [  # fetched by its id
        Commit(rewritten, True, REQUESTER)
    ]
    assert GitPullHeads(fresh).between("1234567890" * 4, rewritten) is None  # gone


def test_a_shallow_clone_is_deepened_only_as_far_as_the_old_tip(tmp_path: Path) -> None:
    bare, made, merge = history(tmp_path)
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{bare}", str(clone))
    found = GitPullHeads(clone).between(made[55], merge)
    assert found is not None and len(found) == 7  # 56..59, the two of the side, the merge
    depth = git(clone, "rev-list", "--count", "--first-parent", "HEAD")
    assert int(depth) < 61  # deepened, not unshallowed
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"


def long_line(tmp: Path, count: int) -> tuple[Path, str]:
    """A bare remote whose main is `count` commits (made by one `git fast-import`)."""
    bare = tmp / "long.git"
    git(tmp, "init", "--quiet", "--bare", "-b", "main", str(bare))
    stream = "".join(
        f"commit refs/heads/main\ncommitter c <c@example.com> {1700000000 + n} +0000\n"
        f"data 2\nc\nM 644 inline f\ndata {len(str(n)) + 1}\n{n}\n\n"
        for n in range(count)
    )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=bare, input=stream.encode(), check=True)
    return bare, git(tmp, "--git-dir", str(bare), "rev-parse", "main")


def test_a_shallow_clone_that_cannot_reach_the_old_tip_says_so(tmp_path: Path) -> None:
    bare, tip = long_line(tmp_path, 800)
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{bare}", str(clone))
    unknown = "1234567890" * 4  # no such commit: a force push whose old tip is gone
    assert GitPullHeads(clone).between(unknown, tip) is None
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"  # never unshallowed
    assert int(git(clone, "rev-list", "--count", "HEAD")) == 551  # 1, then 50, then 500


# --- end to end ------------------------------------------------------------------------------


def test_a_push_event_listing_only_twenty_commits_counts_the_approved_change(
    world: Any,
) -> None:
    # GitHub's event lists a bounded number of commits (20 in the timeline's events):
    # the 21st of 22 rebased commits, the one changing the policy, is not among them.
    from tests.test_github_automation import (
        ALLOW_STAGING,
        pending_staging_request,
        ran,
        rebase,
        status,
        vouches,
    )

    pending_staging_request(world)
    world.open_pr(8, {"docs/0.md": "0\n"})
    for i in range(1, 20):
        world.commit(8, {f"docs/{i}.md": f"{i}\n"})
    world.commit(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.commit(8, {"docs/last.md": "last\n"})
    world.review(8, "alice")
    made = rebase(world, 8)
    before = git(world.work, "rev-parse", f"{made[0]}^1")
    listed = [{"id": s, "committer": {"email": "noreply@github.com"}} for s in made[:20]]
    world.event(
        "push",
        {"ref": "refs/heads/main", "before": before, "after": made[-1], "commits": listed,
         "sender": world.fake.user("dave")},
    )  # fmt: skip
    done = world.github()
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1 and status(world, "rem-s") == "COMPLETED"
    assert vouches(world)[0]["details"]["commits"] == made


def test_an_ordinary_push_asks_for_the_pull_requests_of_its_own_commits_only(
    world: Any,
) -> None:
    from tests.github_world import merge, push_event
    from tests.test_github_automation import pending_staging_request

    pending_staging_request(world)  # a run: the checkpoint at main's tip
    head = world.open_pr(9, {"docs/readme.md": "hello\n"})
    sha = merge(world, 9)
    asked = len(world.fake.calls)
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    calls = world.fake.calls[asked:]
    assert [c.path for c in calls if "/commits/" in c.path] == [
        f"/repos/{world.fake.repository}/commits/{s}/pulls" for s in (sha, head)
    ]  # what GitHub's event lists (the merge, the pull request's commit), nothing before


def test_a_schedule_run_that_replaced_a_push_run_handles_its_merge(world: Any) -> None:
    # The write job's concurrency group holds schedule runs too: an hourly run that
    # replaced the pending push run of PR 8's merge does its work.
    from tests.github_world import merge
    from tests.test_github_automation import ALLOW_STAGING, pending_staging_request, ran

    pending_staging_request(world)
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "alice")
    merge(world, 8)
    world.event("schedule", {"schedule": "7 * * * *"})
    done = world.github()
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1
