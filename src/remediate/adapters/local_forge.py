"""The `Forge` port under `forge: {type: local}`: plain git, no API.

There are no pull requests: `github_pr` pushes its branch to the git remote and records
it (`proposes` is False), and every read of a pull request, a review or a comment is a
clear error, never an empty answer that would look like "nobody approved". Teams are
`Settings.spec.teams` (with `people`), as RBAC reads them everywhere else
(`core.identity.Directory`). Who may write is git's to decide (who may push to the
repository; protect the branch): every identity reports `write`.
"""

from __future__ import annotations

from collections.abc import Sequence

from remediate.core.forge import Comment, PullRequest, Review
from remediate.core.identity import Directory
from remediate.core.model import Settings
from remediate.errors import UserError


class LocalForge:
    proposes = False

    def __init__(self, settings: Settings) -> None:
        self.directory = Directory.from_settings(settings)

    @staticmethod
    def _none(what: str) -> UserError:
        return UserError(
            f"{what}: the forge is local git (Settings spec.forge.type: local), which has no "
            "pull requests; set spec.forge to {type: github, repository: owner/name}"
        )

    def pull_request(self, number: int) -> PullRequest:
        raise self._none(f"reading pull request #{number}")

    def reviews(self, number: int) -> list[Review]:
        raise self._none(f"reading the reviews of #{number}")

    def comments(self, number: int) -> list[Comment]:
        raise self._none(f"reading the comments of #{number}")

    def create_comment(self, number: int, body: str) -> Comment:
        raise self._none(f"commenting on #{number}")

    def edit_comment(self, comment_id: int, body: str) -> None:
        raise self._none(f"editing comment {comment_id}")

    def set_status(self, sha: str, state: str, context: str, description: str) -> None:
        raise self._none(f"setting the commit status {context}")

    def permission(self, login: str) -> str:
        return "write"  # git decides who may push; the runner cannot see it

    def team_member(self, slug: str, login: str) -> bool:
        return self.directory.matches(login, f"team:{slug}")

    def pulls_of_commit(self, sha: str) -> list[PullRequest]:
        return []  # no commit belongs to a pull request here

    def open_pull(self, branch: str) -> PullRequest | None:
        return None

    def create_pull(
        self, title: str, body: str, branch: str, base: str, draft: bool = False
    ) -> PullRequest:
        raise self._none(f"opening a pull request from {branch}")

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        raise self._none(f"labelling #{number}")

    def close(self) -> None:
        pass
