"""`audit verify` checks what a reader takes on the checkpoint's word without reading it:
each file recorded settled (its blob at the checkpoint's commit, the requests that blob
declares, each settled in the full fold) and `streams.json` (review finding 9, and how a
forger would get around a check of the names alone)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from remediate.core import checkpoint as cp
from tests.review_support import add_request, logging_remote
from tests.runner_support import RUNNER, clone, git, remediate
from tests.test_review_checkpoint import _forge


def _entry(path: str, blob: Callable[[Path, str], str], names: list[list[object]]):  # type: ignore[no-untyped-def]
    def files(forger: Path, tip: str) -> dict[str, str]:
        bucket = cp.bucket("files", path)
        entries = json.loads(git(forger, "show", f"{cp.REF}:{bucket}", check=False) or "{}")
        entries[path] = {
            "blob": blob(forger, tip),
            "names": names,
            "requesters": ["dev@example.com"],
        }
        manifest = json.loads(git(forger, "show", f"{cp.REF}:{cp.MANIFEST}"))
        manifest["commit"] = tip
        return {bucket: cp.dumps(entries), cp.MANIFEST: cp.dumps(manifest)}

    return files


R2 = "remediations/r2.yaml"
CASES = {
    # r2's file recorded as declaring r1 (settled) instead of r2
    "names-of-a-settled-request": (
        lambda f, t: git(f, "rev-parse", f"{t}:{R2}"),
        [["r1", 3]],
        f"{R2}: recorded settled with requests it does not declare",
    ),
    # the blob of another file (r1's, whose request is settled), r2's own names
    "another-files-blob": (
        lambda f, t: git(f, "rev-parse", f"{t}:remediations/r1.yaml"),
        [["r2", 3]],
        f"{R2}: recorded settled as a blob the commit does not hold",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_settled_entry_the_commit_does_not_bear_out_is_reported(
    tmp_path: Path, case: str
) -> None:
    blob, names, said = CASES[case]
    bare = logging_remote(tmp_path, tmp_path / "log")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    assert remediate(runner, "apply").returncode == 0
    add_request(clone(tmp_path, bare, "person"), "r2")
    _forge(tmp_path, bare, _entry(R2, blob, names))
    git(runner, "pull", "--quiet", "--ff-only")
    done = remediate(runner, "audit", "verify")
    assert done.returncode == 1, done.stdout
    assert said in done.stderr, done.stderr


def test_an_honest_checkpoint_with_settled_files_verifies(tmp_path: Path) -> None:
    bare = logging_remote(tmp_path, tmp_path / "log")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    assert remediate(runner, "apply").returncode == 0
    add_request(clone(tmp_path, bare, "person"), "r2")
    assert remediate(runner, "apply").returncode == 0
    assert remediate(runner, "apply").returncode == 0  # records the files read settled
    settled = list(
        cp.read_settled(git(runner, "show", f"{cp.REF}:{cp.bucket('files', R2)}")).items()
    )
    assert [path for path, _ in settled if path == R2] == [R2]
    done = remediate(runner, "audit", "verify")
    assert done.returncode == 0, done.stderr
