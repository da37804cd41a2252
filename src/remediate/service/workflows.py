"""The install step of the workflows `init` writes: remediate's own repository at a commit.

The scaffold's workflow files carry two tokens that `render` fills in: the repository URL
(`resources.SOURCE_REPOSITORY`, or the https URL a git install came from) and the commit the
running remediate was installed from (`adapters.provenance`). What is not known becomes a
placeholder that the install step refuses, and a warning that says what to fill in: never a
silent default. Once the composite action (`action.yml`) exists, this step becomes one
`uses: <repository>@<commit>` line rendered from the same pin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from remediate.core.provenance import InstalledFrom

REPOSITORY_TOKEN = "@@REMEDIATE_REPOSITORY@@"
COMMIT_TOKEN = "@@REMEDIATE_COMMIT@@"
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

    def describe(self) -> str:
        return f"the workflows install remediate from {self.repository} at {self.commit}"


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
            "REMEDIATE_REPOSITORY in .github/workflows/*.yml is a placeholder: set it to the "
            f"https URL of remediate's git repository ({why}); the install step fails until then"
        )
    if source.commit is None:
        warnings.append(
            "REMEDIATE_COMMIT in .github/workflows/*.yml is a placeholder: set it to a full "
            f"40-hex commit of that repository ({source.where}); the install step fails until then"
        )
    elif source.unpushed:
        warnings.append(
            f"REMEDIATE_COMMIT is {source.commit}, HEAD of the checkout at {source.where}, "
            "which has uncommitted changes or is on no remote branch: the workflows install "
            "exactly that commit, so push it (or pin a pushed one)"
        )
    return InstallPin(
        url or PLACEHOLDER_REPOSITORY, source.commit or PLACEHOLDER_COMMIT, tuple(warnings)
    )


def render(text: str, pin: InstallPin) -> str:
    """A scaffold workflow with the install step's repository and commit filled in."""
    return text.replace(REPOSITORY_TOKEN, pin.repository).replace(COMMIT_TOKEN, pin.commit)


def is_public(url: str | None) -> bool:
    return url is not None and PUBLIC_URL.match(url) is not None


def _redact(url: str | None) -> str:
    return re.sub(r"//[^/@]*@", "//", url or "")
