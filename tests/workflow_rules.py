"""The rules every GitHub Actions workflow of ours keeps, checked on the parsed YAML.

PRODUCT.md ("GitHub"): each job gets only the `permissions:` it needs, every action is
pinned to a full commit SHA (its tag in a comment), event values reach `run:` only through
`env:`, applies queue (never cancelled) while superseded pull-request runs are cancelled,
every job has `timeout-minutes`, and nothing installs a package named `remediate` from a
package index (that name belongs to another project). `violations` names each broken rule
as `file: job: rule: detail`, so one assertion shows every problem at once.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*?))?\s*$")
TAG = re.compile(r"^v\d+(\.\d+)*$")
# `pip install remediate`, `pipx install "remediate>=0.1"`, `uv pip install remediate`…, but
# not `remediate @ git+https://…@<sha>` (a direct reference to its own repository).
INDEX_INSTALL = re.compile(
    r"\binstall\b[^\n]*?(?<![\w/.@-])['\"]?remediate(?:\[[\w,]*\])?(?:[<>=!~][^\s'\"]*)?['\"]?"
    r"(?=\s|$)(?!\s*@)"
)
CONSTANT_GROUP_CONTEXTS = {"github.repository", "github.workflow"}
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PR_EVENTS = {"pull_request", "pull_request_target"}
ON_PULL_REQUEST = "${{ github.event_name == 'pull_request' }}"


def load(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    if True in doc:  # YAML 1.1 reads the key `on` as a boolean
        doc["on"] = doc.pop(True)
    return doc


def triggers(doc: dict[str, Any]) -> set[str]:
    on = doc.get("on")
    if isinstance(on, str):
        return {on}
    return set(on or ())


def runs_on_pull_requests(doc: dict[str, Any], job: dict[str, Any]) -> bool:
    """Whether the job can run for a pull-request event (its `if` does not exclude them)."""
    if not triggers(doc) & PR_EVENTS:
        return False
    condition = str(job.get("if", ""))
    return "github.event_name != 'pull_request'" not in condition


def writes(job: dict[str, Any]) -> bool:
    """Whether the job commits or pushes (`contents: write`); a pull-request job that writes
    only its comment and status is not a writer that must queue."""
    permissions = job.get("permissions")
    return isinstance(permissions, dict) and permissions.get("contents") == "write"


def violations(name: str, text: str) -> list[str]:
    doc = load(text)
    found = [f"{name}: {line}" for line in _pins(text)]
    found += [f"{name}: {line}" for line in _workflow_level(doc)]
    for job_id, job in (doc.get("jobs") or {}).items():
        found += [f"{name}: {job_id}: {line}" for line in _job(doc, job)]
    return found


def _pins(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        match = USES_LINE.match(line)
        if not match:
            continue
        ref, comment = match["ref"], match["comment"] or ""
        if ref.startswith("./"):
            continue
        if not SHA_PIN.match(ref):
            found.append(f"line {number}: pin: {ref} is not pinned to a full 40-hex commit SHA")
        elif not TAG.match(comment):
            found.append(f"line {number}: pin: {ref} has no `# vX.Y.Z` comment naming its tag")
    return found


def _workflow_level(doc: dict[str, Any]) -> list[str]:
    found = []
    if doc.get("permissions") not in ({}, {"contents": "read"}):
        found.append(
            f"permissions: top level is {doc.get('permissions')!r}, not {{}} or contents: read"
        )
    if "secrets." in yaml.safe_dump(doc.get("env") or {}):
        found.append("secrets: a secret in workflow-level env reaches every step")
    return found


def _job(doc: dict[str, Any], job: dict[str, Any]) -> list[str]:
    found = []
    permissions = job.get("permissions")
    pull_requests = runs_on_pull_requests(doc, job)
    if not isinstance(permissions, dict):
        found.append("permissions: the job declares none (it would inherit the top level)")
    elif pull_requests and not _pull_request_permissions(permissions):
        found.append(
            f"permissions: runs on pull requests with {permissions}, not contents: read"
            " (plus pull-requests: write and statuses: write for the comment and status)"
        )
    if not isinstance(job.get("timeout-minutes"), int) or not 1 <= job["timeout-minutes"] <= 120:
        found.append(f"timeout-minutes: {job.get('timeout-minutes')!r}, not 1..120")
    found += _concurrency(job, pull_requests)
    if "secrets." in yaml.safe_dump(job.get("env") or {}):
        found.append("secrets: a secret in job-level env reaches every step")
    for index, step in enumerate(job.get("steps") or [], 1):
        found += [f"step {index}: {line}" for line in _step(job, step)]
    return found


def comments(job: dict[str, Any]) -> bool:
    """Whether the job writes pull-request comments or statuses (not contents)."""
    permissions = job.get("permissions")
    return isinstance(permissions, dict) and "write" in (
        permissions.get("pull-requests"),
        permissions.get("statuses"),
    )


def _pull_request_permissions(permissions: dict[str, Any]) -> bool:
    """PRODUCT.md: contents: read on pull-request events; what writes there is only the
    plan comment and the commit status."""
    allowed = {"pull-requests": "write", "statuses": "write"}
    return permissions.get("contents") == "read" and all(
        key == "contents" or allowed.get(key) == value for key, value in permissions.items()
    )


def _concurrency(job: dict[str, Any], pull_requests: bool) -> list[str]:
    concurrency = job.get("concurrency")
    if not isinstance(concurrency, dict) or "group" not in concurrency:
        return ["concurrency: the job has no concurrency group"]
    cancel = concurrency.get("cancel-in-progress")
    found = []
    if writes(job):
        if cancel is not False:
            found.append(
                f"concurrency: a job that writes must queue, cancel-in-progress {cancel!r}"
            )
        contexts = set(EXPRESSION.findall(str(concurrency["group"])))
        if not contexts <= CONSTANT_GROUP_CONTEXTS:
            found.append(f"concurrency: the group of a job that writes varies per run: {contexts}")
    elif comments(job):
        # It creates the pull request's one plan comment: two runs at once could both find
        # none and both create one, so runs of one pull request queue, never overlap.
        if cancel is not False:
            found.append(
                "concurrency: a job that writes comments must queue per pull request,"
                f" cancel-in-progress {cancel!r}"
            )
        if "github.event.pull_request.number" not in str(concurrency["group"]):
            found.append("concurrency: a pull-request comment job's group is not per pull request")
    elif pull_requests and cancel not in (True, ON_PULL_REQUEST):
        found.append(f"concurrency: superseded pull-request runs are not cancelled ({cancel!r})")
    return found


def _step(job: dict[str, Any], step: dict[str, Any]) -> list[str]:
    found = []
    run = step.get("run")
    if isinstance(run, str):
        if "${{" in run:
            found.append("run: an expression inside run: (pass it through env:)")
        if INDEX_INSTALL.search(run):
            found.append("install: installs a package named remediate from a package index")
    checkout = str(step.get("uses", "")).startswith("actions/checkout@")
    persists = (step.get("with") or {}).get("persist-credentials") is not False
    if checkout and persists and not writes(job):
        found.append("checkout: a job that never pushes keeps the token (persist-credentials)")
    return found
