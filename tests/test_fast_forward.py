"""The checkout follows the runner's commits (`Store.fast_forward`): the files a commit only
adds are checked out by name, anything else goes through `git merge --ff-only`, and a
person's work in the checkout is never overwritten (real git repositories)."""

from __future__ import annotations

from pathlib import Path

from tests.runner_support import REQUESTER, action_yaml, clone, git, make_remote
from tests.sessions import session


def _commit_on(work: Path, files: dict[str, str], remove: tuple[str, ...] = ()) -> str:
    """A commit on top of HEAD adding `files` (and deleting `remove`), HEAD left where it was."""
    head = git(work, "rev-parse", "HEAD")
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    git(work, "add", "-A", "--", *files)
    if remove:
        git(work, "rm", "-r", "--quiet", "--", *remove)
    git(work, "commit", "--quiet", "-m", "runner's commit")
    sha = git(work, "rev-parse", "HEAD")
    git(work, "reset", "--quiet", "--hard", head)
    for path in files:
        (work / path).unlink(missing_ok=True)
    return sha


def _work(tmp: Path) -> Path:
    actions = {"noop": action_yaml("noop", ["/bin/sh", "-c", "true"])}
    return clone(tmp, make_remote(tmp, actions=actions), "work")


def test_added_files_are_checked_out_and_the_branch_moves(tmp_path: Path) -> None:
    work = _work(tmp_path)
    sha = _commit_on(work, {"audit/2026/12/a.jsonl": "{}\n", "audit/2026/12/[b]*.jsonl": "x\n"})
    assert session(work).store.fast_forward(sha)
    assert git(work, "rev-parse", "HEAD") == sha
    assert (work / "audit/2026/12/[b]*.jsonl").read_text() == "x\n"  # a path, not a pattern
    assert git(work, "status", "--porcelain", "--untracked-files=all") == ""
    assert f"remediate: fast-forward to {sha}" in git(work, "reflog", "-1")


def test_a_persons_uncommitted_work_elsewhere_is_kept(tmp_path: Path) -> None:
    work = _work(tmp_path)
    sha = _commit_on(work, {"audit/2026/12/a.jsonl": "{}\n"})
    (work / "remediate.yaml").write_text((work / "remediate.yaml").read_text() + "# mine\n")
    (work / "notes.txt").write_text("staged\n")
    git(work, "add", "notes.txt")
    assert session(work).store.fast_forward(sha)
    assert git(work, "rev-parse", "HEAD") == sha
    assert git(work, "status", "--porcelain").splitlines() == ["A  notes.txt", " M remediate.yaml"]


def test_a_file_the_checkout_holds_at_an_added_path_is_never_overwritten(tmp_path: Path) -> None:
    work = _work(tmp_path)
    head = git(work, "rev-parse", "HEAD")
    sha = _commit_on(work, {"audit/2026/12/a.jsonl": "{}\n"})
    (work / "audit/2026/12").mkdir(parents=True)
    (work / "audit/2026/12/a.jsonl").write_text("a person's file\n")
    assert not session(work).store.fast_forward(sha)  # merge refuses too
    assert git(work, "rev-parse", "HEAD") == head
    assert (work / "audit/2026/12/a.jsonl").read_text() == "a person's file\n"
    # staged, then removed from the work tree: the index still holds it
    git(work, "add", "audit/2026/12/a.jsonl")
    (work / "audit/2026/12/a.jsonl").unlink()
    assert not session(work).store.fast_forward(sha)
    assert git(work, "rev-parse", "HEAD") == head
    assert git(work, "status", "--porcelain").splitlines() == ["AD audit/2026/12/a.jsonl"]


def test_a_commit_that_changes_or_deletes_files_fast_forwards_through_merge(
    tmp_path: Path,
) -> None:
    work = _work(tmp_path)
    sha = _commit_on(
        work, {"audit/2026/12/a.jsonl": "{}\n", "remediate.yaml": "changed\n"}, ("actions",)
    )
    assert session(work).store.fast_forward(sha)
    assert git(work, "rev-parse", "HEAD") == sha
    assert (work / "remediate.yaml").read_text() == "changed\n"
    assert git(work, "status", "--porcelain", "--untracked-files=all") == ""
    assert "merge" in git(work, "reflog", "-1")


def test_a_sparse_checkout_fast_forwards_through_merge(tmp_path: Path) -> None:
    work = _work(tmp_path)
    sha = _commit_on(work, {"audit/2026/12/a.jsonl": "{}\n"})
    git(work, "sparse-checkout", "set", "--no-cone", "/remediate.yaml", email=REQUESTER)
    assert session(work).store.fast_forward(sha)
    assert git(work, "rev-parse", "HEAD") == sha
    assert not (work / "audit").exists()  # outside the sparse checkout: not written


def test_a_persons_file_where_a_directory_is_to_go_is_never_removed(tmp_path: Path) -> None:
    work = _work(tmp_path)
    head = git(work, "rev-parse", "HEAD")
    sha = _commit_on(work, {"audit/2026/12/a.jsonl": "{}\n"})
    (work / "audit").mkdir()
    (work / "audit/2026").write_text("my notes\n")  # untracked, where a directory goes
    assert not session(work).store.fast_forward(sha)  # merge refuses too
    assert (work / "audit/2026").read_text() == "my notes\n"
    assert git(work, "rev-parse", "HEAD") == head
    # a symbolic link where a directory goes
    (work / "audit/2026").unlink()
    (work / "elsewhere").mkdir()
    (work / "audit/2026").symlink_to(work / "elsewhere")
    assert not session(work).store.fast_forward(sha)
    assert list((work / "elsewhere").iterdir()) == []


def test_staged_work_where_the_files_go_leaves_the_fast_forward_to_merge(tmp_path: Path) -> None:
    work = _work(tmp_path)
    sha = _commit_on(work, {"audit/2026/12/a.jsonl": "{}\n"})
    (work / "audit").mkdir()
    (work / "audit/2026").write_text("staged\n")
    git(work, "add", "audit/2026")
    (work / "audit/2026").unlink()  # gone from the work tree: the index still holds it
    session(work).store.fast_forward(sha)  # whatever git's merge makes of it
    assert "remediate: fast-forward" not in git(work, "reflog", "-1")


def test_a_lost_branch_swap_takes_out_every_file_it_checked_out(tmp_path: Path) -> None:
    # The branch moves between the checkout of the added paths and the swap (a hook
    # stands in for a person's commit): the files, a path that is a pattern, and an
    # ignored one are all taken out of the index and the work tree, with their directories.
    work = _work(tmp_path)
    added = {"audit/2026/12/a.jsonl": "{}\n", "audit/2026/12/[b]*.jsonl": "x\n", "new.log": "y\n"}
    sha = _commit_on(work, added)
    (work / ".git" / "info" / "exclude").write_text("*.log\n")
    hook = work / ".git" / "hooks" / "post-checkout"
    hook.write_text(
        "#!/bin/sh\n[ -f .git/once ] && exit 0\ntouch .git/once\n"
        'git update-ref HEAD "$(git commit-tree HEAD^{tree} -p HEAD -m concurrent)"\n'
    )
    hook.chmod(0o755)
    assert not session(work).store.fast_forward(sha)
    assert git(work, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    assert not (work / "audit" / "2026").exists()
    assert not (work / "new.log").exists()
