"""A checkpoint in the runner's name (no signing: believed, as documented) whose files
decode to something of another shape: every command says which file and what to do,
never a traceback, and `audit verify` reports it (review finding 11, beyond its test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediate.core import checkpoint as cp
from tests.review_support import logging_remote
from tests.runner_support import RUNNER, clone, git, remediate
from tests.test_review_checkpoint import _forge

SHAPES = {
    "state-of-another-shape": (
        cp.bucket("requests", "r1"),
        json.dumps({"r1": {"request_id": "r1", "status": "COMPLETED", "approvals": ["x"]}}),
    ),
    "files-bucket-a-list": (cp.bucket("files", "remediations/r1.yaml"), "[1, 2]"),
    "stream-bucket-of-numbers": ("streams/vouches/00.json", '{"a": 5}'),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_checkpoint_file_of_another_shape_is_named_with_what_to_do(
    tmp_path: Path, shape: str
) -> None:
    path, text = SHAPES[shape]
    bare = logging_remote(tmp_path, tmp_path / "log")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    assert remediate(runner, "apply").returncode == 0
    _forge(tmp_path, bare, lambda _f, _t: {path: text})
    forged = git(bare, "rev-parse", cp.REF)[:12]
    said = f"the runner's checkpoint {forged} ({cp.REF}) holds a {path} this version cannot read ("
    done = remediate(runner, "audit", "verify")
    assert done.returncode == 1, done.stderr
    assert said in done.stderr, done.stderr
    assert "delete that ref (`git push origin :refs/remediate/checkpoint`)" in done.stderr
    for command in (("status",), ("stats",), ("apply",)):
        done = remediate(runner, *command)
        assert "internal error" not in done.stderr, (command, done.stderr)
        assert done.returncode in (0, 1), (command, done.stderr)
        assert done.returncode == 0 or said in done.stderr, (command, done.stderr)


def test_a_manifest_that_is_no_json_is_reported_by_verify_and_replaced_by_apply(
    tmp_path: Path,
) -> None:
    bare = logging_remote(tmp_path, tmp_path / "log")
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    assert remediate(runner, "apply").returncode == 0
    _forge(tmp_path, bare, lambda _f, _t: {cp.MANIFEST: "[" * 100_000 + "]" * 100_000})
    forged = git(bare, "rev-parse", cp.REF)
    done = remediate(runner, "audit", "verify")
    assert done.returncode == 1, done.stderr
    assert (
        f"the runner's checkpoint {forged[:12]} ({cp.REF}) holds a checkpoint.json this "
        "version cannot read (RecursionError)"
    ) in done.stderr
    assert remediate(runner, "apply").returncode == 0
    assert git(bare, "rev-parse", cp.REF) != forged
    done = remediate(runner, "audit", "verify")
    assert done.returncode == 0, done.stdout
