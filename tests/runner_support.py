"""Real git for runner tests: a bare remote, clones, request files, schedules committed at a
given time, a repository to `validate`, and the CLI as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-23T10:00:00Z"
RUNNER = "remediate-bot@example.com"
OPERATOR = "ops@example.com"
OPERATOR2 = "ops2@example.com"
REQUESTER = "dev@example.com"
ADMIN = "admin@example.com"

SETTINGS = f"""\
apiVersion: remediate/v1
kind: Settings
metadata: {{name: test-org}}
spec:
  organization: Test
  forge: {{type: local}}
  defaultDecision: @DECISION@
  defaultApprovals: {{min: 1, from: ["team:sre"]}}
  rbac:
    admins: [{ADMIN}]
    operators: ["team:sre"]
    viewers: ["*"]
  teams:
    sre: [{OPERATOR}, {OPERATOR2}]
  runner: {{name: remediate-bot, email: {RUNNER}}}
"""


def action_yaml(
    name: str,
    argv: list[str],
    *,
    timeout: str = "30s",
    idempotent: bool = False,
    retries: int = 0,
    backoff: str = "30s",
    extra: str = "",
) -> str:
    return f"""\
apiVersion: remediate/v1
kind: ActionType
metadata: {{name: {name}}}
spec:
  parameters: {{type: object}}
  executor:
    command:
      argv: {json.dumps(argv)}
{extra}  timeout: {timeout}
  idempotent: {str(idempotent).lower()}
  retries: {{max: {retries}, backoff: {backoff}}}
"""


def request_yaml(
    name: str,
    action: str = "noop",
    service: str = "api",
    env: str = "staging",
    incident: str | None = None,
    note: str = "",
) -> str:
    incident_line = f"  incidentId: {incident}\n" if incident else ""
    notes = f"  notes: {json.dumps(note)}\n" if note else ""
    return f"""\
apiVersion: remediate/v1
kind: RemediationRequest
metadata: {{name: {name}}}
spec:
  action: {{type: {action}, parameters: {{}}}}
  serviceName: {service}
  environment: {env}
  severity: LOW
{incident_line}{notes}"""


# The least Settings a repository needs for `validate` (no runner, no rbac).
LOCAL_SETTINGS = (
    "apiVersion: remediate/v1\nkind: Settings\nmetadata: {name: t}\nspec:\n  forge: {type: local}\n"
)


def git(
    cwd: Path, *args: str, email: str = REQUESTER, check: bool = True, date: str | None = None
) -> str:
    """`git ARGS` in `cwd` as `email` (author and committer; `date`: both dates)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": email.split("@")[0],
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": email.split("@")[0],
        "GIT_COMMITTER_EMAIL": email,
    }
    if date is not None:
        env.update({"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def make_remote(
    tmp: Path,
    decision: str = "allow",
    actions: dict[str, str] | None = None,
    requests: dict[str, str] | None = None,
    policies: dict[str, str] | None = None,
    requester: str = REQUESTER,
    settings_extra: str = "",
) -> Path:
    """A bare remote holding settings (`settings_extra` appended to its spec), action
    types and requests (added by REQUESTER)."""
    bare = tmp / "remote.git"
    git(tmp, "init", "--quiet", "--bare", "-b", "main", str(bare))
    seed = tmp / "seed"
    git(tmp, "clone", "--quiet", str(bare), str(seed))
    (seed / "remediate.yaml").write_text(SETTINGS.replace("@DECISION@", decision) + settings_extra)
    for name, text in (actions or {}).items():
        (seed / "actions").mkdir(exist_ok=True)
        (seed / "actions" / f"{name}.yaml").write_text(text)
    for name, text in (policies or {}).items():
        (seed / "policies").mkdir(exist_ok=True)
        (seed / "policies" / f"{name}.yaml").write_text(text)
    write_requests(seed, requests or {})
    git(seed, "add", "-A")
    git(seed, "commit", "--quiet", "-m", "seed", email=requester)
    git(seed, "push", "--quiet", "origin", "HEAD:main")
    return bare


def write_requests(clone: Path, requests: dict[str, str]) -> None:
    (clone / "remediations").mkdir(exist_ok=True)
    for name, text in requests.items():
        (clone / "remediations" / f"{name}.yaml").write_text(text)


def schedule_yaml(
    name: str,
    job: str,
    cron: str = "0 * * * *",
    timezone: str = "Europe/Berlin",
    catch_up: str | None = "latest",
) -> str:
    """A Schedule document; `job` is the YAML of spec.job (`remediation_job`, `report:
    {}`, …), indented here; no `catchUp` line when `catch_up` is None."""
    catch = "" if catch_up is None else f"  catchUp: {catch_up}\n"
    body = "".join(f"    {line}\n" for line in job.splitlines())
    return (
        f"apiVersion: remediate/v1\nkind: Schedule\nmetadata: {{name: {name}}}\nspec:\n"
        f'  cron: "{cron}"\n  timezone: {timezone}\n{catch}  job:\n{body}'
    )


def remediation_job(
    action: str, service: str, environment: str, severity: str = "LOW", parameters: str = "{}"
) -> str:
    """A Schedule's `remediation` job (for `schedule_yaml`): the request each fire makes."""
    return (
        f"remediation:\n  action: {{type: {action}, parameters: {parameters}}}\n"
        f"  serviceName: {service}\n  environment: {environment}\n  severity: {severity}"
    )


def commit_schedules(
    tmp: Path,
    bare: Path,
    files: dict[str, str],
    date: str,
    extra: str = "",
    who: str | None = None,
) -> None:
    """Add schedules (name → text) in a commit dated `date` (committer and author), pushed
    to main; `extra` is appended to the settings. By `who`, else by an admin when `extra`
    changes the settings (a person's change of them would be held back: `runtime.load`),
    else by REQUESTER. Who added a schedule is the requester of its fires."""
    seed = tmp / f"schedules-{len(list(tmp.iterdir()))}"
    git(tmp, "clone", "--quiet", str(bare), str(seed))
    (seed / "schedules").mkdir(exist_ok=True)
    for name, text in files.items():
        (seed / "schedules" / f"{name}.yaml").write_text(text)
    if extra:
        settings = seed / "remediate.yaml"
        settings.write_text(settings.read_text() + extra)
    who = who or (ADMIN if extra else REQUESTER)
    git(seed, "add", "-A", email=who)
    git(seed, "commit", "--quiet", "-m", "schedules", email=who, date=date)
    git(seed, "push", "--quiet", "origin", "HEAD:main", email=who)


def validate_repo(tmp: Path, files: dict[str, str], settings: str = LOCAL_SETTINGS) -> Path:
    """A git repository at `tmp`/repo holding `settings` as remediate.yaml and `files`
    (path → text), nothing committed: what `validate` reads."""
    repo = tmp / "repo"
    repo.mkdir()
    (repo / "remediate.yaml").write_text(settings)
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "init", "--quiet")
    return repo


