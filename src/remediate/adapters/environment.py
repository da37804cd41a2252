"""What the runner reads from its environment: the clock, the acting identity, variables."""

from __future__ import annotations

import json
import os
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
