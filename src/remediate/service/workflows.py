"""What the workflows `init` writes use: remediate's composite action at one commit.

The scaffold's workflow files carry tokens that `render` fills in: the action
(`owner/name` of remediate's repository on GitHub, from `resources.SOURCE_REPOSITORY` or
the https URL a git install came from), the commit the running remediate was installed
from (`adapters.provenance`) and its version (the `# vX.Y.Z` comment of the pin), so each
job says `uses: <owner>/<name>@<40-hex commit>` (the action installs remediate from its
own repository at exactly that commit, never from a package index). What is not known
becomes a placeholder GitHub cannot resolve (an owner with `_`, which no GitHub account
may have, so nobody can register it; the all-zero commit), and a warning that says what to
fill in: never a silent default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from remediate.core.provenance import InstalledFrom

REPOSITORY_TOKEN = "@@REMEDIATE_REPOSITORY@@"
COMMIT_TOKEN = "@@REMEDIATE_COMMIT@@"
ACTION_TOKEN = "@@REMEDIATE_ACTION@@"
VERSION_TOKEN = "@@REMEDIATE_VERSION@@"
# Never a GitHub account (its names hold no `_`): a `uses:` of it fails, nobody can own it.
PLACEHOLDER_ACTION = "FILL_IN_owner/remediate"
PLACEHOLDER_ACTION_COMMIT = "0" * 40
GITHUB_REPOSITORY_URL = re.compile(
    r"^https://github\.com/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/"
    r"(?P<name>[A-Za-z0-9_.-]{1,100}?)(?:\.git)?/?$"
)
PLACEHOLDER_REPOSITORY = "FILL-IN-the-https-URL-of-remediate-s-git-repository"
PLACEHOLDER_COMMIT = "FILL-IN-a-40-hex-commit-of-that-repository"
# What a GitHub-hosted runner can fetch without credentials, and safe inside a quoted
# YAML scalar and a shell word: no user-info, no quotes, no spaces.
PUBLIC_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~%+-]+)+/?$")
WORKFLOWS = ".github/workflows/"


@dataclass(frozen=True)
class InstallPin:
    repository: str
    commit: str
    warnings: tuple[str, ...] = ()
    action: str = PLACEHOLDER_ACTION  # owner/name of the composite action on GitHub

    def describe(self) -> str:
        return (
            f"the workflows use remediate's action {self.action}@{self.action_commit} "
            f"(it installs remediate from {self.repository} at {self.commit})"
        )

    @property
    def action_commit(self) -> str:
        return (
            self.commit if re.fullmatch(r"[0-9a-f]{40}", self.commit) else PLACEHOLDER_ACTION_COMMIT
        )


def action_of(url: str | None) -> str | None:
    """`owner/name` of a repository on github.com (what `uses:` names), or None."""
    found = GITHUB_REPOSITORY_URL.match(url or "")
    return f"{found['owner']}/{found['name']}" if found else None


def pin_for(source: InstalledFrom, repository: str | None) -> InstallPin:
    """The repository and commit the workflows install, and what the user must fill in."""
    warnings = []
    public = source.url if source.how == "git" and is_public(source.url) else None
    url = public or repository
    if url is not None and not is_public(url):
        warnings.append(f"SOURCE_REPOSITORY {url!r} is not an https URL a runner can fetch")
        url = None
    if url is None:
        why = (
            f"this remediate was installed from {_redact(source.url)}, which a runner cannot reach"
            if source.url
            else "the project's repository URL is not set in remediate/resources.py"
        )
        warnings.append(
            f"`uses: {PLACEHOLDER_ACTION}@…` in .github/workflows/*.yml is a placeholder: set it "
            f"to the owner/name of remediate's repository on GitHub ({why}); the jobs fail "
            "until then"
        )
    if source.commit is None:
        warnings.append(
            f"the commit {PLACEHOLDER_ACTION_COMMIT} of remediate's action in "
            ".github/workflows/*.yml is a placeholder: set it to a full 40-hex commit of that "
            f"repository ({source.where}); the jobs fail until then"
        )
    elif source.unpushed:
        warnings.append(
            f"the workflows pin remediate's action to {source.commit}, HEAD of the checkout at "
            f"{source.where}, which has uncommitted changes or is on no remote branch: they use "
            "exactly that commit, so push it (or pin a pushed one)"
        )
    action = action_of(url)
    if url is not None and action is None:
        warnings.append(
            f"{url} is not a repository on github.com: `uses: {PLACEHOLDER_ACTION}@…` in "
            ".github/workflows/*.yml is a placeholder; set it to the owner/name of a GitHub "
            "copy of remediate's repository (a composite action is fetched from github.com)"
        )
    return InstallPin(
        url or PLACEHOLDER_REPOSITORY,
        source.commit or PLACEHOLDER_COMMIT,
        tuple(warnings),
        action or PLACEHOLDER_ACTION,
    )


def render(text: str, pin: InstallPin, version: str = "0.0.0") -> str:
    """A scaffold workflow with the action, its commit and version filled in."""
    return (
        text.replace(ACTION_TOKEN, pin.action)
        .replace(COMMIT_TOKEN, pin.action_commit)
        .replace(VERSION_TOKEN, version)
        .replace(REPOSITORY_TOKEN, pin.repository)
    )


def is_public(url: str | None) -> bool:
    return url is not None and PUBLIC_URL.match(url) is not None


def _redact(url: str | None) -> str:
    return re.sub(r"//[^/@]*@", "//", url or "")
