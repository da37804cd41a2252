"""Where the running remediate was installed from: a git repository and a commit, if known.

`remediate init` pins the workflows it writes to that commit. Three cases, tried in order:
the package runs from a git checkout of this project (an editable install or PYTHONPATH:
the checkout's HEAD), it was installed from a git URL (PEP 610's `direct_url.json`,
`vcs_info.commit_id`), or neither (a wheel or an index: unknown, and `init` says so).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from remediate.core.provenance import InstalledFrom as InstalledFrom

_PACKAGE = Path(__file__).resolve().parent.parent
COMMIT = re.compile(r"^[0-9a-f]{40}$")


def installed_from() -> InstalledFrom:
    checkout = _checkout(_PACKAGE.parent.parent)
    if checkout is not None:
        return checkout
    return _distribution() or InstalledFrom(
        "unknown", None, None, "installed from neither a git checkout nor a git URL"
    )


def from_direct_url(text: str) -> InstalledFrom | None:
    """What PEP 610's `direct_url.json` says, if it names a git commit."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    vcs = data.get("vcs_info") if isinstance(data, dict) else None
    if not isinstance(vcs, dict) or vcs.get("vcs") != "git":
        return None
    commit, url = vcs.get("commit_id"), data.get("url")
    if not isinstance(commit, str) or not COMMIT.match(commit) or not isinstance(url, str):
        return None
    return InstalledFrom("git", url, commit, url)


def _checkout(root: Path) -> InstalledFrom | None:
    """The git checkout of this project that the package runs from (src/remediate)."""
    if _PACKAGE.parent.name != "src" or not (root / ".git").exists():
        return None
    head = _git(root, "rev-parse", "--verify", "HEAD")
    if head is None or not COMMIT.match(head):
        return None
    edited = _git(root, "status", "--porcelain", "--untracked-files=no")
    remote = _git(root, "branch", "--remotes", "--contains", head)
    unpushed = bool(edited) or not remote
    return InstalledFrom("checkout", None, head, str(root), unpushed)


def _distribution() -> InstalledFrom | None:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("remediate")
    except PackageNotFoundError:
        return None
    # The distribution of that name must be this package, not another project's.
    located = Path(str(dist.locate_file("remediate/__init__.py"))).resolve()
    if located != _PACKAGE / "__init__.py":
        return None
    text = dist.read_text("direct_url.json")
    return from_direct_url(text) if text else None


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


class LocalInstall:
    """The `Scaffolding` port of `init`: git init, and where this remediate came from."""

    def init_repository(self, directory: Path) -> None:
        from remediate.adapters.git_cli import init_repository

        init_repository(directory)

    def installed_from(self) -> InstalledFrom:
        return installed_from()
