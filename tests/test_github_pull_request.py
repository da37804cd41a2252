"""`remediate github` on `pull_request`: plan as of the head commit, one sticky comment,
the commit status `remediate/plan` that tells the truth, against the fake GitHub."""

from __future__ import annotations

import json

from tests.github_world import World, request

MARKER = "<!-- remediate:plan -->"


def test_opened_comments_once_and_sets_pending(world: World) -> None:
    head = world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    done = world.pull_request(7)
    assert done.code == 0, done.err
    out = json.loads(done.out)
    assert out["status"] == "pending"
    assert [d["requestId"] for d in out["decisions"]] == ["rem-1"]
    assert world.status(head) == "pending"
    [comment] = world.sticky(7)
    assert comment["login"] == "github-actions[bot]"
    assert comment["body"].startswith(MARKER)
    assert "| rem-1 | PENDING_APPROVAL |" in comment["body"], comment["body"]
    # synchronize with a new commit: the same comment is edited, the new head gets a status
    head2 = world.commit(7, {"remediations/r2.yaml": request("rem-2", env="staging")})
    done = world.pull_request(7, "synchronize")
    assert done.code == 0, done.err
    [again] = world.sticky(7)
    assert again["id"] == comment["id"]
    assert "| rem-2 | PENDING_APPROVAL |" in again["body"], again["body"]
    assert world.status(head2) == "pending"
    assert len(world.fake.comments_on(7)) == 1


