"""Changes to the automation itself through GitHub (PRODUCT.md, Lifecycle): a pull request
changing `policies/` changes what runs only when an admin approved its head commit; the
runner records that approval at the push (the audit's `vouches` stream, a runner commit)
and counts it for exactly the reviewed blobs at the commits the merge made. End to end
against the fake GitHub with real git repositories and real `remediate` runs."""

from __future__ import annotations

import json
from typing import Any

from tests.github_world import World, merge, push_event, request
from tests.runner_support import git, remote_events

ALLOW_STAGING = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: staging-is-free}
spec:
  match: {environments: [staging]}
  rules:
    - name: staging-runs
      effect: allow
"""
ALLOW_EVERYWHERE = ALLOW_STAGING.replace(
    "environments: [staging]", "environments: [staging, production]"
)


def ran(world: World) -> int:
    return len(world.marker.read_text().splitlines()) if world.marker.exists() else 0


def on_main(world: World, files: dict[str, str | None], email: str = "dave@example.com") -> str:
    """Commit `files` (None: delete it) straight to main as `email` (no pull request) and
    push."""
    dev = world.dev
    git(dev, "fetch", "--quiet", "origin")
    git(dev, "checkout", "--quiet", "-B", "main", "origin/main")
    for path, text in files.items():
        if text is None:
            (dev / path).unlink()
            continue
        (dev / path).parent.mkdir(parents=True, exist_ok=True)
        (dev / path).write_text(text)
    git(dev, "add", "-A")
    git(dev, "commit", "--quiet", "-m", "direct", email=email)
    git(dev, "push", "--quiet", "origin", "HEAD:main")
    git(world.work, "pull", "--quiet", "--ff-only")
    return git(dev, "rev-parse", "HEAD")


def pending_staging_request(world: World) -> None:
    """rem-s, a staging request on main awaiting approval (team:sre by default)."""
    sha = on_main(world, {"remediations/s.yaml": request("rem-s", env="staging")})
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    assert status(world, "rem-s") == "PENDING_APPROVAL"


def status(world: World, name: str) -> str:
    found = [e for e in remote_events(world.tmp, world.bare) if e.get("requestId") == name]
    return str(sorted(found, key=lambda e: e["at"])[-1]["to"]) if found else "NEW"


def vouches(world: World) -> list[dict[str, Any]]:
    return [e for e in remote_events(world.tmp, world.bare) if e.get("stream") == "vouches"]


def automation_json(world: World) -> dict[str, Any]:
    """The automation record of the runner's checkpoint on the remote."""
    shown = git(
        world.tmp, "--git-dir", str(world.bare), "show", "refs/remediate/checkpoint:automation.json"
    )
    found = json.loads(shown)
    assert isinstance(found, dict)
    return found


def result(world: World, number: int) -> str:
    [found] = [c for c in world.fake.comments_on(number) if "remediate:result" in c["body"]]
    return str(found["body"])


def test_a_policy_change_without_an_admins_approval_does_not_change_what_runs(
    world: World,
) -> None:
    pending_staging_request(world)
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "bob")  # an operator, not an admin
    sha = merge(world, 8)
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    assert ran(world) == 0
    assert status(world, "rem-s") == "PENDING_APPROVAL"
    assert vouches(world) == []
    out = json.loads(done.out)
    [pr] = out["pullRequests"]
    assert pr["automation"] == ["policies/staging.yaml"]
    assert pr["automationApprovedBy"] == []
    [first] = out["apply"]
    assert any("holding back policies/staging.yaml" in w for w in first["warnings"])
    body = result(world, 8)
    assert "held back: no admin approved the head commit" in body


def test_an_admins_approval_of_the_head_makes_the_policy_change_count(world: World) -> None:
    pending_staging_request(world)
    head = world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "alice")
    sha = merge(world, 8)
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1
    assert status(world, "rem-s") == "COMPLETED"
    [vouch] = vouches(world)
    blob = git(world.work, "rev-parse", f"{head}:policies/staging.yaml")
    assert vouch["verb"] == "vouch" and vouch["subject"] == f"pr-8-{sha[:12]}"
    assert vouch["details"]["files"] == {"policies/staging.yaml": blob}
    assert vouch["details"]["admins"] == ["alice"]
    assert sha in vouch["details"]["commits"] and vouch["details"]["head"] == head
    assert "in force, approved at the head commit by the admin(s) alice" in result(world, 8)
    again = push_event(world, sha)  # the same event delivered twice: one vouch
    assert again.code == 0, again.err
    assert len(vouches(world)) == 1 and ran(world) == 1


