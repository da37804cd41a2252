"""The whole flow against the fake GitHub: a pull request, its reviews (the hostile ones
ignored), the merge, the push that applies, the result reported on the pull request."""

from __future__ import annotations

import json

from tests.github_world import World, merge, push_event, request
from tests.runner_support import commit_schedules, remote_events


def ran(world: World) -> int:
    return len(world.marker.read_text().splitlines()) if world.marker.exists() else 0


def test_review_merge_push_runs_once_and_reports(world: World) -> None:
    first = world.open_pr(7, {"remediations/r1.yaml": request("rem-1", notes="v1")})
    assert world.pull_request(7).code == 0
    assert world.status(first) == "pending"
    world.review(7, "carol")  # approves the first commit, which is then superseded
    head = world.commit(7, {"remediations/r1.yaml": request("rem-1", notes="v2")})
    assert world.pull_request(7, "synchronize").code == 0
    for login in ("dave", "rita", "sre-bot[bot]", "mallory"):
        done = world.review(7, login)
        assert done.code == 0, done.err
        assert json.loads(done.out)["reviews"]["counted"] == []
        assert world.status(head) == "pending"
    ignored = {i["login"]: i["reason"] for i in json.loads(done.out)["reviews"]["ignored"]}
    assert ignored == {
        "carol": f"approved an older commit ({first[:12]}), not the head",
        "dave": "the pull request's author never approves it",
        "rita": "has no write permission on the repository",
        "sre-bot[bot]": "a bot account never approves",
        "mallory": "not an operator or admin (Settings rbac)",
    }
    done = world.review(7, "bob")
    assert json.loads(done.out)["reviews"]["counted"] == ["bob"]
    assert "Approved at the head commit by: bob" in world.sticky(7)[0]["body"]
    assert ran(world) == 0  # nothing runs before the merge

    sha = merge(world, 7)
    done = push_event(world, sha)
    assert done.code == 0, done.out + done.err
    assert ran(world) == 1
    events = [e for e in remote_events(world.tmp, world.bare) if e["requestId"] == "rem-1"]
    by_status = {e["to"]: e for e in events}
    assert sorted(by_status) == ["COMPLETED", "EXECUTING", "PENDING_APPROVAL", "QUEUED"]
    assert len(events) == 4
    assert by_status["QUEUED"]["actor"] == "bob"
    assert by_status["QUEUED"]["details"]["approval"]["by"] == "bob"
    [result] = [c for c in world.fake.comments_on(7) if "remediate:result" in c["body"]]
    assert "| rem-1 | COMPLETED | ran: completed |" in result["body"]

    again = push_event(world, sha)  # the same event delivered twice: nothing runs again
    assert again.code == 0, again.err
    assert ran(world) == 1
    assert len([c for c in world.fake.comments_on(7) if "remediate:result" in c["body"]]) == 1


def test_a_commit_after_the_approval_voids_it(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1", notes="v1")})
    world.review(7, "bob")
    world.commit(7, {"remediations/r1.yaml": request("rem-1", notes="v2")})
    sha = merge(world, 7)
    done = push_event(world, sha)
    assert done.code == 0, done.err
    assert ran(world) == 0
    [result] = [c for c in world.fake.comments_on(7) if "remediate:result" in c["body"]]
    assert "| rem-1 | PENDING_APPROVAL | awaits approval |" in result["body"]


def test_the_requester_approving_through_someone_elses_pull_request_does_not_count(
    world: World,
) -> None:
    # carol opens the pull request, but dave wrote the request: dave's review is his own
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")}, author="carol")
    done = world.review(7, "dave")
    assert json.loads(done.out)["reviews"]["counted"] == ["dave"]
    sha = merge(world, 7)
    done = push_event(world, sha)
    assert done.code == 0, done.err
    assert ran(world) == 0
    out = json.loads(done.out)
    [pr] = out["pullRequests"]
    assert any("dave requested rem-1 and cannot approve it" in n for n in pr["notes"]), pr


def test_the_runners_own_push_is_ignored(world: World) -> None:
    done = push_event(world, world.main_sha(), email="remediate-bot@example.com")
    assert done.code == 0
    assert json.loads(done.out)["handled"] is False
    assert world.fake.calls == []


def test_schedule_runs_tick_then_apply(world: World) -> None:
    from tests.test_tick import HOURLY

    daily = HOURLY.replace('"0 * * * *"', '"0 6 * * *"').replace("catchUp: all", "catchUp: latest")
    commit_schedules(world.tmp, world.bare, {"hourly": daily}, "2026-11-22T12:00:00Z")
    world.event("schedule", {"schedule": "0 * * * *"})
    done = world.run_cli("github", "--repo", str(world.work), "--format", "json")
    assert done.code == 0, done.err
    body = json.loads(done.out)
    assert [f["fire"] for f in body["tick"]["fires"]] == ["hourly-20261123T0500Z"]
    # the fire's request took the normal policy path in the same run: it awaits approval
    [first] = body["apply"]
    assert first["decided"] == [
        {"requestId": "hourly-20261123T0500Z", "status": "PENDING_APPROVAL"}
    ]
    assert ran(world) == 0
    [decided] = [e for e in remote_events(world.tmp, world.bare) if e.get("to")]
    assert decided["details"]["requester"] == "dev@example.com"  # who added the schedule
    again = world.run_cli("github", "--repo", str(world.work))
    assert again.code == 0, again.err
    assert again.out.splitlines()[:2] == [
        "remediate github: schedule: tick, then apply",
        "no schedule is due at 2026-11-23T10:00:00.000Z",
    ]


def test_authorization_is_read_again_when_the_approval_is_used(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    assert json.loads(world.review(7, "bob").out)["reviews"]["counted"] == ["bob"]
    world.fake.state.teams["sre"].discard("bob")  # bob left the team before the merge
    sha = merge(world, 7)
    done = push_event(world, sha)
    assert done.code == 0, done.err
    assert ran(world) == 0
    [pr] = json.loads(done.out)["pullRequests"]
    assert pr["approvedBy"] == []
    assert "bob does not count: not an operator or admin (Settings rbac)" in pr["notes"]


def test_many_pages_of_reviews_are_read(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    head = world.fake.state.pulls[7]["head"]
    world.fake.review(7, "bob", "APPROVED", head)
    for i in range(230):  # the approval is on the first page, the withdrawal on the third
        world.fake.review(7, f"watcher{i}", "COMMENTED", head)
    done = world.review(7, "bob", "CHANGES_REQUESTED")
    out = json.loads(done.out)
    assert out["reviews"]["counted"] == []
    assert world.status(head) == "pending"
