"""Audit files have a size cap, checked from git's object size before any content is read.

The runner splits a large batch into several files so that nothing it
writes ever reaches the cap; a file over it (someone else's, or forged as
the runner) is refused with its name, never loaded into memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from remediate.adapters import git_store
from remediate.core import snapshot as state
from tests.conftest import Result
from tests.runner_support import NOW, RUNNER, action_yaml, clone, git, make_remote, request_yaml

Run = Callable[..., Result]
MIB = 1024 * 1024


def test_the_cap_is_eight_mebibytes() -> None:
    assert state.MAX_FILE_BYTES == 8 * MIB


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Run) -> Path:
    monkeypatch.setenv("REMEDIATE_NOW", NOW)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    requests = {f"rem-{i}": request_yaml(f"rem-{i}", service=f"svc-{i}") for i in range(6)}
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])}, requests=requests)
    return clone(tmp_path, bare, "work")


def test_an_oversized_audit_file_is_refused_without_reading_it(
    repo: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("apply", "--repo", str(repo)).code == 0
    big = repo / "audit" / "2026" / "big.jsonl"
    big.write_bytes(b"x" * (state.MAX_FILE_BYTES + 1))
    git(repo, "add", "audit/2026/big.jsonl")
    git(repo, "commit", "-qm", "big", email=RUNNER)  # even as the runner
    git(repo, "push", "-q", "origin", "HEAD:main")
    read: list[str] = []
    original = git_store.GitStore.blob_text

    def spy(self: git_store.GitStore, blob: str, keep: bool = True) -> str:
        read.append(blob)
        return original(self, blob, keep)

    monkeypatch.setattr(git_store.GitStore, "blob_text", spy)
    for args in (("status",), ("audit", "verify"), ("apply",)):
        done = run_cli(*args, "--repo", str(repo))
        assert done.code == 1, args
        assert done.err == (
            "remediate: audit/2026/big.jsonl: audit file is 8388609 bytes; the limit is"
            " 8388608 bytes (8 MiB); not read\n"
        ), args
    big_blob = git(repo, "rev-parse", "HEAD:audit/2026/big.jsonl")
    assert big_blob not in read


def test_a_large_batch_is_split_into_files_under_the_cap(
    repo: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "MAX_FILE_BYTES", 2000)
    assert run_cli("apply", "--repo", str(repo)).code == 0
    files = sorted((repo / "audit").rglob("*.jsonl"))
    sizes = [p.stat().st_size for p in files]
    assert max(sizes) <= 2000
    lines = [line for p in files for line in p.read_text().splitlines()]
    assert len(lines) == 18  # six requests: decided, claimed, completed
    assert len(files) > 3  # more files than commits: the batches were split
    assert all(json.loads(line)["id"] for line in lines)
    verify = run_cli("audit", "verify", "--repo", str(repo))
    assert verify.code == 0, verify.out + verify.err
    status = run_cli("status", "--repo", str(repo), "--format", "json")
    assert {r["status"] for r in json.loads(status.out)["requests"]} == {"COMPLETED"}


def test_one_event_larger_than_the_cap_is_a_bug_not_a_silent_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from remediate.core.drafting import split_lines

    monkeypatch.setattr(state, "MAX_FILE_BYTES", 10)
    assert split_lines(["abc\n", "def\n", "ghi\n"]) == ["abc\ndef\n", "ghi\n"]
    with pytest.raises(ValueError, match="an audit event of 12 bytes exceeds"):
        split_lines(["abc\n", "x" * 11 + "\n"])
