"""What the runner reads from its environment: the clock, the acting identity, variables."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from remediate.errors import UsageError


def now() -> datetime:
    """The current time, or REMEDIATE_NOW (ISO 8601) so that tests never depend on today."""
    fixed = os.environ.get("REMEDIATE_NOW")
    if not fixed:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(fixed.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"REMEDIATE_NOW={fixed!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def push_attempts() -> int:
    """How often a rejected push is rebuilt and retried (REMEDIATE_PUSH_ATTEMPTS, default 30)."""
    text = os.environ.get("REMEDIATE_PUSH_ATTEMPTS", "30")
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"REMEDIATE_PUSH_ATTEMPTS={text!r} must be a positive integer")
    return int(text)


def variables() -> dict[str, str]:
    return dict(os.environ)


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


def github_actor() -> str | None:
    """Inside GitHub Actions: the authenticated user of the event, from GITHUB_EVENT_PATH."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path:
        return None
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