def test_an_admins_approval_of_an_older_commit_does_not_count(world: World) -> None:
    pending_staging_request(world)
    first = world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.commit(8, {"policies/staging.yaml": ALLOW_EVERYWHERE})
    done = world.review(8, "alice", commit=first)
    assert json.loads(done.out)["reviews"]["adminApproved"] is False
    sha = merge(world, 8)
    assert push_event(world, sha).code == 0
    assert ran(world) == 0 and vouches(world) == []
    assert status(world, "rem-s") == "PENDING_APPROVAL"


def test_a_commit_pushed_after_the_admins_approval_voids_it(world: World) -> None:
    pending_staging_request(world)
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "alice")
    world.commit(8, {"policies/staging.yaml": ALLOW_EVERYWHERE})  # after alice looked
    sha = merge(world, 8)
    assert push_event(world, sha).code == 0
    assert ran(world) == 0 and vouches(world) == []
    assert "held back: no admin approved the head commit" in result(world, 8)


def test_the_pull_requests_author_being_an_admin_elsewhere_does_not_matter(
    world: World,
) -> None:
    """The requester makes himself an admin in the pull request's own remediate.yaml and
    approves with a second account he controls: RBAC is the base branch's, and the
    author's own review never counts."""
    pending_staging_request(world)
    settings = (world.work / "remediate.yaml").read_text()
    world.open_pr(
        8,
        {
            "policies/staging.yaml": ALLOW_STAGING,
            "remediate.yaml": settings.replace("admins: [alice]", "admins: [alice, dave, mallory]"),
        },
    )
    world.review(8, "dave")
    world.review(8, "mallory")
    sha = merge(world, 8)
    assert push_event(world, sha).code == 0
    assert ran(world) == 0 and vouches(world) == []
    assert status(world, "rem-s") == "PENDING_APPROVAL"


def test_a_vouch_forged_in_a_requesters_commit_is_refused(world: World) -> None:
    pending_staging_request(world)
    policy = on_main(world, {"policies/staging.yaml": ALLOW_STAGING})
    blob = git(world.work, "rev-parse", f"{policy}:policies/staging.yaml")
    forged = {
        "id": "forged-1",
        "at": "2026-01-05T10:00:00.000Z",
        "stream": "vouches",
        "subject": f"pr-9-{policy[:12]}",
        "verb": "vouch",
        "actor": "remediate-bot@example.com",
        "details": {
            "pullRequest": 9,
            "head": policy,
            "commits": [policy],
            "files": {"policies/staging.yaml": blob},
            "admins": ["alice"],
        },
        "error": None,
        "prev": None,
    }
    sha = on_main(world, {"audit/2026/01/05/forged.jsonl": json.dumps(forged) + "\n"})
    done = push_event(world, sha)
    assert done.code == 1, done.out + done.err
    assert ran(world) == 0
    assert "audit/2026/01/05/forged.jsonl" in done.out + done.err
    assert status(world, "rem-s") == "PENDING_APPROVAL"


def test_an_edit_on_main_after_the_approved_merge_is_held_back(world: World) -> None:
    pending_staging_request(world)
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "alice")
    assert push_event(world, merge(world, 8)).code == 0
    assert ran(world) == 1
    # dave widens the reviewed policy on main and adds a production request
    sha = on_main(
        world,
        {
            "policies/staging.yaml": ALLOW_EVERYWHERE,
            "remediations/p.yaml": request("rem-p", env="production"),
        },
    )
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1
    assert status(world, "rem-p") == "PENDING_APPROVAL"
    [first] = json.loads(done.out)["apply"]
    assert any("holding back policies/staging.yaml" in w for w in first["warnings"])


