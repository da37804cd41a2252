"""A small stateful GitHub for the tests: HTTP on loopback (threads), driven by the real
PyGithub client through `base_url`, every response checked against the vendored OpenAPI
subset (tests/github_openapi/, GitHub's own description).

State: one repository (`owner/name`), its collaborators and their permissions (and
whether an account is a Bot), the organization's teams, pull requests whose head and
merge commits are real commits of a real git repository (the tests push them to a bare
remote as `refs/pull/N/head`), reviews with `commit_id`, issue comments, commit statuses.
Every call is logged (`calls`). Fault switches (`fail`) answer chosen calls with a 5xx
after or before the write took effect, drop the connection after the write (a lost
reply), or refuse with a (secondary) rate limit.

Every normal answer is validated against the operation's declared response (openapi-core);
an injected fault's body, whose status the operation may not declare (GitHub's edge
sends 502s anywhere), against `basic-error`. A response that does not validate is kept in
`invalid`, and the `fake_github` fixture fails the test at teardown.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.github_openapi import check_subset

SPEC_FILE = Path(__file__).parent / "github_openapi" / "api.github.com.subset.json"
WHEN = "2026-11-23T10:00:00Z"
PER_PAGE_MAX = 100

_spec_lock = threading.Lock()
_spec: dict[str, Any] = {}


def openapi() -> tuple[Any, dict[str, Any]]:
    """The parsed subset (openapi-core's object, and the raw document), built once."""
    with _spec_lock:
        if not _spec:
            from openapi_core import OpenAPI

            doc = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
            _spec["doc"] = doc
            _spec["api"] = OpenAPI.from_dict(doc)
        return _spec["api"], _spec["doc"]


@dataclass
class Fault:
    """Answer the `times` next calls matching `method` and `pattern` (a regex on the path)
    with `kind`: `after` (the write happens, then a 502), `before` (a 502, nothing
    happens), `lost` (the write happens, the connection closes with no reply), `secondary`
    (403 secondary rate limit; `retry_after` seconds if given), `429`, `hold` (nothing
    happens: the request is held until `FakeGitHub.release` is set, then answered 502; the
    test kills its client meanwhile), `race` (`first()` runs, e.g. another client's write,
    then the call is answered as usual)."""

    method: str
    pattern: str
    kind: str
    times: int = 1
    retry_after: int | None = None
    first: Callable[[], None] | None = None  # `race`: run this, then answer as usual


@dataclass
class Call:
    method: str
    path: str
    status: int


@dataclass
class State:
    owner: str = "acme"
    name: str = "ops"
    permissions: dict[str, str] = field(default_factory=dict)  # login → none/read/write/admin
    bots: set[str] = field(default_factory=lambda: {"github-actions[bot]"})
    teams: dict[str, set[str]] = field(default_factory=dict)  # slug → active members
    invited: dict[str, set[str]] = field(default_factory=dict)  # slug → pending members
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # issue → comments
    statuses: list[dict[str, Any]] = field(default_factory=list)
    commit_pulls: dict[str, list[int]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=lambda: {"tok": "github-actions[bot]"})
    bare: Path | None = None  # the git repository behind the pull requests GitHub opens
    next_id: int = 1000


class FakeGitHub:
    def __init__(self) -> None:
        self.state = State()
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.invalid: list[str] = []
        self.lock = threading.RLock()
        self.held = threading.Event()  # a `hold` fault caught a request
        self.release = threading.Event()  # let held requests go (answered 502)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        openapi()

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def repository(self) -> str:
        return f"{self.state.owner}/{self.state.name}"

    def start(self) -> FakeGitHub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    # -- set-up helpers -------------------------------------------------------------------
    def fail(self, method: str, pattern: str, kind: str, times: int = 1, **kw: Any) -> None:
        with self.lock:
            self.faults.append(Fault(method, pattern, kind, times, **kw))

    def open_pull(
        self,
        number: int,
        author: str,
        head: str,
        base_sha: str,
        base: str = "main",
        head_ref: str | None = None,
    ) -> None:
        with self.lock:
            self.state.pulls[number] = {
                "author": author,
                "head": head,
                "head_ref": head_ref or f"pr-{number}",
                "base": base,
                "base_sha": base_sha,
                "state": "open",
                "merged_at": None,
                "merge_commit_sha": None,
            }

    def push_head(self, number: int, head: str) -> None:
        with self.lock:
            self.state.pulls[number]["head"] = head

    def merge(self, number: int, merge_sha: str) -> None:
        with self.lock:
            pr = self.state.pulls[number]
            pr.update(state="closed", merged_at=WHEN, merge_commit_sha=merge_sha)
            self.state.commit_pulls.setdefault(merge_sha, []).append(number)

    def review(self, number: int, login: str, state: str, commit_id: str | None) -> int:
        with self.lock:
            self.state.next_id += 1
            self.state.reviews.setdefault(number, []).append(
                {"id": self.state.next_id, "login": login, "state": state, "commit_id": commit_id}
            )
            return self.state.next_id

    def comment(self, number: int, login: str, body: str) -> dict[str, Any]:
        with self.lock:
            return self._add_comment(number, login, body)

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in self.state.comments.get(number, [])]

    def status_of(self, sha: str, context: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.state.statuses if s["sha"] == sha and s["context"] == context]

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    # -- bodies ---------------------------------------------------------------------------
    def user(self, login: str) -> dict[str, Any]:
        body = check_subset.user(login, 10_000 + sum(map(ord, login)))
        if login in self.state.bots:
            body["type"] = "Bot"
        return body

    def repo_body(self) -> dict[str, Any]:
        return check_subset.repository(self.user(self.state.owner), self.state.name, 1)

    def pull_body(self, number: int) -> dict[str, Any]:
        pr = self.state.pulls[number]
        body = check_subset.pull_request(number)
        repo = self.repo_body()
        body["user"] = self.user(pr["author"])
        body["head"] = {
            "label": f"{self.state.owner}:{pr['head_ref']}",
            "ref": pr["head_ref"],
            "sha": pr["head"],
            "user": body["user"],
            "repo": repo,
        }
        body["base"] = {
            "label": f"{self.state.owner}:{pr['base']}",
            "ref": pr["base"],
            "sha": pr["base_sha"],
            "user": repo["owner"],
            "repo": repo,
        }
        body.update(
            state=pr["state"],
            merged_at=pr["merged_at"],
            merged=bool(pr["merged_at"]),
            merge_commit_sha=pr["merge_commit_sha"],
            closed_at=pr["merged_at"],
            title=pr.get("title", body["title"]),
            body=pr.get("body"),
            draft=pr.get("draft", False),
            labels=[self.label_body(n) for n in pr.get("labels", [])],
        )
        return body

    def label_body(self, name: str) -> dict[str, Any]:
        lid = 5000 + sum(map(ord, name))
        url = f"{check_subset.API}/repos/{self.repository}/labels/{quote(name, safe='')}"
        return {
            "id": lid,
            "node_id": f"LA_{lid}",
            "url": url,
            "name": name,
            "description": "",
            "color": "ededed",
            "default": False,
        }

    def _add_comment(self, number: int, login: str, body: str) -> dict[str, Any]:
        self.state.next_id += 1
        cid = self.state.next_id
        found = {"id": cid, "login": login, "body": body}
        self.state.comments.setdefault(number, []).append(found)
        return found

    def comment_body(self, number: int, c: dict[str, Any]) -> dict[str, Any]:
        api = f"{check_subset.API}/repos/{self.repository}"
        return {
            "id": c["id"],
            "node_id": f"IC_{c['id']}",
            "url": f"{api}/issues/comments/{c['id']}",
            "html_url": f"{check_subset.WEB}/{self.repository}/pull/{number}#issuecomment-{c['id']}",
            "issue_url": f"{api}/issues/{number}",
            "body": c["body"],
            "user": self.user(c["login"]),
            "created_at": WHEN,
            "updated_at": WHEN,
            "author_association": "MEMBER",
        }

    def review_body(self, number: int, r: dict[str, Any]) -> dict[str, Any]:
        api = f"{check_subset.API}/repos/{self.repository}"
        html = f"{check_subset.WEB}/{self.repository}/pull/{number}#pullrequestreview-{r['id']}"
        return {
            "id": r["id"],
            "node_id": f"PRR_{r['id']}",
            "user": self.user(r["login"]),
            "body": "",
            "state": r["state"],
            "commit_id": r["commit_id"],
            "html_url": html,
            "pull_request_url": f"{api}/pulls/{number}",
            "_links": {"html": {"href": html}, "pull_request": {"href": f"{api}/pulls/{number}"}},
            "submitted_at": WHEN,
            "author_association": "MEMBER",
        }


