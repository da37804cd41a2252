"""A GitHub world for `remediate github` tests: a bare remote (the repository on GitHub,
with `refs/pull/N/head` as GitHub keeps them), the runner's clone of `main`, people's
clones that open pull requests, the fake GitHub (tests/fake_github.py) whose pull
requests point at those real commits, and event files as GitHub Actions writes them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.conftest import Result
from tests.fake_github import FakeGitHub
from tests.runner_support import NOW, RUNNER, action_yaml, git

SETTINGS = f"""\
apiVersion: remediate/v1
kind: Settings
metadata: {{name: acme}}
spec:
  organization: ACME
  forge: {{type: github, repository: acme/ops, baseBranch: main}}
  defaultDecision: require_approval
  defaultApprovals: {{min: 1, from: ["team:sre"]}}
  rbac:
    admins: [alice]
    operators: ["team:sre", olivia]
    viewers: ["*"]
  people:
    - {{github: alice, emails: [alice@example.com]}}  # her commits to policies/ are an admin's
    - {{github: bob, emails: [bob@example.com]}}
    - {{github: dave, emails: [dave@example.com]}}
  runner: {{name: remediate-bot, email: {RUNNER}}}
"""

# People on the fake GitHub: login → permission; team sre = bob, carol, dave, rita.
PERMISSIONS = {
    "alice": "admin",
    "bob": "write",
    "carol": "write",
    "dave": "write",
    "olivia": "write",
    "rita": "read",  # in team sre, but may only read the repository
    "mallory": "write",  # write access, but RBAC names her nowhere
}
SRE = {"bob", "carol", "dave", "rita", "sre-bot[bot]"}


def request(name: str, env: str = "production", notes: str = "") -> str:
    extra = f"  notes: {json.dumps(notes)}\n" if notes else ""
    return f"""\
apiVersion: remediate/v1
kind: RemediationRequest
metadata: {{name: {name}}}
spec:
  action: {{type: noop, parameters: {{}}}}
  serviceName: api
  environment: {env}
  severity: LOW
{extra}"""


@dataclass
class World:
    tmp: Path
    fake: FakeGitHub
    monkeypatch: pytest.MonkeyPatch
    run_cli: Callable[..., Result]
    bare: Path = field(init=False)
    work: Path = field(init=False)
    dev: Path = field(init=False)
    marker: Path = field(init=False)

    def __post_init__(self) -> None:
        self.bare = self.tmp / "remote.git"
        git(self.tmp, "init", "--quiet", "--bare", "-b", "main", str(self.bare))
        seed = self.tmp / "seed"
        git(self.tmp, "clone", "--quiet", str(self.bare), str(seed))
        (seed / "remediate.yaml").write_text(SETTINGS)
        (seed / "actions").mkdir()
        self.marker = self.tmp / "ran.log"
        argv = ["sh", "-c", f'echo ran >> "{self.marker}"']
        (seed / "actions" / "noop.yaml").write_text(action_yaml("noop", argv))
        git(seed, "add", "-A")
        git(seed, "commit", "--quiet", "-m", "seed", email="alice@example.com")
        git(seed, "push", "--quiet", "origin", "HEAD:main")
        self.work = self.tmp / "work"
        git(self.tmp, "clone", "--quiet", str(self.bare), str(self.work))
        self.dev = self.tmp / "dev"
        git(self.tmp, "clone", "--quiet", str(self.bare), str(self.dev))
        self.fake.state.permissions.update(PERMISSIONS)
        self.fake.state.teams["sre"] = set(SRE)
        self.fake.state.bots.add("sre-bot[bot]")

    def main_sha(self) -> str:
        return git(self.tmp, "--git-dir", str(self.bare), "rev-parse", "main")

    def open_pr(
        self,
        number: int,
        files: dict[str, str | None],
        author: str = "dave",
        email: str = "dave@example.com",
    ) -> str:
        """Commit `files` on a branch of the main tip as `email`, push it as GitHub keeps
        a pull request (`refs/pull/N/head`), and open the pull request on the fake."""
        git(self.dev, "fetch", "--quiet", "origin")
        git(self.dev, "checkout", "--quiet", "-B", f"pr-{number}", "origin/main")
        base = git(self.dev, "rev-parse", "HEAD")
        head = self.commit(number, files, email)
        self.fake.open_pull(number, author, head, base)
        return head

    def commit(
        self, number: int, files: dict[str, str | None], email: str = "dave@example.com"
    ) -> str:
        """Commit `files` (path → text; None: delete it) on the pull request's branch."""
        git(self.dev, "checkout", "--quiet", f"pr-{number}")
        for path, text in files.items():
            if text is None:
                (self.dev / path).unlink()
                continue
            (self.dev / path).parent.mkdir(parents=True, exist_ok=True)
            (self.dev / path).write_text(text)
        git(self.dev, "add", "-A")
        git(self.dev, "commit", "--quiet", "-m", f"pr {number}", email=email)
        head = git(self.dev, "rev-parse", "HEAD")
        git(self.dev, "push", "--quiet", "--force", "origin", f"HEAD:refs/pull/{number}/head")
        if number in self.fake.state.pulls:
            self.fake.push_head(number, head)
        return head

    def event(self, name: str, body: dict[str, Any]) -> Path:
        path = self.tmp / f"event-{len(list(self.tmp.glob('event-*')))}.json"
        path.write_text(json.dumps(body))
        self.monkeypatch.setenv("GITHUB_EVENT_NAME", name)
        self.monkeypatch.setenv("GITHUB_EVENT_PATH", str(path))
        return path

    def pull_event(self, number: int, action: str = "opened") -> Path:
        with self.fake.lock:
            body = {"action": action, "pull_request": self.fake.pull_body(number)}
        return self.event("pull_request", {**body, "sender": self.fake.user("dave")})

    def pull_request(self, number: int, action: str = "opened") -> Result:
        self.pull_event(number, action)
        return self.github()

    def review(
        self, number: int, login: str, state: str = "APPROVED", commit: str | None = None
    ) -> Result:
        pr = self.fake.state.pulls[number]
        rid = self.fake.review(number, login, state, commit or pr["head"])
        with self.fake.lock:
            review = self.fake.review_body(number, self.fake.state.reviews[number][-1])
            body = {
                "action": "submitted",
                "review": review,
                "pull_request": self.fake.pull_body(number),
                "sender": self.fake.user(login),
            }
        assert review["id"] == rid
        self.event("pull_request_review", body)
        return self.github()

    def github(self, *extra: str) -> Result:
        return self.run_cli("github", "--repo", str(self.work), "--format", "json", *extra)

    def sticky(self, number: int) -> list[dict[str, Any]]:
        return [
            c
            for c in self.fake.comments_on(number)
            if c["body"].startswith("<!-- remediate:plan -->")
        ]

    def status(self, sha: str) -> str:
        found = self.fake.status_of(sha, "remediate/plan")
        assert found, "no remediate/plan status"
        return str(found[-1]["state"])


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.invalid, f"the fake answered outside GitHub's OpenAPI: {fake.invalid}"


