"""Whatever sits at the remote's `refs/remediate/checkpoint` that is not the runner's
checkpoint (a blob, a tag, a ref below it) never leaves every later run reading the whole
audit in silence: it is replaced, or the run says what is in the way (real git, a bare
remote, real processes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from remediate.core import checkpoint as cp
from tests.runner_support import (
    RUNNER,
    action_yaml,
    clone,
    git,
    make_remote,
    remediate,
    request_yaml,
)


def _remote(tmp: Path) -> Path:
    requests = {f"rem-{i}": request_yaml(f"rem-{i}", service=f"svc-{i}") for i in range(2)}
    return make_remote(tmp, actions={"noop": action_yaml("noop", ["true"])}, requests=requests)


def _blob(work: Path) -> str:
    made = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=work,
        input="not a checkpoint\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip()


def _tag(work: Path) -> str:
    git(work, "tag", "-a", "-m", "not a checkpoint", "in-the-way", "HEAD")
    return git(work, "rev-parse", "in-the-way")


@pytest.mark.parametrize("what", [_blob, _tag], ids=["a blob", "an annotated tag"])
def test_an_object_at_the_checkpoint_ref_is_replaced_by_the_runners_checkpoint(
    tmp_path: Path, what: object
) -> None:
    bare = _remote(tmp_path)
    person = clone(tmp_path, bare, "person")
    sha = what(person)  # type: ignore[operator]
    git(person, "push", "--quiet", "origin", f"{sha}:{cp.REF}")
    assert git(bare, "rev-parse", cp.REF) == sha
    runner = clone(tmp_path, bare, "runner")
    done = remediate(runner, "apply")
    assert done.returncode == 0, done.stderr
    assert "checkpoint was not pushed" not in done.stderr
    landed = git(bare, "rev-parse", cp.REF)
    assert landed != sha and git(bare, "cat-file", "-t", landed) == "commit"
    assert git(bare, "show", "-s", "--format=%ce", landed) == RUNNER
    again = remediate(runner, "apply")  # the next run rests on it: nothing more to say
    assert again.returncode == 0 and "checkpoint" not in again.stderr, again.stderr


def test_a_ref_below_the_checkpoint_ref_is_named_not_lost_in_silence(tmp_path: Path) -> None:
    bare = _remote(tmp_path)
    person = clone(tmp_path, bare, "person")
    git(person, "push", "--quiet", "origin", f"HEAD:{cp.REF}/mine")
    runner = clone(tmp_path, bare, "runner")
    done = remediate(runner, "apply")
    assert done.returncode == 0, done.stderr  # the requests ran; only the summary is lost
    assert (
        f"the runner's checkpoint was not pushed (lost): the remote's {cp.REF} is not the "
        f"runner's and could not be replaced (a ref below {cp.REF}/ is in the way, or the "
        "remote refuses it); until it can be, every run reads the whole audit "
        f"(`git ls-remote origin '{cp.REF}*'` shows what is there)"
    ) in done.stderr
    refs = git(bare, "for-each-ref", "--format=%(refname)", "refs/remediate/").split()
    assert f"{cp.REF}/mine" in refs and cp.REF not in refs  # nobody's ref deleted
