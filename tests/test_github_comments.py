"""`issue_comment` commands: the first line only, as the comment's author (from the event,
never from the text), if authorized, answered once by a reply comment."""

from __future__ import annotations

import json

from remediate.service.markdown import cell
from tests.github_world import World, comment_event, merge, push_event, replies, request
from tests.runner_support import remote_events


def merged_pending(world: World) -> None:
    """rem-1 merged without an approval: PENDING_APPROVAL on main."""
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    push_event(world, merge(world, 7))
    world.fake.calls.clear()


def approvals(world: World) -> list[str]:
    return [
        e["details"]["approval"]["by"]
        for e in remote_events(world.tmp, world.bare)
        if "approval" in (e.get("details") or {})
    ]


def test_other_comments_are_ignored_without_a_call(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    for text in (
        "looks good",
        "please /remediate approve",
        " /remediate  dance",
        "/remediateapprove",
    ):
        world.fake.calls.clear()
        done = comment_event(world, 7, "bob", text)
        assert done.code == 0 and json.loads(done.out)["handled"] is False
        assert [c.method for c in world.fake.calls] == []


def test_an_operator_approves_a_merged_request_with_a_reply(world: World) -> None:
    merged_pending(world)
    done = comment_event(world, 7, "bob", "/remediate approve rollback did not help\nmore text")
    assert done.code == 0, done.out + done.err
    [reply] = replies(world, 7)
    assert "- rem-1: QUEUED" in reply and "(as bob)" in reply
    assert approvals(world) == ["bob"]
    # the same event delivered again answers the same reply, not a second one
    comment_event(world, 7, "carol", "hello")
    assert len(replies(world, 7)) == 1


def test_a_login_in_the_text_is_not_an_identity(world: World) -> None:
    merged_pending(world)
    done = comment_event(world, 7, "mallory", "/remediate approve as bob")
    assert done.code == 1
    [reply] = replies(world, 7)
    assert json.loads(done.out)["messages"] == [
        "mallory is not an operator (Settings rbac): nothing done"
    ]
    assert cell("mallory is not an operator (Settings rbac): nothing done") in reply
    assert "(as mallory)" in reply
    assert approvals(world) == []


def test_the_author_read_only_users_and_bots_never_approve(world: World) -> None:
    merged_pending(world)
    assert comment_event(world, 7, "dave", "/remediate approve").code == 1
    assert comment_event(world, 7, "rita", "/remediate approve").code == 1
    bot = comment_event(world, 7, "sre-bot[bot]", "/remediate approve")
    assert bot.code == 0 and json.loads(bot.out)["handled"] is False
    said = "\n".join(replies(world, 7)).replace("\\", "")
    assert "dave opened this pull request and never approves or rejects its requests" in said
    assert "rita has no write permission on the repository: nothing done" in said
    assert approvals(world) == []


def test_reject_needs_a_reason_and_then_rejects(world: World) -> None:
    merged_pending(world)
    assert comment_event(world, 7, "bob", "/remediate reject").code == 1
    assert "needs a reason" in replies(world, 7)[0]
    assert comment_event(world, 7, "bob", "/remediate reject not during the freeze").code == 0
    assert "- rem-1: REJECTED" in replies(world, 7)[1]


def test_on_an_open_pull_request_the_verbs_point_to_a_review(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    done = comment_event(world, 7, "bob", "/remediate approve")
    assert done.code == 0
    assert "rem-1: not on the base branch yet" in replies(world, 7)[0]


def test_plan_refreshes_the_sticky_comment(world: World) -> None:
    head = world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    assert comment_event(world, 7, "carol", "/remediate plan").code == 0
    assert world.status(head) == "pending"
    assert len(world.sticky(7)) == 1
    assert "planned at" in replies(world, 7)[0]


def test_a_reply_echoes_the_command_inert(world: World) -> None:
    merged_pending(world)
    comment_event(world, 7, "bob", "/remediate reject @carol <img src=x> [x](https://evil.example)")
    [reply] = replies(world, 7)
    assert "@carol" not in reply and "<img" not in reply and "](https://" not in reply


def test_a_lost_reply_post_still_answers_once(world: World) -> None:
    merged_pending(world)
    world.fake.fail("POST", r"/issues/7/comments$", "lost")
    assert comment_event(world, 7, "bob", "/remediate approve").code == 0
    assert len(replies(world, 7)) == 1


def test_two_approvals_from_the_team_count_together(world: World) -> None:
    two = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: production-two}
spec:
  match: {environments: [production]}
  rules:
    - {name: two-sre, effect: require_approval, approvals: {min: 2, from: ["team:sre"]}}
"""
    world.open_pr(6, {"policies/two.yaml": two}, author="alice", email="alice@example.com")
    merge(world, 6, email="alice@example.com")  # an admin merges it (see the trust issue)
    merged_pending(world)
    assert comment_event(world, 7, "bob", "/remediate approve").code == 0
    assert "- rem-1: PENDING\\_APPROVAL" in replies(world, 7)[0]
    assert comment_event(world, 7, "carol", "/remediate approve").code == 0
    assert "- rem-1: QUEUED" in replies(world, 7)[1]
    assert sorted(approvals(world)) == ["bob", "carol"]


def test_a_reason_longer_than_the_audit_keeps_is_refused(world: World) -> None:
    merged_pending(world)
    done = comment_event(world, 7, "bob", "/remediate approve " + "x" * 1001)
    assert done.code == 1
    assert json.loads(done.out)["messages"] == ["the reason is 1001 characters; at most 1000"]
    assert approvals(world) == []
