"""Where the running remediate was installed from (found by `adapters.provenance`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstalledFrom:
    """`how` is "checkout", "git" or "unknown"; `url` is None when no URL is known."""

    how: str
    url: str | None
    commit: str | None
    where: str  # for people: the checkout's path, the URL installed from, or why unknown
    unpushed: bool = False  # a checkout whose HEAD is on no remote branch, or has edits
