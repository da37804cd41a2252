"""The `github_pr` executor: a change on a branch, pushed, and a pull request for it.

`executor: {github_pr: {repository, base, branch, title, body, labels, draft, change}}`.
`change` is exactly one of `files: [{path, content}]` (templates), `patch` (a unified
diff, a template, applied with `git apply`; refused when it does not apply) or `command:
{argv, timeout, passEnv}` (run as the `command` executor runs argv: no shell, the
allow-listed environment, a group-killing timeout). Each is made in a fresh checkout of
`base` (a temporary worktree of the runner's repository, detached at the remote's `base`;
never the runner's own checkout; no hooks, no submodules, no LFS smudging), and what it
changes becomes one commit by the runner's identity. The branch (default
`remediate/<request>`) is pushed to `origin` with a lease, and through the `Forge` port
(`ExecutionContext.open_forge`: GitHub, or local git) a pull request is opened with the
rendered `title` and `body`, `labels` and `draft`.

Idempotent per request: on a re-run the change is made again on the commit the branch
started from (its merge base with `base`), so the same tree is the same change: the branch
is reused as it is, however far `base` moved on meanwhile. A change that differs adds a
commit on top of the branch (made on `base` and merging it when `base` moved on), never a
reset; and only when every commit on it since `base` is the runner's (author and
committer: a branch that holds anyone else's commit is refused, left as it is). An open
pull request from the branch is found and reused; the create is never re-sent blindly (a
lost reply, a 5xx or a 422 "already exists" is resolved by looking the pull request up).
The result records the branch, the commit, and the pull request's number and URL. Under
`forge: {type: local}` the branch is pushed and recorded, with no pull request.

Request values are data at every sink: branch names are checked by git's own rules and
ours, paths may not leave the checkout (no `..`, no absolute path, no `.git/`, no
`audit/`, no symbolic link on the way), the commit message and the pull request's text go
to git on stdin and to GitHub as JSON strings.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
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
MAX_LABELS = 20
# Every git call: no hooks, no fsmonitor, no submodules, no LFS (nothing of the
# repository's content runs), no prompt for credentials.
_SAFE = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "submodule.recurse=false",
    "-c",
    "filter.lfs.smudge=",
    "-c",
    "filter.lfs.process=",
    "-c",
    "filter.lfs.required=false",
)


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
    config = dict(context.action.config)
    data = template_data(context.request)
    forge = dict(context.forge or {"type": "local"})
    name = context.request.name
    branch = _branch("branch", _text("branch", config.get("branch") or f"remediate/{name}", data))
    base = _branch(
        "base", _text("base", config.get("base") or forge.get("baseBranch") or "main", data)
    )
    if branch == base:
        raise ExecutorError(f"github_pr: branch {branch!r} is the base branch")
    title = _text("title", config.get("title") or f"remediate: {name}", data)
    if "\n" in title or "\r" in title or not title.strip():
        raise ExecutorError("github_pr: title must be one non-empty line after rendering")
    body = _text("body", config.get("body") or "", data)
    labels = _labels(config.get("labels") or [], data)
    change = dict(config.get("change") or {})
    if len(change) != 1 or next(iter(change)) not in ("files", "patch", "command"):
        raise ExecutorError("github_pr: change needs exactly one of: files, patch, command")
    if not context.runner:
        raise ExecutorError("github_pr: the runner's identity is unknown")
    if config.get("repository") is not None:
        refused = foreign_repository(str(config["repository"]), forge)
        if refused is not None:
            raise ExecutorError(f"github_pr: {refused}")
    git = _Git(context)
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
    details: dict[str, Any] = {"branch": branch, "base": base, "change": next(iter(change))}
    # A re-run makes the change on the commit the branch started from: the same tree is
    # the same change, reused as it is, however far `base` moved on meanwhile.
    start = git.merge_base(tip, base_sha) if tip is not None else base_sha
    made = _made(context, git, change, data, start or base_sha, details)
    if isinstance(made, ExecutionResult):
        return made
    if tip is not None and git.tree_of(tip) == made:
        commit = tip  # the branch already holds exactly this change
    else:
        parents = [tip] if tip is not None else [base_sha]
        if tip is not None and start != base_sha:
            # the change differs and base moved on: make it on base, merge, never reset
            made = _made(context, git, change, data, base_sha, details)
            if isinstance(made, ExecutionResult):
                return made
            parents.append(base_sha)
        if tip is None and made == git.tree_of(base_sha):
            raise ExecutorError(f"github_pr: the change leaves {base} as it is: nothing to propose")
        message = f"{title}\n\nRemediate-Request: {name}\n"
        commit = git.commit(made, parents, message)
        git.push(commit, branch, expected=tip)
    details["commit"] = commit
    if context.open_forge is None:
        raise ExecutorError("github_pr: this runner has no forge to open pull requests with")
    port = context.open_forge()
    try:
        if not port.proposes:
            details["remote"] = REMOTE
            return ExecutionResult(True, details)
        pull = _pull(port, title, body, branch, base, bool(config.get("draft")))
        if labels:
            port.add_labels(pull.number, labels)
    finally:
        port.close()
    details["pullRequest"] = {"number": pull.number, "url": pull.url}
    return ExecutionResult(True, details)


def _made(
    context: ExecutionContext,
    git: _Git,
    change: dict[str, Any],
    data: dict[str, Any],
    start: str,
    details: dict[str, Any],
) -> str | ExecutionResult:
    """The tree of `change` made in a fresh checkout of `start`, or the failed command's
    result."""
    with tempfile.TemporaryDirectory(prefix="remediate-pr-") as tmp:
        checkout = Path(tmp) / "checkout"
        git.worktree(checkout, start)
        try:
            failed = _make_change(context, change, data, checkout, details)
            return failed if failed is not None else git.stage(checkout, start)
        finally:
            git.drop_worktree(checkout)


def _text(where: str, template: Any, data: dict[str, Any]) -> str:
    return refuse_characters(where, str(render(str(template), data)))


def _bad_branch(ref: str) -> bool:
    """Our own rules for a branch name (git's `check-ref-format` runs too, at run time)."""
    parts = ref.split("/")
    return (
        not _BRANCH.match(ref)
        or ".." in ref
        or "//" in ref
        or ref.startswith(("-", "/"))
        or ref.endswith(("/", ".lock", "."))
        or any(p.startswith(".") or p.endswith(".lock") for p in parts)
        or ref == "HEAD"
    )


def _branch(what: str, ref: str) -> str:
    if (
        _bad_branch(ref)
        or subprocess.run(
            ["git", "check-ref-format", f"refs/heads/{ref}"], capture_output=True, check=False
        ).returncode
        != 0
    ):
        raise ExecutorError(f"github_pr: {what} {ref!r} is not a branch name")
    return ref


def _bad_path(path: str) -> bool:
    pure = PurePosixPath(path)
    return (
        not path
        or pure.is_absolute()
        or ".." in pure.parts
        or any(p.casefold() == ".git" for p in pure.parts)
        or pure.parts[0] == "audit"
        or "\\" in path
        or any(ord(c) < 32 for c in path)
    )


def foreign_repository(named: str, forge: Mapping[str, Any]) -> str | None:
    """Why `repository: named` is refused on GitHub (None: it is the forge's own): the
    runner pushes the branch to its own remote and opens the pull request there, so no
    other repository can be meant (owner/name compared as GitHub does, ignoring case)."""
    own = forge.get("repository")
    if forge.get("type") != "github":
        return None  # forge: local opens no pull request: the branch goes to the git remote
    if not isinstance(own, str) or not own:
        return (
            f"repository {named!r} cannot be checked: Settings spec.forge names no "
            "repository (set it to owner/name)"
        )
    if named.casefold() != own.casefold():
        return (
            f"repository {named!r} is not the forge's ({own!r}): the runner opens pull "
            "requests only in its own repository"
        )
    return None


def config_problems(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key path, message, severity) of a github_pr config that cannot work as written (for
    `validate`): a literal branch or base that is no branch name, a literal file path out
    of the repository, a literal patch that is no unified diff."""
    from remediate.executors.templates import is_template

    problems = []
    for key in ("branch", "base"):
        value = config.get(key)
        if isinstance(value, str) and not is_template(value) and _bad_branch(value):
            problems.append((key, f"{value!r} is not a branch name", "error"))
    change = config.get("change") or {}
    for i, item in enumerate(change.get("files") or []):
        path = item.get("path") if isinstance(item, dict) else None
        if isinstance(path, str) and not is_template(path) and _bad_path(path):
            problems.append(
                (
                    f"change.files[{i}].path",
                    f"{path!r} is not a path in the repository (no .., absolute path, .git or"
                    " audit/)",
                    "error",
                )
            )
    patch = change.get("patch")
    if isinstance(patch, str) and not is_template(patch):
        lines = patch.splitlines()
        if not any(x.startswith("--- ") for x in lines) or not any(
            x.startswith("+++ ") for x in lines
        ):
            problems.append(
                ("change.patch", "is not a unified diff (no '--- ' and '+++ ' lines)", "error")
            )
    return problems


def _labels(items: list[Any], data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for i, item in enumerate(items[:MAX_LABELS]):
        label = _text(f"labels[{i}]", item, data).strip()
        if not label or len(label) > 50 or any(c in label for c in "\r\n,"):
            raise ExecutorError(f"github_pr: labels[{i}] {label!r} is not a label")
        if label not in out:
            out.append(label)
    return out


def _make_change(
    context: ExecutionContext,
    change: dict[str, Any],
    data: dict[str, Any],
    checkout: Path,
    details: dict[str, Any],
) -> ExecutionResult | None:
    """Make the change in `checkout`; a failed command is the action's result."""
    if "files" in change:
        _write_files(checkout, _files(change["files"] or [], data))
        return None
    if "patch" in change:
        patch = _text("change.patch", change["patch"], data)
        if not patch.endswith("\n"):
            patch += "\n"
        _apply_patch(checkout, patch)
        return None
    from remediate.executors.command import CommandExecutor

    command = dict(change["command"] or {})
    limit = context.action.timeout.total_seconds()
    if command.get("timeout"):
        from remediate.core.duration import parse_duration

        limit = min(limit, parse_duration(str(command["timeout"])).total_seconds())
    config = {"argv": command.get("argv") or [], "passEnv": command.get("passEnv") or []}
    done = CommandExecutor().execute(context, config, str(checkout), limit)
    details["command"] = dict(done.details)
    if not done.ok:
        error = f"github_pr: change.command: {done.error}"
        return ExecutionResult(False, details, error, outcome_unknown=done.outcome_unknown)
    return None


def _files(items: list[Any], data: dict[str, Any]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for i, item in enumerate(items):
        path = _text(f"files[{i}].path", item.get("path", ""), data)
        content = _text(f"files[{i}].content", item.get("content", ""), data)
        pure = PurePosixPath(path)
        if _bad_path(path):
            raise ExecutorError(
                f"github_pr: files[{i}].path {path!r} is not a path in the repository"
            )
        out[str(pure)] = content.encode()
    if not out:
        raise ExecutorError("github_pr: no files to change")
    return out


def _write_files(checkout: Path, files: dict[str, bytes]) -> None:
    for path, content in sorted(files.items()):
        parts = PurePosixPath(path).parts
        here = checkout
        for part in parts[:-1]:  # never through a symbolic link the base holds
            here = here / part
            if here.is_symlink() or (here.exists() and not here.is_dir()):
                raise ExecutorError(
                    f"github_pr: files: {path!r} passes through {here.relative_to(checkout)}, "
                    "which is not a directory"
                )
            here.mkdir(exist_ok=True)
        target = here / parts[-1]
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise ExecutorError(
                f"github_pr: files: {path!r} is not a regular file in {checkout.name}"
            )
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        handle = os.open(target, flags, 0o644)
        with os.fdopen(handle, "wb") as out:
            out.write(content)


def _apply_patch(checkout: Path, patch: str) -> None:
    done = subprocess.run(
        ["git", *_SAFE, "apply", "--index", "--whitespace=nowarn", "-"],
        cwd=checkout,
        input=patch.encode(),
        capture_output=True,
        env=_git_env(),
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = lines[-1] if lines else "git apply failed"
        raise ExecutorError(f"github_pr: change.patch does not apply to the base: {why[:300]}")


# What points git at another repository, index or work tree than the one each call names;
# the rest of the runner's environment (GIT_SSH_COMMAND, GIT_ASKPASS, …) reaches its pushes.
_LOCATING = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
    }
)


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCATING}
    return {**env, "GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1"}


