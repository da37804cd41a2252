"""The one module that talks to GitHub: the `Forge` port over PyGithub's requester.

PyGithub's own retry is turned off (`retry=None`): measured here (docs/LIBRARIES.md of
the design), it re-sends POSTs after a 502 that took effect, duplicating comments, and
waits 60 s on a secondary limit without `Retry-After`. Instead each call goes through
`Retrying.call`, whose rules are:

- reads (GET), edits (PATCH), commit statuses (a POST that only sets the latest state of
  one context) and labels (a pull request holds each once): sending them twice changes
  nothing, so they are retried on a 5xx, a timeout or a dropped connection, with capped
  exponential backoff, a bounded number of tries and a total deadline, then fail with one
  clear sentence (UserError, exit 1);
- a POST that *creates* something (a comment, a pull request) is never re-sent: after a
  5xx or a lost reply it raises `LostReply`, and the caller looks the object up first (a
  comment by its marker, a pull request by its branch; a 422 "already exists" too);
- a rate limit (429, or 403 with `Retry-After`, `x-ratelimit-remaining: 0` or a
  "secondary rate limit" message) was refused, not performed: it is retried by every
  kind of call after `Retry-After`, else until `x-ratelimit-reset`, else the backoff,
  as long as the wait fits in the deadline.

Every list is read to its last page (`Link: rel="next"`, 100 per page).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from remediate.core.forge import Comment, LostReply, PullRequest, Review
from remediate.errors import UserError

DEFAULT_API = "https://api.github.com"
_RAISE = object()
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


@dataclass
class Retrying:
    """How often, how long and how far apart a call is tried (tests shrink the waits)."""

    attempts: int = 5  # tries of one call, in all
    base: float = 1.0  # the first backoff, doubled each time
    cap: float = 30.0  # no single wait is longer
    deadline: float = 120.0  # seconds for every try of one call, waits included
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time  # for x-ratelimit-reset (epoch seconds)
    waits: list[float] = field(default_factory=list)  # what it slept, for tests and bench

    def call(
        self, what: str, fn: Callable[[], Any], creates: bool = False, absent: Any = _RAISE
    ) -> Any:
        """`fn()`, tried by the rules above; `absent` (when given) is what a 404 returns."""
        import requests
        from github import GithubException

        start = self.clock()
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except GithubException as exc:
                headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
                limited = _rate_limit_wait(exc.status, exc.data, headers, self.wall())
                if limited is not None:
                    wait = limited if limited > 0 else self._backoff(attempt)
                elif exc.status in (500, 502, 503, 504):
                    if creates:
                        raise LostReply(f"{what}: GitHub answered {exc.status}") from None
                    wait = self._backoff(attempt)
                elif exc.status == 404 and absent is not _RAISE:
                    return absent
                else:
                    raise UserError(_refused(what, exc.status, exc.data)) from None
                reason = f"GitHub answered {exc.status}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                if creates:
                    raise LostReply(f"{what}: {type(exc).__name__}") from None
                wait, reason = self._backoff(attempt), f"no reply ({type(exc).__name__})"
            spent = self.clock() - start
            if attempt == self.attempts or spent + wait > self.deadline:
                raise UserError(
                    f"GitHub: {what} failed after {attempt} tries in {spent:.0f}s ({reason});"
                    " nothing more was sent"
                )
            self.waits.append(wait)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        return float(min(self.cap, self.base * 2 ** (attempt - 1)))


def _rate_limit_wait(status: int, data: Any, headers: dict[str, str], now: float) -> float | None:
    """Seconds to wait before a rate-limited call may be sent again (0: use the backoff);
    None when the answer is not a rate limit."""
    message = str(data.get("message", "")) if isinstance(data, dict) else ""
    secondary = "secondary rate limit" in message.lower()
    exhausted = headers.get("x-ratelimit-remaining") == "0"
    if status not in (403, 429) or not (
        status == 429 or secondary or exhausted or "retry-after" in headers
    ):
        return None
    after = headers.get("retry-after", "")
    if after.isdigit():
        return float(after)
    reset = headers.get("x-ratelimit-reset", "")
    if exhausted and reset.isdigit():
        return max(float(reset) - now, 1.0)
    return 0.0


def _refused(what: str, status: int, data: Any) -> str:
    message = data.get("message") if isinstance(data, dict) else None
    hint = {
        401: "check GITHUB_TOKEN",
        403: "the token lacks a permission (see the workflow's `permissions:`)",
        404: "not found, or the token may not see it",
    }.get(status, "")
    said = f": {message}" if isinstance(message, str) and message else ""
    return f"GitHub refused {what} ({status}{said}){'; ' + hint if hint else ''}"


def _bot(user: Any) -> bool:
    if not isinstance(user, dict):
        return True  # a deleted account ("ghost") or no user: never counts
    login = str(user.get("login", ""))
    return user.get("type") == "Bot" or login.endswith("[bot]")


def _login(user: Any) -> str:
    return str(user.get("login", "")) if isinstance(user, dict) else ""


class GitHubForge:
    """`Forge` for one repository (`owner/name`) through PyGithub's requester."""

    def __init__(
        self,
        repository: str,
        token: str | None,
        api_url: str | None = None,
        retrying: Retrying | None = None,
        timeout: int = 30,
    ) -> None:
        from github import Auth, Github

        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository or ""):
            raise UserError(f"GITHUB_REPOSITORY={repository!r} is not owner/name")
        self.repository = repository
        self.owner = repository.split("/")[0]
        self.retrying = retrying or Retrying()
        self.calls = 0  # REST calls sent, retries included
        self._gh = Github(
            auth=Auth.Token(token) if token else None,
            base_url=(api_url or DEFAULT_API).rstrip("/"),
            timeout=timeout,
            retry=None,  # ours, above: never a blind re-send of a create
            seconds_between_requests=None,
            seconds_between_writes=None,
            per_page=100,
        )
        self._requester = self._gh.requester
        self._repo = f"/repos/{repository}"

    def close(self) -> None:
        self._gh.close()

    # -- plumbing -------------------------------------------------------------------------
    def _send(self, verb: str, url: str, body: Any = None) -> tuple[dict[str, Any], Any]:
        self.calls += 1
        headers, data = self._requester.requestJsonAndCheck(verb, url, input=body)
        return headers, data

    def _get(self, what: str, url: str) -> Any:
        return self.retrying.call(what, lambda: self._send("GET", url)[1])

    def _pages(self, what: str, url: str) -> Iterator[Any]:
        next_url: str | None = f"{url}?per_page=100"
        while next_url is not None:
            page: str = next_url

            def get(page: str = page) -> tuple[dict[str, Any], Any]:
                return self._send("GET", page)

            headers, data = self.retrying.call(what, get)
            yield from data if isinstance(data, list) else ()
            found = _NEXT.search({k.lower(): v for k, v in headers.items()}.get("link", ""))
            next_url = found.group(1) if found else None

    # -- the port -------------------------------------------------------------------------
    def pull_request(self, number: int) -> PullRequest:
        data = self._get(f"reading pull request #{number}", f"{self._repo}/pulls/{number}")
        return _pull(data)

    def reviews(self, number: int) -> list[Review]:
        what = f"reading the reviews of #{number}"
        return [
            Review(
                id=int(r["id"]),
                login=_login(r.get("user")),
                state=str(r.get("state", "")),
                commit_id=r.get("commit_id"),
                bot=_bot(r.get("user")),
            )
            for r in self._pages(what, f"{self._repo}/pulls/{number}/reviews")
        ]

    def comments(self, number: int) -> list[Comment]:
        what = f"reading the comments of #{number}"
        return [_comment(c) for c in self._pages(what, f"{self._repo}/issues/{number}/comments")]

    def create_comment(self, number: int, body: str) -> Comment:
        url = f"{self._repo}/issues/{number}/comments"
        data = self.retrying.call(
            f"commenting on #{number}",
            lambda: self._send("POST", url, {"body": body})[1],
            creates=True,
        )
        return _comment(data)

    def edit_comment(self, comment_id: int, body: str) -> None:
        url = f"{self._repo}/issues/comments/{comment_id}"
        self.retrying.call(
            f"editing comment {comment_id}", lambda: self._send("PATCH", url, {"body": body})
        )

    def set_status(self, sha: str, state: str, context: str, description: str) -> None:
        url = f"{self._repo}/statuses/{sha}"
        body = {"state": state, "context": context, "description": description[:140]}
        self.retrying.call(
            f"setting the commit status {context} of {sha[:12]}",
            lambda: self._send("POST", url, body),
        )

    def permission(self, login: str) -> str:
        url = f"{self._repo}/collaborators/{quote(login, safe='')}/permission"
        data = self.retrying.call(
            f"reading the permission of {login}", lambda: self._send("GET", url)[1], absent=None
        )
        found = data.get("permission") if isinstance(data, dict) else None
        return found if found in ("none", "read", "write", "admin") else "none"

    def team_member(self, slug: str, login: str) -> bool:
        url = (
            f"/orgs/{quote(self.owner, safe='')}/teams/{quote(slug, safe='')}"
            f"/memberships/{quote(login, safe='')}"
        )
        data = self.retrying.call(
            f"reading the membership of {login} in team:{slug}",
            lambda: self._send("GET", url)[1],
            absent=None,
        )
        return isinstance(data, dict) and data.get("state") == "active"

    def open_pull(self, branch: str) -> PullRequest | None:
        head = quote(f"{self.owner}:{branch}", safe="")
        url = f"{self._repo}/pulls?state=open&head={head}"
        data = self.retrying.call(
            f"looking up the pull request of {branch}", lambda: self._send("GET", url)[1]
        )
        found = [_pull(p) for p in data] if isinstance(data, list) else []
        return found[0] if found else None

    proposes = True

    def create_pull(
        self, title: str, body: str, branch: str, base: str, draft: bool = False
    ) -> PullRequest:
        from github import GithubException

        url = f"{self._repo}/pulls"
        payload: dict[str, Any] = {"title": title, "body": body, "head": branch, "base": base}
        if draft:
            payload["draft"] = True
        try:
            data = self.retrying.call(
                f"opening a pull request from {branch}",
                lambda: self._send("POST", url, payload)[1],
                creates=True,
            )
        except UserError as exc:
            cause = exc.__context__
            if isinstance(cause, GithubException) and cause.status == 422:
                raise LostReply(f"opening a pull request from {branch}: 422") from None
            raise
        return _pull(data)

    def add_labels(self, number: int, labels: Sequence[str]) -> None:
        # adding a label the pull request has changes nothing: retried like an edit
        url = f"{self._repo}/issues/{number}/labels"
        self.retrying.call(
            f"labelling #{number}", lambda: self._send("POST", url, {"labels": list(labels)})
        )

    def pulls_of_commit(self, sha: str) -> list[PullRequest]:
        what = f"reading the pull requests of {sha[:12]}"
        return [_pull(p) for p in self._pages(what, f"{self._repo}/commits/{sha}/pulls")]


def _pull(data: Any) -> PullRequest:
    if not isinstance(data, dict):
        raise UserError("GitHub answered a pull request that is not an object")
    return PullRequest(
        number=int(data["number"]),
        author=_login(data.get("user")),
        head_sha=str(data["head"]["sha"]),
        base_ref=str(data["base"]["ref"]),
        state=str(data.get("state", "open")),
        merged=bool(data.get("merged_at")),
        merge_commit_sha=data.get("merge_commit_sha"),
        url=str(data.get("html_url", "")),
        base_sha=str(data["base"].get("sha", "")),
    )


def _comment(data: Any) -> Comment:
    if not isinstance(data, dict):
        raise UserError("GitHub answered a comment that is not an object")
    return Comment(
        id=int(data["id"]),
        login=_login(data.get("user")),
        body=str(data.get("body") or ""),
        bot=_bot(data.get("user")),
    )
