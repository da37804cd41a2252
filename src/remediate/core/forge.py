"""What a forge (GitHub, or plain git) tells the runner: pull requests, reviews, comments,
permissions. Plain values: the `Forge` port (`service/ports.py`) returns them, the GitHub
adapter builds them from the API, the use cases in `service/github/` decide with them."""

from __future__ import annotations

from dataclasses import dataclass

# A collaborator's permission on the repository, as GitHub's "permission" field names it.
PERMISSIONS = ("none", "read", "write", "admin")


def may_write(permission: str | None) -> bool:
    """`write` or `admin` (GitHub's `maintain` reports as `write`, `triage` as `read`)."""
    return permission in ("write", "admin")


@dataclass(frozen=True)
class PullRequest:
    number: int
    author: str  # the login that opened it
    head_sha: str
    base_ref: str  # the branch it merges into
    state: str = "open"  # open | closed
    merged: bool = False
    merge_commit_sha: str | None = None
    url: str = ""
    base_sha: str = ""  # the base branch's tip GitHub compared with


@dataclass(frozen=True)
class Review:
    id: int
    login: str
    state: str  # APPROVED | CHANGES_REQUESTED | COMMENTED | DISMISSED | PENDING
    commit_id: str | None
    bot: bool = False  # the account's type is Bot (an App, or a `[bot]` login)


@dataclass(frozen=True)
class Commit:
    """A commit a push brought to the base branch, as git has it."""

    sha: str
    first_parent: bool  # on the pushed tip's first-parent line (else brought by a merge)
    committer: str  # e-mail


@dataclass(frozen=True)
class Comment:
    id: int
    login: str
    body: str
    bot: bool = False


AUTOMATION_FILES = ("remediate.yaml", "remediate.yml")
AUTOMATION_DIRS = ("actions/", "policies/")


def is_automation(path: str) -> bool:
    """A change to the automation itself: `remediate.yaml`, `actions/`, `policies/`."""
    return path in AUTOMATION_FILES or path.startswith(AUTOMATION_DIRS)


STATUS_STATES = ("error", "failure", "pending", "success")


class LostReply(Exception):
    """A write whose outcome is unknown (a 5xx, a timeout or a dropped connection after the
    request was sent): it may have taken effect. The caller looks the object up before it
    ever sends the write again."""