Route = tuple[str, re.Pattern[str], str, Callable[..., tuple[int, Any]]]


def _routes(fake: FakeGitHub) -> list[Route]:
    st = fake.state
    R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"

    def repo_ok(m: re.Match[str]) -> bool:
        return m["owner"] == st.owner and m["repo"] == st.name

    def not_found() -> tuple[int, Any]:
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

    def get_pull(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        number = int(m["number"])
        if not repo_ok(m) or number not in st.pulls:
            return not_found()
        return 200, fake.pull_body(number)

    def reviews(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        number = int(m["number"])
        return 200, [fake.review_body(number, r) for r in st.reviews.get(number, [])]

    def comments(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        number = int(m["number"])
        if number not in st.pulls:
            return not_found()
        return 200, [fake.comment_body(number, c) for c in st.comments.get(number, [])]

    def create_comment(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        number = int(m["number"])
        if number not in st.pulls:
            return not_found()
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or len(text) > 65536:
            return 422, {"message": "Validation Failed", "documentation_url": "https://docs"}
        return 201, fake.comment_body(number, fake._add_comment(number, login, text))

    def edit_comment(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        cid = int(m["id"])
        for number, found in st.comments.items():
            for c in found:
                if c["id"] == cid:
                    if c["login"] != login:
                        return 422, {"message": "Validation Failed", "documentation_url": "x"}
                    text = body.get("body") if isinstance(body, dict) else None
                    if not isinstance(text, str) or len(text) > 65536:
                        return 422, {"message": "Validation Failed", "documentation_url": "x"}
                    c["body"] = text
                    return 200, fake.comment_body(number, c)
        return 422, {"message": "Validation Failed", "documentation_url": "x"}

    def status(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        st.next_id += 1
        entry = {"id": st.next_id, "sha": m["sha"], **(body if isinstance(body, dict) else {})}
        st.statuses.append(entry)
        return 201, {
            "url": f"{check_subset.API}/repos/{fake.repository}/statuses/{m['sha']}",
            "avatar_url": None,
            "id": st.next_id,
            "node_id": f"SC_{st.next_id}",
            "state": entry.get("state", "pending"),
            "description": entry.get("description"),
            "target_url": entry.get("target_url"),
            "context": entry.get("context", "default"),
            "created_at": WHEN,
            "updated_at": WHEN,
            "creator": fake.user(login),
        }

    def permission(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        who = m["user"]
        if who not in st.permissions:
            return not_found()
        perm = st.permissions[who]
        user = fake.user(who)
        user.update(
            role_name=perm,
            permissions={
                "pull": perm != "none",
                "push": perm in ("write", "admin"),
                "admin": perm == "admin",
            },
        )
        return 200, {"permission": perm, "role_name": perm, "user": user}

    def membership(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        active = m["user"] in st.teams.get(m["slug"], set())
        if m["org"] != st.owner or not (active or m["user"] in st.invited.get(m["slug"], set())):
            return not_found()
        url = f"{check_subset.API}/teams/1/memberships/{m['user']}"
        return 200, {"url": url, "role": "member", "state": "active" if active else "pending"}

    def list_pulls(
        m: re.Match[str], body: Any, login: str, query: dict[str, str]
    ) -> tuple[int, Any]:
        head = query.get("head", "")
        found = []
        for number, pr in sorted(st.pulls.items()):
            if query.get("state", "open") != "all" and pr["state"] != query.get("state", "open"):
                continue
            if head and head != f"{st.owner}:{pr['head_ref']}":
                continue
            found.append(_simple(fake.pull_body(number)))
        return 200, found

    def create_pull(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("title", "head", "base")
        ):
            return 422, {"message": "Validation Failed", "documentation_url": "x"}
        for pr in st.pulls.values():
            if pr["state"] == "open" and pr["head_ref"] == body["head"]:
                error = {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"A pull request already exists for {st.owner}:{body['head']}.",
                }
                return 422, {
                    "message": "Validation Failed",
                    "errors": [error],
                    "documentation_url": "x",
                }
        head, base = _rev(st.bare, body["head"]), _rev(st.bare, body["base"])
        if head is None or base is None:
            return 422, {"message": "Validation Failed", "documentation_url": "x"}
        number = max(st.pulls, default=0) + 1
        fake.open_pull(number, login, head, base, body["base"], head_ref=body["head"])
        st.pulls[number].update(
            title=body["title"], body=body.get("body"), draft=bool(body.get("draft"))
        )
        return 201, fake.pull_body(number)

    def add_labels(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        number = int(m["number"])
        names = body.get("labels") if isinstance(body, dict) else None
        if number not in st.pulls:
            return not_found()
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            return 422, {"message": "Validation Failed", "documentation_url": "x"}
        held = st.pulls[number].setdefault("labels", [])
        held.extend(n for n in names if n not in held)
        return 200, [fake.label_body(n) for n in held]

    def commit_pulls(m: re.Match[str], body: Any, login: str) -> tuple[int, Any]:
        out = []
        for number in st.commit_pulls.get(m["sha"], []):
            out.append(_simple(fake.pull_body(number)))
        return 200, out

    def wrap(fn: Callable[..., tuple[int, Any]]) -> Callable[..., tuple[int, Any]]:
        def guarded(
            m: re.Match[str], body: Any, login: str, query: dict[str, str]
        ) -> tuple[int, Any]:
            if "owner" in m.groupdict() and not repo_ok(m):
                return not_found()
            if fn is list_pulls:
                return list_pulls(m, body, login, query)
            return fn(m, body, login)

        return guarded

    table = [
        ("GET", R + r"/pulls", "/repos/{owner}/{repo}/pulls", list_pulls),
        ("POST", R + r"/pulls", "/repos/{owner}/{repo}/pulls", create_pull),
        (
            "GET",
            R + r"/pulls/(?P<number>\d+)",
            "/repos/{owner}/{repo}/pulls/{pull_number}",
            get_pull,
        ),
        (
            "GET",
            R + r"/pulls/(?P<number>\d+)/reviews",
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            reviews,
        ),
        (
            "GET",
            R + r"/issues/(?P<number>\d+)/comments",
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            comments,
        ),
        (
            "POST",
            R + r"/issues/(?P<number>\d+)/comments",
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            create_comment,
        ),
        (
            "POST",
            R + r"/issues/(?P<number>\d+)/labels",
            "/repos/{owner}/{repo}/issues/{issue_number}/labels",
            add_labels,
        ),
        (
            "PATCH",
            R + r"/issues/comments/(?P<id>\d+)",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            edit_comment,
        ),
        (
            "POST",
            R + r"/statuses/(?P<sha>[0-9a-f]{40})",
            "/repos/{owner}/{repo}/statuses/{sha}",
            status,
        ),
        (
            "GET",
            R + r"/collaborators/(?P<user>[^/]+)/permission",
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            permission,
        ),
        (
            "GET",
            r"/orgs/(?P<org>[^/]+)/teams/(?P<slug>[^/]+)/memberships/(?P<user>[^/]+)",
            "/orgs/{org}/teams/{team_slug}/memberships/{username}",
            membership,
        ),
        (
            "GET",
            R + r"/commits/(?P<sha>[0-9a-f]{40})/pulls",
            "/repos/{owner}/{repo}/commits/{commit_sha}/pulls",
            commit_pulls,
        ),
    ]
    return [(method, re.compile(rx + "$"), tpl, wrap(fn)) for method, rx, tpl, fn in table]


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    routes = _routes(fake)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def _serve(self, method: str) -> None:
            split = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            token = (self.headers.get("Authorization") or "").removeprefix("token ").strip()
            token = token.removeprefix("Bearer ").strip()
            with fake.lock:
                hold = next(
                    (
                        f
                        for f in fake.faults
                        if f.kind == "hold"
                        and f.method == method
                        and re.search(f.pattern, split.path)
                    ),
                    None,
                )
                if hold is not None:
                    hold.times -= 1
                    if hold.times <= 0:
                        fake.faults.remove(hold)
            if hold is not None:
                fake.held.set()
                fake.release.wait(60)
                with contextlib.suppress(OSError):  # the client is gone (killed)
                    self._answer(method, split.path, None, 502, {"message": "Server Error"})
                return None
            with fake.lock:
                login = fake.state.tokens.get(token)
                if login is None:
                    return self._answer(
                        method, split.path, None, 401, {"message": "Bad credentials"}
                    )
                found = next(
                    ((rx.match(split.path), tpl, fn) for verb, rx, tpl, fn in routes
                     if verb == method and rx.match(split.path)),
                    None,
                )  # fmt: skip
                if found is None:
                    return self._answer(method, split.path, None, 404, {"message": "Not Found"})
                m, template, fn = found
                fault = next(
                    (
                        f
                        for f in fake.faults
                        if f.method == method and re.search(f.pattern, split.path)
                    ),
                    None,
                )
                if fault is not None and fault.kind == "race":
                    fault.times -= 1
                    if fault.times <= 0:
                        fake.faults.remove(fault)
                    if fault.first is not None:
                        fault.first()
                    fault = None
                if fault is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        fake.faults.remove(fault)
                    return self._fault(method, split.path, fault, lambda: fn(m, body, login, query))
                status, out = fn(m, body, login, query)
                headers: dict[str, str] = {}
                if isinstance(out, list):
                    out, headers = self._page(split, out)
                return self._answer(method, split.path, template, status, out, headers)

        def _page(self, split: Any, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
            query = parse_qs(split.query)
            per_page = min(int(query.get("per_page", ["30"])[0]), PER_PAGE_MAX)
            page = int(query.get("page", ["1"])[0])
            chunk = items[(page - 1) * per_page : page * per_page]
            headers = {}
            if page * per_page < len(items):
                nxt = f"{fake.url}{split.path}?per_page={per_page}&page={page + 1}"
                headers["Link"] = f'<{nxt}>; rel="next"'
            return chunk, headers

        def _fault(self, method: str, path: str, fault: Fault, act: Callable[[], Any]) -> None:
            if fault.kind in ("after", "lost"):
                act()
            if fault.kind == "lost":
                fake.calls.append(Call(method, path, 0))
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault.kind in ("after", "before"):
                return self._answer(method, path, None, 502, {"message": "Server Error"})
            headers = {"x-ratelimit-remaining": "4999", "x-ratelimit-reset": "0"}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            if fault.kind == "secondary":
                message = "You have exceeded a secondary rate limit. Please wait a few minutes."
                return self._answer(method, path, None, 403, {"message": message}, headers)
            return self._answer(method, path, None, 429, {"message": "Too Many Requests"}, headers)

        def _answer(
            self,
            method: str,
            path: str,
            template: str | None,
            status: int,
            out: Any,
            headers: dict[str, str] | None = None,
        ) -> None:
            headers = headers or {}
            _check(fake, method, path, template, status, out, headers)
            fake.calls.append(Call(method, path, status))
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _check(
    fake: FakeGitHub,
    method: str,
    path: str,
    template: str | None,
    status: int,
    out: Any,
    headers: dict[str, str],
) -> None:
    api, doc = openapi()
    try:
        if template is None:  # an injected fault or an unknown route: GitHub's error shape
            errors = check_subset.validate_schema(doc, "basic-error", out)
            if errors:
                raise ValueError(errors)
            return
        check_subset.validate_response(
            api, method, template, status, out, path=path, headers=headers
        )
    except Exception as exc:  # any validator failure is a bug in the fake
        cause = exc.__cause__
        details = [str(e.message) for e in getattr(cause, "schema_errors", [])] or [repr(exc)]
        fake.invalid.append(f"{method} {path} {status}: {details}")


def _simple(body: dict[str, Any]) -> dict[str, Any]:
    """A pull request as lists show it (`pull-request-simple`)."""
    for key in ("merged", "mergeable", "mergeable_state", "merged_by", "comments"):
        body.pop(key, None)
    return body


def _rev(bare: Path | None, branch: str) -> str | None:
    import subprocess

    if bare is None:
        return None
    done = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip() or None
