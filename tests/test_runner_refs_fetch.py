"""A fetch brings `refs/remediate/checkpoint` by name, and nothing else of
`refs/remediate/`: what anyone pushes there is never downloaded and cannot fail a fetch
(review finding 1)."""

from __future__ import annotations

from pathlib import Path

from tests.review_support import add_request, logging_remote, ran
from tests.runner_support import RUNNER, clone, git, remediate


def test_a_ref_pushed_under_refs_remediate_is_never_fetched(tmp_path: Path) -> None:
    log = tmp_path / "log"
    bare = logging_remote(tmp_path, log)
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    attacker = clone(tmp_path, bare, "attacker", email="mallory@example.com")
    git(attacker, "push", "--quiet", "origin", "HEAD:refs/remediate/junk")
    assert remediate(runner, "apply").returncode == 0
    assert remediate(runner, "status").returncode == 0
    assert git(runner, "for-each-ref", "--format=%(refname)", "refs/remediate/") == (
        "refs/remediate/checkpoint"
    )


def test_no_checkpoint_but_refs_where_it_goes_does_not_stop_apply(tmp_path: Path) -> None:
    # Attack: the checkpoint deleted and a ref pushed at refs/remediate/checkpoint/x: a
    # fetch of the checkpoint by name finds none, and the branch is fetched alone.
    log = tmp_path / "log"
    bare = logging_remote(tmp_path, log)
    runner = clone(tmp_path, bare, "runner", email=RUNNER)
    person = clone(tmp_path, bare, "person")
    assert remediate(runner, "apply").returncode == 0
    attacker = clone(tmp_path, bare, "attacker", email="mallory@example.com")
    git(attacker, "push", "--quiet", "origin", ":refs/remediate/checkpoint")
    git(attacker, "push", "--quiet", "origin", "HEAD:refs/remediate/checkpoint/x")
    add_request(person, "r2")
    done = remediate(runner, "apply")
    assert done.returncode == 0, done.stderr
    fresh = clone(tmp_path, bare, "fresh", email=RUNNER)
    add_request(person, "r3")
    done = remediate(fresh, "apply")
    assert done.returncode == 0, done.stderr
    assert ran(log) == ["r1", "r2", "r3"]