def squash(world: World, number: int) -> str:
    """Squash-merge the pull request's branch into main, as GitHub's "Squash and merge"."""
    dev = world.dev
    git(dev, "fetch", "--quiet", "origin")
    git(dev, "checkout", "--quiet", "-B", "main", "origin/main")
    git(dev, "merge", "--quiet", "--squash", f"pr-{number}")
    git(dev, "commit", "--quiet", "-m", f"Squashed #{number}", email="dave@example.com")
    sha = git(dev, "rev-parse", "HEAD")
    git(dev, "push", "--quiet", "origin", "main")
    world.fake.merge(number, sha)
    git(world.work, "pull", "--quiet", "--ff-only")
    return sha


def rebase(world: World, number: int) -> list[str]:
    """Rebase-merge: each commit of the branch replayed on main by GitHub (new commits)."""
    dev = world.dev
    git(dev, "fetch", "--quiet", "origin")
    mine = git(dev, "rev-list", "--reverse", f"origin/main..pr-{number}").split()
    git(dev, "checkout", "--quiet", "-B", "main", "origin/main")
    made = []
    for sha in mine:
        git(dev, "cherry-pick", "--quiet", sha, email="noreply@github.com")
        made.append(git(dev, "rev-parse", "HEAD"))
    git(dev, "push", "--quiet", "origin", "main")
    world.fake.merge(number, made[-1])
    with world.fake.lock:
        for sha in made[:-1]:
            world.fake.state.commit_pulls.setdefault(sha, []).append(number)
    git(world.work, "pull", "--quiet", "--ff-only")
    return made


def push_of(world: World, shas: list[str]) -> Any:
    body = {
        "ref": "refs/heads/main",
        "before": git(
            world.tmp, "--git-dir", str(world.bare), "rev-parse", f"{shas[0]}^1", check=False
        ),
        "after": shas[-1],
        "commits": [{"id": s, "committer": {"email": "noreply@github.com"}} for s in shas],
        "sender": world.fake.user("dave"),
    }
    world.event("push", body)
    return world.github()


def test_a_squash_merge_of_an_approved_pull_request_counts(world: World) -> None:
    pending_staging_request(world)
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "alice")
    sha = squash(world, 8)
    done = push_of(world, [sha])
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1
    assert [v["details"]["commits"] for v in vouches(world)] == [[sha]]


def test_a_rebase_merge_counts_the_replayed_commit_that_changed_the_policy(
    world: World,
) -> None:
    pending_staging_request(world)
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.commit(8, {"docs/why.md": "because\n"})  # the last commit changes no policy
    world.review(8, "alice")
    made = rebase(world, 8)
    done = push_of(world, made)
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1
    [vouch] = vouches(world)
    assert vouch["details"]["commits"] == made


def test_a_merge_that_changes_the_reviewed_policy_does_not_count(world: World) -> None:
    """Main moved on while the pull request waited, and the merge resolved the policy to
    something else: not what alice reviewed."""
    pending_staging_request(world)
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "alice")
    dev = world.dev
    git(dev, "fetch", "--quiet", "origin")
    git(dev, "checkout", "--quiet", "-B", "main", "origin/main")
    git(dev, "merge", "--quiet", "--no-ff", "--no-commit", "pr-8", email="dave@example.com")
    (dev / "policies" / "staging.yaml").write_text(ALLOW_EVERYWHERE)
    git(dev, "add", "-A")
    git(dev, "commit", "--quiet", "-m", "Merge pull request #8", email="dave@example.com")
    sha = git(dev, "rev-parse", "HEAD")
    git(dev, "push", "--quiet", "origin", "main")
    world.fake.merge(8, sha)
    git(world.work, "pull", "--quiet", "--ff-only")
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    assert len(vouches(world)) == 1  # alice approved the head: recorded, for its blob only
    assert ran(world) == 0
    assert status(world, "rem-s") == "PENDING_APPROVAL"


def test_a_vouch_recorded_after_the_checkpoint_brings_the_version_into_force(
    world: World,
) -> None:
    """A run at the merge commit (a schedule, say) records the policy as held back in its
    checkpoint; the vouch of the push lands after it: the record must not keep it back."""
    pending_staging_request(world)
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "alice")
    sha = merge(world, 8)
    done = world.run_cli("apply", "--repo", str(world.work), "--format", "json")
    assert done.code == 0, done.out + done.err
    checkpoint = automation_json(world)
    assert checkpoint["commit"] == sha
    record = checkpoint["record"]
    assert "policies/staging.yaml" in record["newest"]
    assert "policies/staging.yaml" not in record["chosen"]  # held back as of the merge
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1
    assert status(world, "rem-s") == "COMPLETED"
    record = automation_json(world)["record"]
    assert "policies/staging.yaml" in record["chosen"]
    assert len(record["vouched"]) == 1