def test_a_lost_reply_to_the_comment_post_still_leaves_one_comment(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    world.fake.fail("POST", r"/issues/7/comments$", "lost")
    done = world.pull_request(7)
    assert done.code == 0, done.err
    assert len(world.sticky(7)) == 1
    posts = [c for c in world.fake.calls if c.method == "POST" and c.path.endswith("/comments")]
    assert len(posts) == 1  # looked up by its marker, found: never sent again
    world.pull_request(7, "synchronize")
    assert len(world.fake.comments_on(7)) == 1


def test_a_502_before_the_comment_was_made_creates_it_once(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    world.fake.fail("POST", r"/issues/7/comments$", "before")
    assert world.pull_request(7).code == 0
    assert len(world.sticky(7)) == 1


def test_a_502_after_the_comment_was_made_leaves_one(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    world.fake.fail("POST", r"/issues/7/comments$", "after")
    assert world.pull_request(7).code == 0
    assert len(world.fake.comments_on(7)) == 1


def test_a_persistent_502_on_the_status_fails_clearly_after_bounded_tries(world: World) -> None:
    head = world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    world.fake.fail("POST", r"/statuses/", "after", times=99)
    done = world.pull_request(7)
    assert done.code == 1
    assert json.loads(done.out)["error"]["message"].startswith(
        f"GitHub: setting the commit status remediate/plan of {head[:12]} failed after 5 tries"
    )
    assert len([c for c in world.fake.calls if "/statuses/" in c.path]) == 5


def test_a_marker_in_a_persons_comment_is_not_the_runners(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    planted = world.fake.comment(7, "mallory", MARKER + "\nall approved, merge away")
    assert world.pull_request(7).code == 0
    [ours] = world.sticky(7)[1:]
    assert ours["login"] == "github-actions[bot]"
    assert world.fake.comments_on(7)[0] == planted  # never edited


def test_an_invalid_document_fails_the_status_and_is_annotated(world: World) -> None:
    bad = request("rem-1").replace("type: noop", 'type: "@bob <img src=x onerror=alert(1)>"')
    head = world.open_pr(7, {"remediations/r1.yaml": bad})
    world.monkeypatch.setenv("GITHUB_ACTIONS", "true")
    world.pull_event(7)
    done = world.run_cli("github", "--repo", str(world.work))
    assert done.code == 1
    assert world.status(head) == "failure"
    assert "::error file=" in done.out and "remediations/r1.yaml" in done.out
    [comment] = world.sticky(7)
    body = comment["body"]
    assert "error(s): nothing is decided" in body
    assert "<img" not in body and "@bob" not in body  # no HTML, no mention
    assert "&lt;img" in body and "@\u2060bob" in body


def test_a_hostile_file_name_reaches_the_comment_inert(world: World) -> None:
    name = "remediations/@carol [x](https:evil.example) <b>.yaml"
    head = world.open_pr(7, {name: "{{{not yaml"})
    done = world.pull_request(7)
    assert done.code == 1
    assert world.status(head) == "failure"
    body = world.sticky(7)[0]["body"]
    assert "@carol" not in body and "<b>" not in body and "](https" not in body


def test_a_policy_change_in_the_pull_request_does_not_decide_its_requests(world: World) -> None:
    allow_all = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: allow-all}
spec:
  match: {environments: ["*"]}
  rules:
    - {name: everything, effect: allow}
"""
    head = world.open_pr(
        7, {"remediations/r1.yaml": request("rem-1"), "policies/allow-all.yaml": allow_all}
    )
    done = world.pull_request(7)
    assert done.code == 0, done.err
    out = json.loads(done.out)
    assert out["decisions"][0]["status"] == "PENDING_APPROVAL"  # the base's rules decide
    assert out["automation"] == ["policies/allow-all.yaml"]
    assert world.status(head) == "pending"
    body = world.sticky(7)[0]["body"]
    assert "Changes to the automation itself" in body and "policies/allow-all.yaml" in body


def test_a_pull_request_that_forges_audit_events_fails(world: World) -> None:
    head = world.open_pr(7, {"audit/2026/forged.jsonl": '{"id": "x"}\n'})
    done = world.pull_request(7)
    assert done.code == 1
    assert world.status(head) == "failure"


def test_no_requests_is_success_and_other_actions_do_nothing(world: World) -> None:
    head = world.open_pr(7, {"README.md": "hello\n"})
    assert world.pull_request(7).code == 0
    assert world.status(head) == "success"
    calls = len(world.fake.calls)
    done = world.pull_request(7, "closed")
    assert done.code == 0 and json.loads(done.out)["handled"] is False
    assert len(world.fake.calls) == calls


def test_one_request_takes_at_most_eight_calls(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    world.pull_request(7)
    assert len(world.fake.calls) <= 8
    many = {f"remediations/r{i}.yaml": request(f"rem-{i}") for i in range(50)}
    world.open_pr(8, many)
    before = len(world.fake.calls)
    world.pull_request(8)
    assert len(world.fake.calls) - before <= 12


def test_a_symbolic_link_out_of_the_repository_is_an_error_never_read(world: World) -> None:
    secret = world.tmp / "secret.txt"
    secret.write_text("apiVersion: remediate/v1\nTOPSECRET\n")
    git_dev = world.dev
    world.open_pr(7, {"README.md": "x\n"})
    (git_dev / "remediations").mkdir(exist_ok=True)
    (git_dev / "remediations" / "link.yaml").symlink_to(secret)
    head = world.commit(7, {})
    done = world.pull_request(7)
    assert done.code == 1
    assert world.status(head) == "failure"
    body = world.sticky(7)[0]["body"]
    assert "remediations/link.yaml" in body and "TOPSECRET" not in body


def test_a_huge_request_file_is_refused_by_its_size(world: World) -> None:
    head = world.open_pr(7, {"remediations/big.yaml": "# " + "x" * (3 * 1024 * 1024) + "\n"})
    done = world.pull_request(7)
    assert done.code == 1
    assert world.status(head) == "failure"
    assert "the limit is" in world.sticky(7)[0]["body"]


def test_the_sticky_comment_is_found_beyond_the_first_page(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    assert world.pull_request(7).code == 0
    for i in range(150):
        world.fake.comment(7, "carol", f"chatter {i}")
    world.commit(7, {"remediations/r2.yaml": request("rem-2")})
    assert world.pull_request(7, "synchronize").code == 0
    assert len(world.sticky(7)) == 1
    assert "rem-2" in world.sticky(7)[0]["body"]


def test_github_unreachable_is_one_sentence_and_exit_1(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    world.fake.stop()
    world.pull_event(7)
    done = world.run_cli("github", "--repo", str(world.work))
    assert done.code == 1
    assert done.err.startswith("remediate: GitHub: reading the comments of #7 failed after ")
    assert "(no reply (ConnectionError)); nothing more was sent" in done.err
    assert "Traceback" not in done.err
    world.fake.start = lambda: world.fake  # type: ignore[method-assign]


def test_a_malformed_event_is_misuse(world: World) -> None:
    path = world.event("pull_request", {"action": "opened", "pull_request": {"number": 7}})
    done = world.run_cli("github", "--repo", str(world.work))
    assert (done.code, done.err) == (2, "remediate: the GitHub event has no pull_request.user\n")
    path = world.event("pull_request", {"action": "opened", "pull_request": {"number": "7; rm"}})
    done = world.run_cli("github", "--repo", str(world.work))
    assert done.err == (
        "remediate: the GitHub event's pull_request.number is not a positive integer\n"
    )
    path.write_text("[1, 2")
    done = world.run_cli("github", "--repo", str(world.work))
    assert done.code == 2 and done.err.startswith(f"remediate: GITHUB_EVENT_PATH={path}: not a")


def test_an_unchanged_plan_is_not_edited_again(world: World) -> None:
    world.open_pr(7, {"remediations/r1.yaml": request("rem-1")})
    assert world.pull_request(7).code == 0
    world.fake.calls.clear()
    assert world.pull_request(7, "synchronize").code == 0
    assert [c.method for c in world.fake.calls] == ["GET", "POST"]  # comments, status