def _pull(port: Any, title: str, body: str, branch: str, base: str, draft: bool) -> Any:
    from remediate.core.forge import LostReply

    found = port.open_pull(branch)
    if found is not None:
        return found
    try:
        return port.create_pull(title, body, branch, base, draft)
    except LostReply:
        found = port.open_pull(branch)  # created after all, or by a racing runner
        if found is None:
            raise
        return found


class _Git:
    """The runner's repository: remote reads and writes, and temporary worktrees."""

    def __init__(self, context: ExecutionContext) -> None:
        self.root = context.root
        self.runner = context.runner

    def _git(
        self,
        *args: str,
        data: bytes | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> str:
        done = subprocess.run(
            ["git", *_SAFE, *args],
            cwd=cwd or self.root,
            input=data,
            capture_output=True,
            env={**_git_env(), **(env or {})},
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
        out = self._git("log", "--format=%ae%n%ce", f"{base}..{tip}")
        return {line.strip().casefold() for line in out.splitlines() if line.strip()}

    def worktree(self, path: Path, commit: str) -> None:
        self._git("worktree", "prune")  # entries a crashed run left
        self._git("worktree", "add", "--quiet", "--detach", str(path), commit)

    def drop_worktree(self, path: Path) -> None:
        if path.exists():
            self._git("worktree", "remove", "--force", str(path))
        self._git("worktree", "prune")

    def stage(self, checkout: Path, base: str) -> str:
        """Stage every change of `checkout` and return its tree; refuse what may not be
        committed (the audit log)."""
        self._git("add", "--all", "--", ".", cwd=checkout)
        names = self._git("diff", "--cached", "--name-only", "--no-renames", base, cwd=checkout)
        for name in names.splitlines():
            if name.split("/")[0] == "audit":
                raise ExecutorError(
                    f"github_pr: the change touches {name!r}: the audit log is the runner's"
                )
        return self._git("write-tree", cwd=checkout)

    def tree_of(self, commit: str) -> str:
        return self._git("rev-parse", f"{commit}^{{tree}}")

    def merge_base(self, a: str, b: str) -> str | None:
        done = subprocess.run(
            ["git", *_SAFE, "merge-base", a, b],
            cwd=self.root,
            capture_output=True,
            env=_git_env(),
            check=False,
        )
        return done.stdout.decode().strip() or None if done.returncode == 0 else None

    def commit(self, tree: str, parents: list[str], message: str) -> str:
        who = {
            "GIT_AUTHOR_NAME": "remediate",
            "GIT_AUTHOR_EMAIL": self.runner,
            "GIT_COMMITTER_NAME": "remediate",
            "GIT_COMMITTER_EMAIL": self.runner,
        }
        linked = [arg for parent in parents for arg in ("-p", parent)]
        return self._git("commit-tree", tree, *linked, "-F", "-", data=message.encode(), env=who)

    def push(self, commit: str, branch: str, expected: str | None) -> None:
        lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
        self._git("push", "--quiet", "--no-verify", lease, REMOTE, f"{commit}:refs/heads/{branch}")
