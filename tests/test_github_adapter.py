"""The GitHub adapter (PyGithub's requester, our retry rules) against the fake GitHub,
and the fake itself: every answer is checked against GitHub's OpenAPI description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from remediate.adapters.github import GitHubForge, Retrying
from remediate.core.forge import LostReply
from remediate.errors import UserError
from tests.fake_github import FakeGitHub

HEAD = "a" * 40


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    found = FakeGitHub().start()
    found.state.permissions.update(bob="write", rita="read")
    found.state.teams["sre"] = {"bob"}
    found.open_pull(7, "dave", HEAD, "b" * 40)
    yield found
    found.stop()


def forge(fake: FakeGitHub, **kw: float) -> tuple[GitHubForge, Retrying]:
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    retrying = Retrying(sleep=sleep, clock=lambda: clock[0], **kw)  # type: ignore[arg-type]
    return GitHubForge(fake.repository, "tok", fake.url, retrying), retrying


def test_the_fake_reports_an_answer_outside_the_openapi_description(fake: FakeGitHub) -> None:
    original = fake.pull_body

    def broken(number: int) -> dict[str, object]:
        body = original(number)
        del body["number"]
        return body

    fake.pull_body = broken  # type: ignore[method-assign]
    gh, _ = forge(fake)
    with pytest.raises(KeyError):
        gh.pull_request(7)
    assert len(fake.invalid) == 1 and "'number' is a required property" in fake.invalid[0]


def test_reads_return_every_page(fake: FakeGitHub) -> None:
    for i in range(250):
        fake.review(7, f"user{i}", "COMMENTED", HEAD)
    for i in range(101):
        fake.comment(7, "carol", f"c{i}")
    gh, _ = forge(fake)
    assert [r.login for r in gh.reviews(7)] == [f"user{i}" for i in range(250)]
    assert len(gh.comments(7)) == 101
    assert [c.method for c in fake.calls].count("GET") == 3 + 2
    assert not fake.invalid


def test_permissions_and_teams(fake: FakeGitHub) -> None:
    gh, _ = forge(fake)
    assert (gh.permission("bob"), gh.permission("rita"), gh.permission("nobody")) == (
        "write",
        "read",
        "none",
    )
    assert gh.team_member("sre", "bob") and not gh.team_member("sre", "rita")
    assert not gh.team_member("nope", "bob")
    assert not fake.invalid


def test_a_lost_reply_to_a_create_is_never_sent_again(fake: FakeGitHub) -> None:
    gh, retrying = forge(fake)
    fake.fail("POST", r"/issues/7/comments$", "lost")
    with pytest.raises(LostReply):
        gh.create_comment(7, "hello")
    fake.fail("POST", r"/issues/7/comments$", "after")
    with pytest.raises(LostReply):
        gh.create_comment(7, "hello")
    assert [c["body"] for c in fake.comments_on(7)] == ["hello", "hello"]  # each sent once
    assert [c.method for c in fake.calls] == ["POST", "POST"]
    assert retrying.waits == []


def test_a_status_is_retried_a_bounded_number_of_times_then_fails_clearly(
    fake: FakeGitHub,
) -> None:
    gh, retrying = forge(fake, attempts=4, base=1.0)
    fake.fail("POST", r"/statuses/", "after", times=99)
    with pytest.raises(UserError) as caught:
        gh.set_status(HEAD, "pending", "remediate/plan", "waiting")
    assert str(caught.value) == (
        f"GitHub: setting the commit status remediate/plan of {HEAD[:12]} failed after 4 tries"
        " in 7s (GitHub answered 502); nothing more was sent"
    )
    assert retrying.waits == [1.0, 2.0, 4.0]
    assert len(fake.writes()) == 4


def test_a_status_after_one_502_lands_once_more_and_is_the_latest(fake: FakeGitHub) -> None:
    gh, retrying = forge(fake)
    fake.fail("POST", r"/statuses/", "before")
    gh.set_status(HEAD, "success", "remediate/plan", "ok")
    assert [s["state"] for s in fake.status_of(HEAD, "remediate/plan")] == ["success"]
    assert retrying.waits == [1.0]


def test_a_secondary_rate_limit_waits_what_github_says(fake: FakeGitHub) -> None:
    gh, retrying = forge(fake)
    fake.fail("POST", r"/issues/7/comments$", "secondary", retry_after=7)
    gh.create_comment(7, "once")  # refused, not performed: sending it again is safe
    assert retrying.waits == [7.0]
    assert [c["body"] for c in fake.comments_on(7)] == ["once"]


def test_a_rate_limit_longer_than_the_deadline_fails_without_waiting(fake: FakeGitHub) -> None:
    gh, retrying = forge(fake, deadline=30)
    fake.fail("GET", r"/pulls/7$", "429", retry_after=3600)
    with pytest.raises(UserError, match=r"failed after 1 tries .*GitHub answered 429"):
        gh.pull_request(7)
    assert retrying.waits == []


def test_a_secondary_limit_without_retry_after_backs_off(fake: FakeGitHub) -> None:
    gh, retrying = forge(fake, base=2.0)
    fake.fail("GET", r"/pulls/7$", "secondary", times=2)
    assert gh.pull_request(7).head_sha == HEAD
    assert retrying.waits == [2.0, 4.0]


def test_refusals_are_one_sentence(fake: FakeGitHub) -> None:
    gh = GitHubForge(fake.repository, "wrong", fake.url, Retrying(sleep=lambda s: None))
    with pytest.raises(UserError) as caught:
        gh.pull_request(7)
    assert str(caught.value) == (
        "GitHub refused reading pull request #7 (401: Bad credentials); check GITHUB_TOKEN"
    )
