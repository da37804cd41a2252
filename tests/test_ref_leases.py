"""`Refs.push_leases` against a real bare remote: each update is a compare-and-swap, also
the ones that go without a client-side lease (creating a ref for a root commit, a deletion
of whatever a ref holds), and the run ends with one push of all its ref updates."""

from __future__ import annotations

from pathlib import Path

from remediate.adapters.git_store import GitStore
from remediate.core.commits import ANY_VALUE, Person
from tests.runner_support import action_yaml, clone, git, make_remote, remediate, request_yaml

RUNNER = Person("remediate-bot", "remediate-bot@example.com")


def _store(tmp: Path, name: str) -> tuple[Path, GitStore]:
    (tmp / name).mkdir()
    bare = make_remote(tmp / name, requests={})
    repo = clone(tmp / name, bare, "runner")
    return bare, GitStore(repo)


def _ref(bare: Path, ref: str) -> str:
    return git(bare, "for-each-ref", "--format=%(objectname)", ref).strip()


def test_creating_a_ref_for_a_root_commit_wins_only_where_it_is_absent(tmp_path: Path) -> None:
    bare, store = _store(tmp_path, "a")
    ours = store.make_commit(None, {"claims.jsonl": "ours\n"}, "claim\n", RUNNER, RUNNER)
    theirs = store.make_commit(None, {"claims.jsonl": "theirs\n"}, "claim\n", RUNNER, RUNNER)
    tip = git(bare, "rev-parse", "main").strip()
    assert store.push_leases({"refs/claims/x/1": (theirs, "")}) == {"refs/claims/x/1": "won"}
    git(bare, "update-ref", "refs/claims/y/1", tip)  # a ref holding a commit with history
    results = store.push_leases(
        {
            "refs/claims/x/1": (ours, ""),
            "refs/claims/y/1": (ours, ""),
            "refs/claims/z/1": (ours, ""),
        }
    )
    assert results == {
        "refs/claims/x/1": "lost",  # another runner's claim is there
        "refs/claims/y/1": "lost",
        "refs/claims/z/1": "won",
    }
    assert _ref(bare, "refs/claims/x/1") == theirs
    assert _ref(bare, "refs/claims/y/1") == tip
    assert _ref(bare, "refs/claims/z/1") == ours


def test_creating_a_ref_for_a_commit_with_parents_keeps_the_lease(tmp_path: Path) -> None:
    """Without a lease a push would fast-forward a ref holding the commit's parent: the
    update must be refused, as "must not exist" says."""
    bare, store = _store(tmp_path, "b")
    tip = git(bare, "rev-parse", "main").strip()
    child = store.make_commit(tip, {"x.txt": "x\n"}, "child\n", RUNNER, RUNNER)
    git(bare, "update-ref", "refs/locks/a/b", tip)
    assert store.push_leases({"refs/locks/a/b": (child, "")}) == {"refs/locks/a/b": "lost"}
    assert _ref(bare, "refs/locks/a/b") == tip


def test_a_deletion_expecting_any_value_goes_whatever_the_ref_holds(tmp_path: Path) -> None:
    bare, store = _store(tmp_path, "c")
    one = store.make_commit(None, {"claims.jsonl": "1\n"}, "claim\n", RUNNER, RUNNER)
    two = store.make_commit(None, {"claims.jsonl": "2\n"}, "claim\n", RUNNER, RUNNER)
    store.push_leases({"refs/claims/a/1": (one, ""), "refs/claims/b/1": (two, "")})
    results = store.push_leases(
        {"refs/claims/a/1": (None, ANY_VALUE), "refs/claims/b/1": (None, one)}
    )
    assert results == {"refs/claims/a/1": "won", "refs/claims/b/1": "lost"}
    assert _ref(bare, "refs/claims/a/1") == ""
    assert _ref(bare, "refs/claims/b/1") == two  # a lease that does not hold keeps it


def test_more_updates_than_one_push_carries_are_all_decided(tmp_path: Path) -> None:
    bare, store = _store(tmp_path, "d")
    sha = store.make_commit(None, {"claims.jsonl": "x\n"}, "claim\n", RUNNER, RUNNER)
    refs = [f"refs/claims/r{i}/1" for i in range(1203)]
    assert set(store.push_leases({ref: (sha, "") for ref in refs}).values()) == {"won"}
    assert len(git(bare, "for-each-ref", "refs/claims/").splitlines()) == 1203
    gone = store.push_leases({ref: (None, ANY_VALUE) for ref in refs})
    assert set(gone.values()) == {"won"} and len(gone) == 1203
    assert git(bare, "for-each-ref", "refs/claims/").strip() == ""


def test_a_run_ends_with_one_push_of_its_ref_updates(tmp_path: Path) -> None:
    """Locks released, checkpoint moved, claim and starts refs pruned: one `git push`
    after the last branch push (they were four, each paying for a connection)."""
    requests = {f"rem-{i}": request_yaml(f"rem-{i}", service=f"svc-{i}") for i in range(3)}
    bare = make_remote(tmp_path, actions={"noop": action_yaml("noop", ["true"])}, requests=requests)
    runner = clone(tmp_path, bare, "runner")
    trace = tmp_path / "trace.txt"
    done = remediate(runner, "apply", env=_traced(trace))
    assert done.returncode == 0, done.stdout + done.stderr
    pushes = [line for line in trace.read_text().splitlines() if "built-in: git push" in line]
    last_branch = max(i for i, line in enumerate(pushes) if "refs/heads/main" in line)
    after = pushes[last_branch + 1 :]
    assert len(after) == 1, after
    assert "refs/remediate/checkpoint" in after[0] and "refs/locks/" in after[0]
    assert (
        git(
            bare,
            "for-each-ref",
            "--format=%(refname)",
            "refs/claims/",
            "refs/starts/",
            "refs/locks/",
        ).strip()
        == ""
    )
    assert _ref(bare, "refs/remediate/checkpoint") != ""


def _traced(trace: Path) -> dict[str, str]:
    from tests.runner_support import cli_env

    return cli_env(GIT_TRACE=str(trace))
