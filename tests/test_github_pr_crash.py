"""`github_pr` opens exactly one pull request per request across a real crash and a re-run:
the runner process is killed (SIGKILL) after it pushed the branch and while its create of
the pull request is held by the fake GitHub (nothing created), and the next `apply` runs
the request again (idempotent, retries left), finds the branch it pushed, and opens one
pull request."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from remediate.core.times import parse_time
from tests.fake_github import FakeGitHub
from tests.github_world import fake_github as fake_github  # the fixture
from tests.runner_support import (
    RUNNER,
    cli_env,
    clone,
    git,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
    start,
)

ACTION = """\
apiVersion: remediate/v1
kind: ActionType
metadata: {name: open-pr}
spec:
  parameters: {type: object}
  executor:
    github_pr:
      title: "Bump {{ request.serviceName }}"
      body: "For {{ request.name }}"
      labels: [remediate]
      change:
        files: [{path: "deploy/{{ request.serviceName }}.txt", content: "v2\\n"}]
  timeout: 2s
  idempotent: true
  retries: {max: 2, backoff: 1s}
"""


def _remote(tmp: Path) -> Path:
    bare = make_remote(
        tmp,
        actions={"open-pr": ACTION},
        requests={"rem-pr": request_yaml("rem-pr", action="open-pr")},
    )
    seed = tmp / "seed"
    settings = seed / "remediate.yaml"
    text = settings.read_text().replace(
        "forge: {type: local}", "forge: {type: github, repository: acme/ops, baseBranch: main}"
    )
    line = next(x for x in text.splitlines() if x.startswith("  runner:"))
    settings.write_text(text.replace(line, line[:-1] + ", clockSkew: 0s}"))
    git(seed, "commit", "--quiet", "-am", "forge: github", email="admin@example.com")
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return bare


def _events(tmp: Path, bare: Path) -> list[dict[str, object]]:
    return [e for e in remote_events(tmp, bare) if e["requestId"] == "rem-pr"]


def test_a_kill_after_the_push_before_the_pull_request_opens_exactly_one(
    tmp_path: Path, fake_github: FakeGitHub
) -> None:
    bare = _remote(tmp_path)
    fake_github.state.bare = bare
    scratch = tmp_path / "scratch"  # where the runners make their temporary checkouts
    scratch.mkdir()
    env = cli_env(
        GITHUB_TOKEN="tok",
        GITHUB_API_URL=fake_github.url,
        REMEDIATE_GITHUB_BACKOFF="0",
        TMPDIR=str(scratch),
    )
    work = clone(tmp_path, bare, "runner", email=RUNNER)
    fake_github.fail("POST", r"/pulls$", "hold")
    runner = start(work, "apply", "--format", "json", env=env)
    try:
        if not fake_github.held.wait(90):
            runner.kill()
            out, err = runner.communicate(timeout=30)
            raise AssertionError(f"the runner never tried to open the pull request: {out} {err}")
        branch = git(tmp_path, "--git-dir", str(bare), "rev-parse", "refs/heads/remediate/rem-pr")
        os.killpg(runner.pid, signal.SIGKILL)  # after the push, before the pull request
        runner.wait(30)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait(30)
        fake_github.release.set()
    assert fake_github.state.pulls == {}
    assert list(scratch.iterdir()) == []  # the checkout was gone before the push
    claim = next(e for e in _events(tmp_path, bare) if e["to"] == "EXECUTING")
    deadline = parse_time(str(claim["details"]["deadline"]))  # type: ignore[index]
    while datetime.now(UTC) < deadline:
        time.sleep(0.1)
    statuses = []
    for _ in range(3):  # recovery fails the dead attempt (outcome unknown), then re-runs it
        time.sleep(1.1)  # the retry's backoff
        done = remediate(work, "apply", "--format", "json", env=env)
        assert done.returncode in (0, 1), done.stderr
        statuses = [e["to"] for e in _events(tmp_path, bare)]
        if statuses[-1] == "COMPLETED":
            break
    assert statuses[-1] == "COMPLETED", statuses
    assert sorted(fake_github.state.pulls) == [1]
    pull = fake_github.state.pulls[1]
    assert (pull["head_ref"], pull["head"], pull["labels"]) == (
        "remediate/rem-pr",
        branch,  # the branch the killed runner pushed, reused as it was
        ["remediate"],
    )
    completed = _events(tmp_path, bare)[-1]
    assert json.loads(json.dumps(completed["details"]))["pullRequest"]["number"] == 1
    creates = [c for c in fake_github.calls if c.method == "POST" and c.path.endswith("/pulls")]
    assert [c.status for c in creates] == [502, 201]  # the held one (nothing created), one
    assert remediate(work, "audit", "verify", env=env).returncode == 0
    assert list(scratch.iterdir()) == []  # every run removed its temporary checkout
    assert git(work, "worktree", "list", "--porcelain").count("worktree ") == 1
