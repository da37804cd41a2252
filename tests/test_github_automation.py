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
ALLOW_EVERYWHERE = ALLOW_STAGING.replace("environments: [staging]", "environments: [staging, production]")


def ran(world: World) -> int:
    return len(world.marker.read_text().splitlines()) if world.marker.exists() else 0


def on_main(world: World, files: dict[str, str], email: str = "dave@example.com") -> str:
    """Commit `files` straight to main as `email` (no pull request) and push."""
    dev = world.dev
    git(dev, "fetch", "--quiet", "origin")
    git(dev, "checkout", "--quiet", "-B", "main", "origin/main")
    for path, text in files.items():
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