@pytest.fixture
def world(
    tmp_path: Path,
    fake_github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Callable[..., Result],
) -> World:
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE", "GIT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", fake_github.repository)
    monkeypatch.setenv("GITHUB_API_URL", fake_github.url)
    monkeypatch.setenv("GITHUB_TOKEN", "tok")
    monkeypatch.setenv("REMEDIATE_GITHUB_BACKOFF", "0.01")
    monkeypatch.setenv("REMEDIATE_NOW", NOW)
    return World(tmp_path, fake_github, monkeypatch, run_cli)


def merge(world: World, number: int, email: str = "dave@example.com") -> str:
    """Merge the pull request's branch into main with a merge commit, as GitHub does."""
    dev = world.dev
    git(dev, "fetch", "--quiet", "origin")
    git(dev, "checkout", "--quiet", "-B", "main", "origin/main")
    git(
        dev,
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        f"Merge pull request #{number}",
        f"pr-{number}",
        email=email,
    )
    sha = git(dev, "rev-parse", "HEAD")
    git(dev, "push", "--quiet", "origin", "main")
    world.fake.merge(number, sha)
    git(world.work, "pull", "--quiet", "--ff-only")
    return sha


def push_event(world: World, sha: str, email: str = "dave@example.com") -> Result:
    body = {
        "ref": "refs/heads/main",
        "before": git(
            world.tmp, "--git-dir", str(world.bare), "rev-parse", f"{sha}^1", check=False
        ),
        "after": sha,
        "commits": [{"id": sha, "committer": {"email": email}}],
        "sender": world.fake.user("dave"),
    }
    world.event("push", body)
    return world.github()


def comment_event(world: World, number: int, login: str, text: str) -> Result:
    """A person comments `text` on the pull request (as GitHub would deliver it)."""
    made = world.fake.comment(number, login, text)
    with world.fake.lock:
        pull = world.fake.pull_body(number)
        body = {
            "action": "created",
            "issue": {
                "number": number,
                "user": pull["user"],
                "pull_request": {"url": pull["url"], "html_url": pull["html_url"]},
            },
            "comment": world.fake.comment_body(number, made),
            "sender": world.fake.user(login),
        }
    world.event("issue_comment", body)
    return world.github()


def replies(world: World, number: int) -> list[str]:
    return [c["body"] for c in world.fake.comments_on(number) if "remediate:reply" in c["body"]]
