"""`GitTree.automation_from`: the versions a new vouch needs (from the oldest commit it
names to the tip), read from real git, and the runner's answer with them equal to the
whole history's (`at_commit.revouched` against `at_commit.trusted`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediate.adapters.git_tree import GitTree
from remediate.core.automation import AUTOMATION_PATHS, Vouch, Voucher
from remediate.documents.commit import AtCommit
from remediate.service import at_commit
from tests.runner_support import git

ADMIN, DEV = "alice@example.com", "dave@example.com"
SETTINGS = """\
apiVersion: remediate/v1
kind: Settings
metadata: {name: acme}
spec:
  organization: ACME
  rbac: {admins: [alice@example.com]}
  runner: {name: remediate-bot, email: remediate-bot@example.com}
"""


def commit(repo: Path, files: dict[str, str | None], email: str) -> str:
    for path, text in files.items():
        if text is None:
            (repo / path).unlink()
        else:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "c", email=email)
    return git(repo, "rev-parse", "HEAD")


def repository(tmp: Path) -> tuple[Path, list[str]]:
    """Settings by alice, p1 by alice (c1), dave's policy changes (c2..c4), and a side
    branch of dave's deleting p1 and adding p2, merged."""
    repo = tmp / "repo"
    git(tmp, "init", "--quiet", "-b", "main", str(repo))
    made = [commit(repo, {"remediate.yaml": SETTINGS}, ADMIN)]
    for n in range(1, 5):
        made.append(commit(repo, {f"policies/p{n % 2}.yaml": f"# {n}\n"}, ADMIN if n == 1 else DEV))
    git(repo, "checkout", "--quiet", "-b", "side")
    side = commit(repo, {"policies/p1.yaml": None, "policies/p2.yaml": "# side\n"}, DEV)
    git(repo, "checkout", "--quiet", "main")
    git(repo, "merge", "--quiet", "--no-ff", "-m", "merge", "side", email=DEV)
    made += [side, git(repo, "rev-parse", "HEAD")]
    return repo, made


def test_it_reads_from_the_oldest_named_commit_to_the_tip(tmp_path: Path) -> None:
    repo, made = repository(tmp_path)
    tree = GitTree(repo)
    tip = made[-1]
    whole = tree.automation_history(tip, AUTOMATION_PATHS)
    found = tree.automation_from([made[4], made[3]], tip, AUTOMATION_PATHS)
    assert found == [v for v in whole if v.commit in (tip, made[4], made[3])]
    assert tree.automation_from([tip], tip, AUTOMATION_PATHS) == [
        v for v in whole if v.commit == tip
    ]
    assert tree.automation_from([made[0]], tip, AUTOMATION_PATHS) == whole  # the root
    # the side branch's commit (a vouch names it when GitHub lists the pull request's own
    # commits beside the merge) made no version: skipped
    assert tree.automation_from([made[5]], tip, AUTOMATION_PATHS) == []
    assert tree.automation_from([made[5], tip], tip, AUTOMATION_PATHS) == [
        v for v in whole if v.commit == tip
    ]
    assert tree.automation_from([], tip, AUTOMATION_PATHS) == []


def test_a_shallow_clone_cut_at_the_oldest_named_commit_says_none(tmp_path: Path) -> None:
    repo, made = repository(tmp_path)
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{repo}", str(clone))
    tree = GitTree(clone)
    assert tree.automation_from([made[-1]], made[-1], AUTOMATION_PATHS) is None


def test_revouched_answers_what_the_whole_history_answers(tmp_path: Path) -> None:
    repo, made = repository(tmp_path)
    commits = AtCommit(repo, GitTree(repo))
    tip = made[-1]
    whole = GitTree(repo).automation_history(tip, AUTOMATION_PATHS)
    blob = {(v.commit, v.path): v.blob for v in whole}
    merge = Vouch(
        "v2",
        9,
        made[5],
        (tip,),
        {"policies/p1.yaml": None, "policies/p2.yaml": blob[(tip, "policies/p2.yaml")]},
        (Voucher(ADMIN),),
    )
    older = Vouch(
        "v1", 8, made[3], (made[3],), {"policies/p1.yaml": "x"}, (Voucher(ADMIN),)
    )  # not the blob made[3] made: vouches for nothing
    before = at_commit.trusted(commits, tip, None, [older])
    assert before.record is not None
    assert sorted(before.use) == ["policies/p0.yaml", "policies/p1.yaml", "policies/p2.yaml"]
    again = at_commit.revouched(commits, tip, before.record, [older, merge])
    expected = at_commit.trusted(commits, tip, None, [older, merge])
    assert again == expected
    assert sorted(again.use) == ["policies/p0.yaml"]  # the merge's deletion and addition count


def test_a_vouch_naming_the_commits_a_merge_brought_is_counted_from_the_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, made = repository(tmp_path)
    commits = AtCommit(repo, GitTree(repo))
    tip = made[-1]
    whole = GitTree(repo).automation_history(tip, AUTOMATION_PATHS)
    blob = {(v.commit, v.path): v.blob for v in whole}
    files = {"policies/p1.yaml": None, "policies/p2.yaml": blob[(tip, "policies/p2.yaml")]}
    merge = Vouch("v2", 9, made[5], (made[5], tip), files, (Voucher(ADMIN),))
    before = at_commit.trusted(commits, tip, None, [])
    assert before.record is not None
    expected = at_commit.trusted(commits, tip, None, [merge])
    monkeypatch.setattr(GitTree, "automation_history", lambda *a: pytest.fail("whole history"))
    assert at_commit.revouched(commits, tip, before.record, [merge]) == expected