def clone(tmp: Path, bare: Path, name: str, email: str = OPERATOR) -> Path:
    target = tmp / name
    git(tmp, "clone", "--quiet", str(bare), str(target))
    git(target, "config", "user.email", email)
    git(target, "config", "user.name", email.split("@")[0])
    return target


def cli_env(now: str = NOW, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_"))}
    env.update({"REMEDIATE_NOW": now, "PYTHONDONTWRITEBYTECODE": "1", **extra})
    return env


def remediate(
    cwd: Path, *args: str, now: str = NOW, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "remediate", *args, "--repo", str(cwd)],
        cwd=cwd,
        env=env or cli_env(now),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(
    cwd: Path, *args: str, now: str = NOW, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "remediate", *args, "--repo", str(cwd)],
        cwd=cwd,
        env=env or cli_env(now),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def remote_events(tmp: Path, bare: Path) -> list[dict[str, Any]]:
    """Every audit event on the remote's main branch (from a fresh clone)."""
    check = tmp / f"check-{len(list(tmp.iterdir()))}"
    git(tmp, "clone", "--quiet", str(bare), str(check))
    events = []
    for path in sorted((check / "audit").rglob("*.jsonl")) if (check / "audit").exists() else []:
        events += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return events


def stream_events(tmp: Path, bare: Path, stream: str) -> list[dict[str, Any]]:
    """The remote's audit events of one stream (`remote_events`)."""
    return [e for e in remote_events(tmp, bare) if e.get("stream") == stream]


def lines(log: Path) -> list[str]:
    """The lines a test's action appended to `log` (none if it never ran)."""
    return log.read_text().splitlines() if log.exists() else []


def json_out(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def apply_at(cwd: Path, after: timedelta) -> subprocess.CompletedProcess[str]:
    """`remediate apply --format json` in this process, with the runner's clock injected
    through the Clock port `after` the real time (REMEDIATE_NOW never sets the runner's
    clock): how a test moves past claim deadlines and backoffs without waiting."""
    from remediate.core.times import iso
    from remediate.errors import UserError
    from remediate.service.apply import apply
    from remediate.service.runtime import actor_or_none
    from tests.sessions import session

    built = session(cwd, now=iso(datetime.now(UTC) + after) or "")
    try:
        report = apply(built, actor_or_none(built))
    except UserError as exc:
        body = {"error": {"message": str(exc), "code": 1}}
        return subprocess.CompletedProcess(["apply"], 1, json.dumps(body), str(exc))
    code = 1 if report.failed else 0
    return subprocess.CompletedProcess(["apply"], code, json.dumps(report.as_json()), "")
