"""An auto-remediation rule whose action is `github_pr` makes each finding a fix pull
request: the request the findings fold records (no file), rendered from the finding,
run by the real `github_pr` executor against a real bare remote and the fake GitHub."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from remediate import wiring
from remediate.core import autoremediation as ar
from remediate.core import findings as fd
from remediate.core import streams
from remediate.core.model import ActionType, Repository, Settings
from remediate.executors.base import ExecutionContext
from remediate.executors.github_pr import GitHubPullRequestExecutor
from remediate.service.autoremediation import request_spec
from tests.github_world import World
from tests.runner_support import RUNNER, git

FORGE = {"type": "github", "repository": "acme/ops", "baseBranch": "main"}
CONFIG = {
    "repository": "acme/ops",
    "title": "Fix {{ parameters.rule }} in {{ parameters.file }}",
    "body": "Finding {{ request.findingId }}: {{ parameters.why }}",
    "change": {
        "files": [{"path": "fixes/{{ request.name }}.md", "content": "{{ parameters.why }}\n"}]
    },
}
RULE = {
    "name": "fix-pr",
    "match": {"rules": ["B307"]},
    "request": {
        "action": {
            "type": "open-fix-pr",
            "parameters": {
                "rule": "{{ finding.ruleId }}",
                "file": "{{ finding.location.file }}",
                "why": "{{ finding.message }}",
            },
        },
        "serviceName": "{{ finding.repository }}",
        "environment": "staging",
    },
}


def test_a_github_pr_rule_opens_a_fix_pull_request_for_the_finding(world: World) -> None:
    world.fake.state.bare = world.bare
    now = datetime(2026, 11, 23, 10, tzinfo=UTC)
    result = fd.Result(
        "Bandit", "B307", "MEDIUM", "app.py", 9, "eval {{ x }} $(id)", "fp", "payments"
    )
    finding = fd.record(result, fd.OPEN, now, "s1")
    action = ActionType("open-fix-pr", "github_pr", CONFIG, {}, timeout=timedelta(seconds=30))
    settings = Settings.from_spec("acme", {"forge": FORGE, "autoRemediation": [RULE]})
    repository = Repository(settings, {action.name: action}, (), {}, (), ())
    (rule,) = ar.rules_of(settings.auto_remediation)
    name = ar.request_name(rule.name, finding["id"])
    spec = request_spec(repository, rule, finding, name)
    assert isinstance(spec, dict), spec
    change = fd.remediation_change(finding, name, rule.name, spec, "ops@example.com")
    state = streams.StreamState(fd.STREAM, finding["id"], finding)
    event = streams.StreamEvent(
        "e1",
        "2026-11-23T10:00:00.000Z",
        fd.STREAM,
        finding["id"],
        change.verb,
        "ops@example.com",
        change.details,
    )
    assert streams.refused(state, event) is None
    (request,) = fd.FOLD.requests(streams.step(state, event).value)  # what apply decides
    assert request.name == name and request.file is None

    environment = {
        "PATH": os.environ["PATH"],
        "GITHUB_TOKEN": "tok",
        "GITHUB_API_URL": world.fake.url,
        "REMEDIATE_GITHUB_BACKOFF": "0",
    }
    done = GitHubPullRequestExecutor().run(
        ExecutionContext(
            request=request,
            action=action,
            environment=environment,
            allowed_environment=("PATH",),
            root=world.work,
            idempotency_key=f"{name}/1",
            runner=RUNNER,
            forge=FORGE,
            open_forge=lambda: wiring.forge(settings, environment),
        )
    )
    assert done.ok, done.error
    (pr,) = world.fake.state.pulls.values()
    assert done.details["branch"] == f"remediate/{name}"
    tip = done.details["commit"]
    shown = git(world.tmp, "--git-dir", str(world.bare), "show", f"{tip}:fixes/{name}.md")
    assert shown == "eval {{ x }} $(id)"  # the finding's message, as data
    assert pr["head_ref"] == f"remediate/{name}"
    assert pr["title"] == "Fix B307 in app.py"
    assert pr["body"].startswith(f"Finding {finding['id']}: eval {{{{ x }}}} $(id)")
