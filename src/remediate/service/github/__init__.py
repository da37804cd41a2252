r"""`remediate github`: act on the current GitHub Actions event (PRODUCT.md, "GitHub").

`run(github)` reads the event's name and payload (given by `wiring.github`, which read
GITHUB_EVENT_NAME and GITHUB_EVENT_PATH) and dispatches:

| event | module |
|---|---|
| `pull_request` opened, synchronize, reopened | `pulls.refresh`: plan as of the head commit, the sticky comment, the `remediate/plan` status |
| `pull_request_review` submitted | `reviews`: which reviews count, then `pulls.refresh` |
| `issue_comment` created on a pull request | `commands`: `/remediate plan\|approve\|reject\|override`, a reply |
| `push` to the base branch | `merged.on_push`: the admins' approvals of automation changes (`vouch`), apply, the merged pull requests' approvals, apply, results |
| `schedule`, `workflow_dispatch` | `merged.on_schedule`: (no `tick` yet: said), apply |
| anything else | said, exit 0 (nothing is done that the contract does not name) |

Identities come from the event (GitHub authenticated them), never from a comment's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from remediate.errors import Problem, UsageError
from remediate.service.ports import Forge, PullHeads
from remediate.service.session import Session


@dataclass
class GitHubRun:
    """What one `remediate github` works with (built by `wiring.github`)."""

    session: Session
    forge: Forge
    heads: PullHeads
    event_name: str
    event: Mapping[str, Any]


@dataclass
class Outcome:
    """What the command prints, annotates and summarises, and its exit code."""

    lines: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # annotations on the diff
    summary: str = ""  # Markdown for GITHUB_STEP_SUMMARY
    code: int = 0
    body: dict[str, Any] = field(default_factory=dict)  # --format json

    def as_json(self) -> dict[str, Any]:
        return {"event": self.body.get("event"), **self.body, "messages": self.lines}


def run(github: GitHubRun) -> Outcome:
    name, action = github.event_name, github.event.get("action")
    if name == "pull_request":
        if action not in ("opened", "synchronize", "reopened"):
            return _ignored(name, action)
        from remediate.service.github import pulls

        return pulls.refresh(github, pulls.from_event(github.event))
    if name == "pull_request_review":
        if action != "submitted":
            return _ignored(name, action)
        from remediate.service.github import reviews

        return reviews.on_review(github)
    if name == "issue_comment":
        from remediate.service.github import commands

        return commands.on_comment(github)
    if name in ("push", "schedule", "workflow_dispatch"):
        from remediate.service.github import merged

        return merged.on_push(github) if name == "push" else merged.on_schedule(github)
    raise UsageError(f"remediate github: no handling for the GitHub event {name!r}")


def _ignored(name: str, action: object) -> Outcome:
    return Outcome(
        lines=[f"remediate github: {name} {action!s}: nothing to do"],
        body={"event": name, "action": action, "handled": False},
    )


def payload(event: Mapping[str, Any], *keys: str) -> Any:
    """`event[k1][k2]…`, or UsageError naming the missing key (a malformed event file)."""
    node: Any = event
    for i, key in enumerate(keys):
        if not isinstance(node, Mapping) or key not in node:
            raise UsageError(f"the GitHub event has no {'.'.join(keys[: i + 1])}")
        node = node[key]
    return node


def number(event: Mapping[str, Any], *keys: str) -> int:
    """`payload(...)` that must be a positive integer (a pull request, a comment id)."""
    found = payload(event, *keys)
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise UsageError(f"the GitHub event's {'.'.join(keys)} is not a positive integer")
    return found
