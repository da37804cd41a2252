"""`make_commit` writes a commit's new objects as one pack from `PACK_AT` on (a tick's
checkpoint: ~260 objects), as loose objects below: either way git holds exactly the
files given, the repository checks clean, and the commit pushes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from remediate.adapters.git_store import GitStore
from remediate.adapters.git_writing import PACK_AT
from remediate.core.commits import Person
from tests.runner_support import clone, git, make_remote

RUNNER = Person("remediate-bot", "remediate-bot@example.com")


def _store(tmp: Path) -> tuple[Path, Path, GitStore]:
    bare = make_remote(tmp, requests={})
    repo = clone(tmp, bare, "runner")
    return bare, repo, GitStore(repo)


def _show(repo: Path, what: str) -> str:
    done = subprocess.run(["git", "show", what], cwd=repo, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def _packs(repo: Path) -> set[str]:
    return {p.name for p in (repo / ".git" / "objects" / "pack").glob("*.pack")}


def test_many_new_objects_land_as_one_pack_and_read_back_exactly(tmp_path: Path) -> None:
    bare, repo, store = _store(tmp_path)
    tip = git(bare, "rev-parse", "main").strip()
    files = {f"streams/s/{i:02x}.json": f'{{"n": {i}, "text": "é"}}\n' for i in range(300)}
    files["big.txt"] = "x" * 100_000  # a size that takes several bytes of the pack header
    before = _packs(repo)
    sha = store.make_commit(tip, files, "many\n", RUNNER, RUNNER)
    assert len(_packs(repo) - before) == 1
    for path, text in files.items():
        assert _show(repo, f"{sha}:{path}") == text
    assert git(repo, "rev-parse", f"{sha}^").strip() == tip
    git(repo, "fsck", "--strict", "--no-dangling")
    git(repo, "push", "--quiet", "origin", f"{sha}:refs/heads/many")
    assert _show(bare, f"many:streams/s/{299:02x}.json") == '{"n": 299, "text": "é"}\n'


def test_a_few_new_objects_stay_loose(tmp_path: Path) -> None:
    _, repo, store = _store(tmp_path)
    before = _packs(repo)
    files = {f"f{i}.txt": f"{i}\n" for i in range(PACK_AT // 2)}
    sha = store.make_commit(None, files, "few\n", RUNNER, RUNNER)
    assert _packs(repo) == before
    assert _show(repo, f"{sha}:f3.txt") == "3\n"
    git(repo, "fsck", "--strict", "--no-dangling")
