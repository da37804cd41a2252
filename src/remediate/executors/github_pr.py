"""The `github_pr` executor: a change on a branch, pushed, and a pull request for it.

`executor: {github_pr: {repository, baseBranch, branch, title, body, files}}`: `files`
(`[{path, content}]`, templates) are written on top of `baseBranch` (default: the forge's
`baseBranch`, else `main`) in a commit built in a temporary index of the runner's own
repository (no work tree is touched, nothing of the change is executed), by the runner's
identity; the branch (default `remediate/<request>`) is pushed to `origin`, and, under
`forge: {type: github}`, a pull request is opened with the rendered `title` and `body`.

Idempotent per request: an existing branch is reused — a commit is added on top of it when
its files differ, it is never reset — and only when every commit on it since the base is
the runner's (a branch that holds anyone else's commit is refused, left as it is). An open
pull request from the branch is found and reused; the create is never re-sent blindly (a
lost reply or a 422 "already exists" is resolved by looking the pull request up). The
result records the branch, the commit, and the pull request's number and URL. Under
`forge: {type: local}` the branch is pushed and recorded, with no pull request.

Not built yet: the contract's `patch` and `command` changes, `labels` and `draft`.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import PurePosixPath
from typing import Any

from remediate.executors.base import (
    ExecutionContext,
    ExecutionResult,
    ExecutorError,
    Redactor,
    ambient_secrets,
    refuse_characters,
    render,
    template_data,
)

REMOTE = "origin"
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")


class GitHubPullRequestExecutor:
    def run(self, context: ExecutionContext) -> ExecutionResult:
        redact = Redactor(ambient_secrets(context.environment))
        try:
            return _run(context)
        except ExecutorError as exc:
            return ExecutionResult(False, {}, redact(str(exc)))
        except Exception as exc:  # a forge or git failure is the action's outcome
            unknown = type(exc).__name__ == "LostReply"
            return ExecutionResult(False, {}, redact(str(exc)), outcome_unknown=unknown)


def _run(context: ExecutionContext) -> ExecutionResult:
    config: dict[str, Any] = render(dict(context.action.config), template_data(context.request))
    forge = dict(context.forge or {"type": "local"})
    name = context.request.name
    branch = str(config.get("branch") or f"remediate/{name}")
    base = str(config.get("baseBranch") or forge.get("baseBranch") or "main")
    for what, ref in (("branch", branch), ("baseBranch", base)):
        if (
            not _BRANCH.match(ref)
            or ".." in ref
            or ref.startswith(("-", "/"))
            or ref.endswith(("/", ".lock"))
        ):
            raise ExecutorError(f"github_pr: {what} {ref!r} is not a branch name")
    files = _files(config.get("files") or [])
    if not context.runner:
        raise ExecutorError("github_pr: the runner's identity is unknown")
    with _Git(context) as git:
        return _change(context, config, forge, git, name, branch, base, files)


def _change(
    context: ExecutionContext,
    config: dict[str, Any],
    forge: dict[str, Any],
    git: _Git,
    name: str,
    branch: str,
    base: str,
    files: dict[str, bytes],
) -> ExecutionResult:
    base_sha = git.remote_branch(base)
    if base_sha is None:
        raise ExecutorError(f"github_pr: the base branch {base!r} is not on {REMOTE}")
    tip = git.remote_branch(branch)
    if tip is not None:
        strangers = git.committers(base_sha, tip) - {context.runner.casefold()}
        if strangers:
            raise ExecutorError(
                f"github_pr: branch {branch} holds commits by {', '.join(sorted(strangers))}, "
                "not only the runner's: it is left as it is, never reset"
            )
    parent = tip or base_sha
    commit = git.commit(parent, files, f"remediate: {name}\n\nRemediate-Request: {name}\n")
    if commit != parent:
        git.push(commit, branch, expected=tip)
    details: dict[str, Any] = {"branch": branch, "commit": commit, "base": base}
    if forge.get("type") != "github":
        return ExecutionResult(True, details)
    repository = str(config.get("repository") or forge.get("repository") or "")
    if repository != forge.get("repository"):
        raise ExecutorError(
            f"github_pr: repository {repository!r} is not the forge's "
            f"({forge.get('repository')!r}); other repositories are not supported"
        )
    pull = _pull(context, repository, branch, base, config)
    details["pullRequest"] = {"number": pull.number, "url": pull.url}
    return ExecutionResult(True, details)


def _files(items: list[Any]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for i, item in enumerate(items):
        path = refuse_characters(f"files[{i}].path", str(item.get("path", "")))
        content = refuse_characters(f"files[{i}].content", str(item.get("content", "")))
        pure = PurePosixPath(path)
        if (
            not path
            or pure.is_absolute()
            or ".." in pure.parts
            or pure.parts[0] in (".git", "audit")
            or "\\" in path
        ):
            raise ExecutorError(
                f"github_pr: files[{i}].path {path!r} is not a path in the repository"
            )
        out[str(pure)] = content.encode()
    if not out:
        raise ExecutorError("github_pr: no files to change")
    return out


def _pull(
    context: ExecutionContext, repository: str, branch: str, base: str, config: dict[str, Any]
) -> Any:
    from remediate.adapters.github import DEFAULT_API, GitHubForge
    from remediate.core.forge import LostReply

    env = context.environment
    forge = GitHubForge(
        repository, env.get("GITHUB_TOKEN") or None, env.get("GITHUB_API_URL") or DEFAULT_API
    )
    try:
        found = forge.open_pull(branch)
        if found is not None:
            return found
        title = refuse_characters("title", str(config.get("title", "")))
        try:
            return forge.create_pull(title, str(config.get("body") or ""), branch, base)
        except LostReply:
            found = forge.open_pull(branch)  # created after all, or by a racing runner
            if found is None:
                raise
            return found
    finally:
        forge.close()


class _Git:
    """The runner's repository, written through a temporary index (no work tree)."""

    def __init__(self, context: ExecutionContext) -> None:
        self.root = context.root
        self.runner = context.runner
        handle, self.index_path = tempfile.mkstemp(prefix="remediate-pr-index-")
        os.close(handle)
        os.unlink(self.index_path)  # git writes a new index file there

    def __enter__(self) -> _Git:
        return self

    def __exit__(self, *exc: object) -> None:
        if os.path.exists(self.index_path):
            os.unlink(self.index_path)

    def _git(self, *args: str, data: bytes | None = None, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=self.root,
            input=data,
            capture_output=True,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
            check=False,
        )
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise ExecutorError(f"github_pr: git {args[0]}: {err[-1] if err else 'failed'}")
        return done.stdout.decode("utf-8", "replace").strip()

    def remote_branch(self, branch: str) -> str | None:
        out = self._git("ls-remote", "--heads", REMOTE, f"refs/heads/{branch}")
        sha = out.split()[0] if out else None
        if sha:
            self._git("fetch", "--quiet", "--no-tags", REMOTE, f"refs/heads/{branch}")
        return sha

    def committers(self, base: str, tip: str) -> set[str]:
        out = self._git("log", "--format=%ce", f"{base}..{tip}")
        return {line.strip().casefold() for line in out.splitlines() if line.strip()}

    def commit(self, parent: str, files: dict[str, bytes], message: str) -> str:
        env = {"GIT_INDEX_FILE": self.index_path}
        self._git("read-tree", parent, env=env)
        for path, content in sorted(files.items()):
            blob = self._git("hash-object", "-w", "--stdin", data=content)
            self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = self._git("write-tree", env=env)
        if tree == self._git("rev-parse", f"{parent}^{{tree}}"):
            return parent  # already holds exactly these files
        who = {
            "GIT_AUTHOR_NAME": "remediate",
            "GIT_AUTHOR_EMAIL": self.runner,
            "GIT_COMMITTER_NAME": "remediate",
            "GIT_COMMITTER_EMAIL": self.runner,
        }
        return self._git("commit-tree", tree, "-p", parent, "-m", message, env=who)

    def push(self, commit: str, branch: str, expected: str | None) -> None:
        lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
        self._git("push", "--quiet", "--no-verify", lease, REMOTE, f"{commit}:refs/heads/{branch}")
