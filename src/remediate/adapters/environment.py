"""What the runner reads from its environment: the acting identity, limits, variables."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

from remediate.errors import UsageError

PASS_ENV = "REMEDIATE_PASS_ENV"


def pass_env_ceiling(variables: Mapping[str, str] | None = None) -> frozenset[str]:
    """The variables that whoever runs the runner lets actions receive beyond the safe base:
    REMEDIATE_PASS_ENV (names separated by commas or spaces) of the runner's environment
    (`variables`, by default this process's). The repository cannot change it."""
    text = (os.environ if variables is None else variables).get(PASS_ENV, "")
    return frozenset(name for name in re.split(r"[\s,]+", text) if name)


ALLOW_PRIVATE_WEBHOOKS = "REMEDIATE_WEBHOOK_ALLOW_PRIVATE"


def webhooks_may_reach_private(variables: Mapping[str, str]) -> bool:
    """Whether the runner (its environment `variables`, never the repository) lets webhooks
    reach loopback, private, link-local and metadata addresses: REMEDIATE_WEBHOOK_ALLOW_PRIVATE
    is exactly `1`."""
    return variables.get(ALLOW_PRIVATE_WEBHOOKS) == "1"


class RunnerEnvironment:
    """The `Environment` port over a mapping of variables (`os.environ`, given by
    `remediate.wiring`; a plain dict in tests). Read when asked, never cached: a
    malformed value fails the command that needs it, not every command."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self._variables = variables

    def variables(self) -> Mapping[str, str]:
        return dict(self._variables)

    def push_attempts(self) -> int:
        """How often a rejected push is rebuilt and retried (REMEDIATE_PUSH_ATTEMPTS, default 30)."""
        text = self._variables.get("REMEDIATE_PUSH_ATTEMPTS", "30")
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"REMEDIATE_PUSH_ATTEMPTS={text!r} must be a positive integer")
        return int(text)

    def github_actor(self) -> str | None:
        """Inside GitHub Actions: the authenticated user of the event, from GITHUB_EVENT_PATH."""
        if self._variables.get("GITHUB_ACTIONS") != "true":
            return None
        path = self._variables.get("GITHUB_EVENT_PATH")
        return _event_actor(path) if path else None


def _event_actor(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            event = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(event, dict):
        return None
    for key in ("review", "comment"):
        user = (event.get(key) or {}).get("user") or {}
        if isinstance(user, dict) and isinstance(user.get("login"), str):
            return str(user["login"])
    sender = event.get("sender") or {}
    login = sender.get("login") if isinstance(sender, dict) else None
    return login if isinstance(login, str) else None
