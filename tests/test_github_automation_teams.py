"""An admin only through a GitHub team (`team:<slug>` in `rbac.admins`) vouches for a pull
request changing the automation itself: the vouch records the rule (`{"login", "via"}`)
with the membership the API confirmed at the push, and the runner's later judgment, which
has no API, counts it while the settings in force still name that rule among the admins.
End to end against the fake GitHub (driven by PyGithub) with real git."""

from __future__ import annotations

import json

from tests.github_world import World, merge, push_event, request
from tests.runner_support import git
from tests.test_github_automation import (
    ALLOW_STAGING,
    on_main,
    pending_staging_request,
    ran,
    result,
    status,
    vouches,
)

CAROL = {"login": "carol", "via": "team:leads"}


def leads_administer(world: World) -> None:
    """Alice (an admin) makes team:leads admins too; carol (write) is its one member."""
    settings = (world.work / "remediate.yaml").read_text()
    mine = settings.replace("admins: [alice]", 'admins: [alice, "team:leads"]')
    assert mine != settings
    world.fake.state.teams["leads"] = {"carol"}
    sha = on_main(world, {"remediate.yaml": mine}, email="alice@example.com")
    assert push_event(world, sha).code == 0


def test_an_admin_through_a_team_vouches_for_a_policy_change(world: World) -> None:
    leads_administer(world)
    pending_staging_request(world)
    head = world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    done = world.review(8, "carol")
    assert json.loads(done.out)["reviews"]["adminApproved"] is True
    assert f"**approved by carol** at {head[:12]}" in world.sticky(8)[0]["body"]
    assert world.status(head) == "success"
    sha = merge(world, 8)
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    [vouch] = vouches(world)
    assert vouch["details"]["admins"] == [CAROL]
    assert "#8: automation changes approved by carol (through team:leads)" in done.out
    assert ran(world) == 1 and status(world, "rem-s") == "COMPLETED"
    assert "in force, approved at the head commit by the admin(s) carol" in result(world, 8)
    # judged again later by the recorded rule, without asking the API: carol has left
    # the team since, as a login's later roles do not undo what it approved as an admin
    world.fake.state.teams["leads"] = set()
    sha = on_main(world, {"remediations/t.yaml": request("rem-t", env="staging")})
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    assert status(world, "rem-t") == "COMPLETED"


def test_a_team_rule_taken_out_of_the_admins_no_longer_vouches(world: World) -> None:
    """Alice removes team:leads from the admins after the merge: the policy carol vouched
    for is held back, as a login taken out of the admins would be."""
    leads_administer(world)
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    world.review(8, "carol")
    assert push_event(world, merge(world, 8)).code == 0
    assert len(vouches(world)) == 1
    settings = (world.work / "remediate.yaml").read_text()
    sha = on_main(
        world,
        {
            "remediate.yaml": settings.replace('admins: [alice, "team:leads"]', "admins: [alice]"),
            "remediations/s.yaml": request("rem-s", env="staging"),
        },
        email="alice@example.com",
    )
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    assert status(world, "rem-s") == "PENDING_APPROVAL"
    [first] = json.loads(done.out)["apply"]
    assert any("holding back policies/staging.yaml" in w for w in first["warnings"])


def test_an_invited_or_read_only_team_member_does_not_vouch(world: World) -> None:
    leads_administer(world)
    pending_staging_request(world)
    world.fake.state.invited["leads"] = {"mallory"}  # write access, invitation pending
    world.fake.state.teams["leads"].add("rita")  # an active member who may only read
    world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    for login in ("mallory", "rita"):
        done = world.review(8, login)
        assert json.loads(done.out)["reviews"]["adminApproved"] is False
    done = push_event(world, merge(world, 8))
    assert done.code == 0, done.out + done.err
    assert vouches(world) == [] and ran(world) == 0
    assert status(world, "rem-s") == "PENDING_APPROVAL"


def test_a_team_admins_approval_on_a_later_page_of_reviews_counts(world: World) -> None:
    """110 comments before carol's approval: the reviews are read from every page."""
    leads_administer(world)
    pending_staging_request(world)
    head = world.open_pr(8, {"policies/staging.yaml": ALLOW_STAGING})
    for _ in range(110):
        world.fake.review(8, "mallory", "COMMENTED", head)
    world.fake.review(8, "carol", "APPROVED", head)
    done = push_event(world, merge(world, 8))
    assert done.code == 0, done.out + done.err
    assert [v["details"]["admins"] for v in vouches(world)] == [[CAROL]]
    assert ran(world) == 1
    pages = [c.path for c in world.fake.calls if c.path.endswith("/pulls/8/reviews")]
    assert len(pages) == 2


def test_a_forged_vouch_with_a_team_rule_is_refused(world: World) -> None:
    """dave (team sre, an operator) writes a vouch through team:leads in his own commit:
    the audit guard stops apply before any vouch is read."""
    leads_administer(world)
    pending_staging_request(world)
    policy = on_main(world, {"policies/staging.yaml": ALLOW_STAGING})
    blob = git(world.work, "rev-parse", f"{policy}:policies/staging.yaml")
    forged = {
        "id": "forged-3",
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
            "admins": [{"login": "dave", "via": "team:leads"}],
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