def test_a_forged_vouch_for_settings_that_make_the_forger_the_runner_is_refused(
    world: World,
) -> None:
    """The circle: a forged vouch for a remediate.yaml naming the forger as a runner
    identity would, if counted before the audit is judged, make his forged audit commit a
    runner's. Vouches are read only once the guard judged the audit by the settings in
    force without them."""
    pending_staging_request(world)
    settings = (world.work / "remediate.yaml").read_text()
    mine = settings.replace(
        "runner: {name: remediate-bot, email: ",
        "runner: {identities: [dave@example.com], name: remediate-bot, email: ",
    )
    assert mine != settings
    changed = on_main(world, {"remediate.yaml": mine, "policies/staging.yaml": ALLOW_STAGING})
    files = {
        p: git(world.work, "rev-parse", f"{changed}:{p}")
        for p in ("remediate.yaml", "policies/staging.yaml")
    }
    forged = {
        "id": "forged-2",
        "at": "2026-01-05T10:00:00.000Z",
        "stream": "vouches",
        "subject": f"pr-9-{changed[:12]}",
        "verb": "vouch",
        "actor": "dave@example.com",
        "details": {
            "pullRequest": 9,
            "head": changed,
            "commits": [changed],
            "files": files,
            "admins": ["alice"],
        },
        "error": None,
        "prev": None,
    }
    sha = on_main(world, {"audit/2026/01/05/forged.jsonl": json.dumps(forged) + "\n"})
    done = push_event(world, sha)
    assert done.code == 1, done.out + done.err
    assert ran(world) == 0
    assert "audit/2026/01/05/forged.jsonl" in done.out + done.err


def test_the_sticky_comment_says_whether_an_admins_approval_is_needed_and_given(
    world: World,
) -> None:
    first = world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    assert world.pull_request(8).code == 0
    body = world.sticky(8)[0]["body"]
    assert "They **need an admin's approval** (rbac admins)" in body
    assert "**no admin has approved it yet**" in body
    assert "- policies/staging.yaml" in body
    assert world.status(first) == "pending"
    world.review(8, "bob")  # an operator: not enough for the automation
    assert "**no admin has approved it yet**" in world.sticky(8)[0]["body"]
    world.review(8, "alice")
    [sticky] = world.sticky(8)
    assert f"**approved by alice** at {first[:12]}" in sticky["body"]
    assert world.status(first) == "success"
    done = world.pull_request(8, "reopened")  # no review in the event: the reviews are read
    assert done.code == 0, done.err
    assert f"**approved by alice** at {first[:12]}" in world.sticky(8)[0]["body"]
    head = world.commit(8, {"policies/staging.yaml": ALLOW_EVERYWHERE})
    assert world.pull_request(8, "synchronize").code == 0
    [sticky] = world.sticky(8)
    assert "**no admin has approved it yet**" in sticky["body"]
    assert world.status(head) == "pending"


def test_an_admin_approved_settings_change_comes_into_force(world: World) -> None:
    """remediate.yaml itself: who is an admin, and so whose vouch counts, is the settings
    in force before it; once in force its defaultDecision decides."""
    pending_staging_request(world)
    settings = (world.work / "remediate.yaml").read_text()
    allow = settings.replace("defaultDecision: require_approval", "defaultDecision: allow")
    allow = allow.replace('  defaultApprovals: {min: 1, from: ["team:sre"]}\n', "")
    assert allow != settings
    world.open_pr(8, {"remediate.yaml": allow})
    world.review(8, "bob")
    assert push_event(world, merge(world, 8)).code == 0
    assert ran(world) == 0  # an operator's approval: held back
    world.open_pr(9, {"remediate.yaml": allow + "  retentionDays: 30\n"})
    world.review(9, "alice")
    done = push_event(world, merge(world, 9))
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1
    assert status(world, "rem-s") == "COMPLETED"
