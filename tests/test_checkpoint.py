"""The runner's checkpoint: used when it can be trusted, equal to the full fold, never a
way around the audit (real git, a bare remote, several clones, real processes)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from remediate.core import checkpoint as cp
from remediate.core.commits import Person
from remediate.service import audit_log, checkpoint
from tests.runner_support import (
    REQUESTER,
    RUNNER,
    action_yaml,
    clone,
    git,
    json_out,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
    write_requests,
)
from tests.sessions import session


def _remote(tmp: Path, log: Path) -> Path:
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    requests = {f"rem-{i}": request_yaml(f"rem-{i}", service=f"svc-{i}") for i in range(3)}
    return make_remote(tmp, actions={"noop": action_yaml("noop", argv)}, requests=requests)


def _add(work: Path, name: str) -> None:
    git(work, "pull", "--quiet", "--ff-only")
    write_requests(work, {name: request_yaml(name, service=f"svc-{name}")})
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", f"Add {name}")
    git(work, "push", "--quiet", "origin", "HEAD:main")


def _statuses(work: Path) -> dict[str, str]:
    rows = json_out(remediate(work, "status", "--format", "json"))["requests"]
    return {row["requestId"]: row["status"] for row in rows}


def test_apply_writes_a_checkpoint_and_a_read_on_an_older_one_equals_the_full_fold(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    bare = _remote(tmp_path, log)
    runner, person = clone(tmp_path, bare, "runner"), clone(tmp_path, bare, "person")
    assert remediate(runner, "apply").returncode == 0
    first = git(bare, "rev-parse", cp.REF)
    assert git(bare, "show", "-s", "--format=%ce", first) == RUNNER
    _add(person, "rem-3")
    git(runner, "pull", "--quiet", "--ff-only")  # apply reads the work tree's requests
    assert remediate(runner, "apply").returncode == 0
    assert git(bare, "rev-parse", cp.REF) != first  # a newer checkpoint
    git(bare, "update-ref", cp.REF, first)  # as if the second runner lost the race
    reader = clone(tmp_path, bare, "reader")
    store = session(reader).store
    tip = store.fetch()
    snap = audit_log.read(store, tip, RUNNER)
    full = audit_log.read_all(store, tip)
    assert snap.base is not None and snap.base != tip  # on the checkpoint, plus what came after
    assert len(snap.events) < len(full.events)
    assert dict(snap.states) == full.states
    assert sorted(snap.executions(), key=repr) == sorted(full.executions(), key=repr)
    assert snap.files == full.files
    assert _statuses(reader) == {f"rem-{i}": "COMPLETED" for i in range(4)}
    assert sorted(log.read_text().split()) == [f"rem-{i}" for i in range(4)]


def _forge(work: Path, committer: str) -> None:
    """Push a checkpoint that forgets rem-0 (its state and its file's record), committed by
    `committer`."""
    store = session(work).store
    store.fetch()
    real = store.resolve(cp.REF)
    assert real is not None
    who = Person(committer.split("@")[0], committer)
    files = {cp.bucket("requests", "rem-0"): "{}\n"}
    for path, blob, _ in store.tree_blobs(real, "files"):  # and rem-0's file as never read
        entries = cp.read_files(store.blob_text(blob))
        if any(n == "rem-0" for e in entries.values() for n, _ in e.names):
            files[path] = cp.files_text(
                {p: cp.FileEntry(e.requesters) if e.names else e for p, e in entries.items()}
            )
    forged = store.make_commit(None, files, "forged\n", who, who, tree_from=real)
    assert store.push_leases({cp.REF: (forged, real)}) == {cp.REF: "won"}


def test_a_checkpoint_committed_by_someone_else_is_ignored(tmp_path: Path) -> None:
    log = tmp_path / "log"
    bare = _remote(tmp_path, log)
    runner = clone(tmp_path, bare, "runner")
    assert remediate(runner, "apply").returncode == 0
    attacker = clone(tmp_path, bare, "attacker", email=REQUESTER)
    _forge(attacker, REQUESTER)
    reader = clone(tmp_path, bare, "reader")
    assert _statuses(reader)["rem-0"] == "COMPLETED"  # the full fold, not the forgery
    assert remediate(runner, "apply").returncode == 0
    assert sorted(log.read_text().split()) == ["rem-0", "rem-1", "rem-2"]  # nothing re-ran
    # The committer is what tells them apart: the same forgery in the runner's name would
    # be read (a signed checkpoint, with the trust issue's signing, closes that).
    _forge(attacker, RUNNER)
    assert _statuses(clone(tmp_path, bare, "reader-2"))["rem-0"] == "NEW"


def test_apply_refuses_a_branch_rewritten_behind_the_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "log"
    bare = _remote(tmp_path, log)
    runner = clone(tmp_path, bare, "runner")
    seed = git(runner, "rev-parse", "HEAD")
    assert remediate(runner, "apply").returncode == 0
    git(runner, "push", "--quiet", "--force", "origin", f"{seed}:refs/heads/main")
    git(bare, "for-each-ref", "--format=delete %(refname)", "refs/claims/")
    for ref in git(bare, "for-each-ref", "--format=%(refname)", "refs/claims/").split():
        git(bare, "update-ref", "-d", ref)
    fresh = clone(tmp_path, bare, "fresh")
    done = remediate(fresh, "apply")
    assert done.returncode == 1
    assert "the branch no longer contains commit" in done.stderr
    assert sorted(log.read_text().split()) == ["rem-0", "rem-1", "rem-2"]  # nothing re-ran
    assert _statuses(fresh) == {f"rem-{i}": "NEW" for i in range(3)}  # read: the full fold


def test_a_reader_behind_the_checkpoint_reads_its_own_commit(tmp_path: Path) -> None:
    bare = _remote(tmp_path, tmp_path / "log")
    reader = clone(tmp_path, bare, "reader")
    runner = clone(tmp_path, bare, "runner")
    assert remediate(runner, "apply").returncode == 0
    assert _statuses(reader) == {f"rem-{i}": "NEW" for i in range(3)}  # HEAD is the seed
    git(reader, "pull", "--quiet", "--ff-only")
    assert _statuses(reader) == {f"rem-{i}": "COMPLETED" for i in range(3)}


def test_a_shallow_clone_applies_on_the_checkpoint_with_the_real_requester(tmp_path: Path) -> None:
    """`actions/checkout`'s default, `--depth 1`: the clone is deepened to the checkpoint's
    commit, the guard judges what came after it, the requester is who added the file."""
    log = tmp_path / "log"
    bare = _remote(tmp_path, log)
    assert remediate(clone(tmp_path, bare, "runner"), "apply").returncode == 0
    _add(clone(tmp_path, bare, "person"), "rem-3")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "--quiet", "--depth", "1", bare.as_uri(), str(shallow))
    git(shallow, "config", "user.email", "ops@example.com")
    done = remediate(shallow, "apply")
    assert done.returncode == 0, done.stderr
    assert sorted(log.read_text().split()) == [f"rem-{i}" for i in range(4)]
    decided = [
        e
        for e in remote_events(tmp_path, bare)
        if e["requestId"] == "rem-3" and e["details"].get("verb") == "decide"
    ]
    assert [e["details"]["requester"] for e in decided] == [REQUESTER]


def test_audit_verify_compares_the_checkpoint_with_the_full_fold(tmp_path: Path) -> None:
    """A checkpoint in the runner's name that forgets a request is read by `status` (only
    signing tells it apart), but `audit verify` folds every event and names the mismatch."""
    bare = _remote(tmp_path, tmp_path / "log")
    runner = clone(tmp_path, bare, "runner")
    assert remediate(runner, "apply").returncode == 0
    reader = clone(tmp_path, bare, "reader")
    assert remediate(reader, "audit", "verify").returncode == 0
    _forge(clone(tmp_path, bare, "attacker", email=REQUESTER), RUNNER)
    done = remediate(reader, "audit", "verify", "--format", "json")
    assert done.returncode == 1, done.stdout
    problems = json_out(done)["problems"]
    assert any(
        "does not match the audit: request rem-0: in the audit, not in the checkpoint" in p
        for p in problems
    ), problems


def test_audit_verify_since_checks_what_came_after_ref(tmp_path: Path) -> None:
    bare = _remote(tmp_path, tmp_path / "log")
    runner, person = clone(tmp_path, bare, "runner"), clone(tmp_path, bare, "person")
    assert remediate(runner, "apply").returncode == 0
    first = git(bare, "rev-parse", "main")
    _add(person, "rem-3")
    git(runner, "pull", "--quiet", "--ff-only")
    assert remediate(runner, "apply").returncode == 0
    git(runner, "pull", "--quiet", "--ff-only")
    full = json_out(remediate(runner, "audit", "verify", "--format", "json"))
    since = json_out(remediate(runner, "audit", "verify", "--since", first, "--format", "json"))
    assert full["ok"] and since["ok"], (full, since)
    assert since["events"] == 3 and since["files"] == 3 < full["files"]  # rem-3's three only
    # an event forged after `first` that forks rem-0's chain (a second COMPLETED → QUEUED)
    events = [e for e in remote_events(tmp_path, bare) if e["requestId"] == "rem-0"]
    forged = {**events[-1], "id": "forged-1", "from": "COMPLETED", "to": "QUEUED"}
    forged["details"] = {"verb": "retry"}
    path = runner / "audit" / "2026" / "forged.jsonl"
    path.write_text(json.dumps(forged) + "\n")
    git(runner, "add", "audit/2026/forged.jsonl")
    git(runner, "commit", "-qm", "audit", email=RUNNER)
    done = remediate(runner, "audit", "verify", "--since", first, "--format", "json")
    assert done.returncode == 1
    problems = json_out(done)["problems"]
    assert any(
        "request rem-0: event forged-1 does not follow the chain's head as of the base" in p
        for p in problems
    ), problems
    assert remediate(runner, "audit", "verify", "--since", "HEAD").returncode == 0  # nothing new
    bad = remediate(runner, "audit", "verify", "--since", "no-such-ref")
    assert bad.returncode == 1 and "--since no-such-ref: no such commit" in bad.stderr


def test_plan_on_a_branch_behind_the_runner_decides_on_the_runners_checkpoint(
    tmp_path: Path,
) -> None:
    """A pull request branched before the runner's last run: `plan` previews what the
    runner will decide, so it reads the audit at the runner's checkpoint (fetched), not
    the branch's older audit, which has no checkpoint to rest on and would be read whole.
    An edit of a request the runner has since executed is not planned to run again."""
    log = tmp_path / "log"
    bare = _remote(tmp_path, log)
    runner, person = clone(tmp_path, bare, "runner"), clone(tmp_path, bare, "person")
    assert remediate(runner, "apply").returncode == 0
    _add(person, "rem-3")
    dev = clone(tmp_path, bare, "dev")  # branches off main before the runner runs rem-3
    git(runner, "pull", "--quiet", "--ff-only")
    assert remediate(runner, "apply").returncode == 0
    assert sorted(log.read_text().split()) == [f"rem-{i}" for i in range(4)]
    write_requests(dev, {"rem-3": request_yaml("rem-3", service="svc-rem-3", note="again")})
    write_requests(dev, {"rem-9": request_yaml("rem-9", service="svc-9")})
    git(dev, "add", "-A")
    git(dev, "commit", "--quiet", "-m", "edit rem-3, add rem-9")
    done = remediate(dev, "plan", "--base", "HEAD~1", "--format", "json")
    decisions = {d["requestId"]: d for d in json_out(done)["decisions"]}
    assert decisions["rem-3"]["status"] == "COMPLETED", decisions["rem-3"]
    assert decisions["rem-3"]["detail"].startswith("Already started: the audit records COMPLETED")
    assert decisions["rem-9"]["status"] == "QUEUED"
    assert git(dev, "rev-parse", "HEAD~1") != git(bare, "rev-parse", "main")  # still behind


def _states_of_full_fold(work: Path) -> dict[str, str]:
    store = session(work).store
    full = audit_log.read_all(store, store.head())
    return {name: state.status for name, state in full.states.items()}


def test_status_behind_the_checkpoint_is_the_full_fold_read_from_the_checkpoint(
    tmp_path: Path,
) -> None:
    """A checkout not pulled since the runner's last run (HEAD an ancestor of the
    checkpoint's commit) shows HEAD's audit, as a full read does, from the checkpoint and
    only what came after HEAD: requests recorded only later are NEW (or absent), a request
    in the middle of its run shows where HEAD has it."""
    bare = _remote(tmp_path, tmp_path / "log")
    runner, person = clone(tmp_path, bare, "runner"), clone(tmp_path, bare, "person")
    assert remediate(runner, "apply").returncode == 0
    _add(person, "rem-3")
    git(runner, "pull", "--quiet", "--ff-only")
    before = git(runner, "rev-parse", "HEAD")  # the person's commit: rem-3 not decided yet
    assert remediate(runner, "apply").returncode == 0
    after = git(runner, "rev-list", "--reverse", f"{before}..origin/main").split()
    assert len(after) == 3  # the decision, the claim, the outcome
    reads: list[str] = []
    real = checkpoint.behind

    def spy(*args: object) -> object:
        found = real(*args)  # type: ignore[arg-type]
        reads.append("rewound" if found is not None else "full")
        return found

    checkpoint.behind = spy  # type: ignore[assignment]
    try:
        for at, rem3 in ((before, "NEW"), (after[0], "QUEUED"), (after[1], "EXECUTING")):
            reader = clone(tmp_path, bare, f"reader-{rem3}")
            git(reader, "reset", "--quiet", "--hard", at)
            expected = {**{f"rem-{i}": "COMPLETED" for i in range(3)}, "rem-3": rem3}
            assert _statuses(reader) == expected
            full = _states_of_full_fold(reader)
            assert {n: s for n, s in expected.items() if n in full} == full
            in_process = session(reader)
            snap = audit_log.at_head(in_process)
            assert snap.ahead is not None and snap.base is None  # from the checkpoint
            assert {n: s.status for n, s in snap.states.items()} == full
            assert sorted(snap.executions(), key=repr) == sorted(
                audit_log.read_all(in_process.store, at).executions(), key=repr
            )
    finally:
        checkpoint.behind = real  # type: ignore[assignment]
    assert reads and set(reads) == {"rewound"}


class _MissesAFile:
    """A store whose `containing` leaves out the first file it finds (as if an event's
    file were not found): the rewound states must then be refused, not shown."""

    def __init__(self, store: object) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def containing(self, rev: str, prefix: str, needles: object) -> list[str] | None:
        found = self._store.containing(rev, prefix, needles)  # type: ignore[attr-defined]
        return found[1:] if found else found


def test_a_rewound_state_that_does_not_lead_to_the_checkpoints_is_refused(tmp_path: Path) -> None:
    bare = _remote(tmp_path, tmp_path / "log")
    runner, person = clone(tmp_path, bare, "runner"), clone(tmp_path, bare, "person")
    assert remediate(runner, "apply").returncode == 0
    _add(person, "rem-3")
    git(runner, "pull", "--quiet", "--ff-only")
    before = git(runner, "rev-parse", "HEAD")
    assert remediate(runner, "apply").returncode == 0
    claim = git(runner, "rev-list", "--reverse", f"{before}..origin/main").split()[1]
    reader = clone(tmp_path, bare, "reader")
    git(reader, "reset", "--quiet", "--hard", claim)  # rem-3 claimed at HEAD, done after
    store = session(reader).store
    store.refresh()
    head = store.head()
    assert checkpoint.rewound(store, head, RUNNER) is not None
    missing = _MissesAFile(store)
    assert checkpoint.rewound(missing, head, RUNNER) is None  # type: ignore[arg-type]


def test_audit_verify_names_a_settled_state_the_checkpoint_changed(tmp_path: Path) -> None:
    """`audit verify` keeps a settled request of the full fold as a digest of its state:
    a checkpoint in the runner's name that changes any field of it (here the detail a
    reader shows, status and event count kept) is named as a mismatch all the same."""
    bare = _remote(tmp_path, tmp_path / "log")
    assert remediate(clone(tmp_path, bare, "runner"), "apply").returncode == 0
    attacker = clone(tmp_path, bare, "attacker", email=REQUESTER)
    store = session(attacker).store
    store.fetch()
    real = store.resolve(cp.REF)
    assert real is not None
    path = cp.bucket("requests", "rem-0")
    states = cp.read_states(store.show(real, path) or "{}")
    assert states["rem-0"].status == "COMPLETED"
    states["rem-0"] = replace(states["rem-0"], detail="Nothing ran.")
    who = Person("runner", RUNNER)
    files = {path: cp.states_text(states)}
    forged = store.make_commit(None, files, "forged\n", who, who, tree_from=real)
    assert store.push_leases({cp.REF: (forged, real)}) == {cp.REF: "won"}
    done = remediate(clone(tmp_path, bare, "reader"), "audit", "verify", "--format", "json")
    assert done.returncode == 1, done.stdout
    problems = json_out(done)["problems"]
    events = states["rem-0"].events
    assert any(
        p.endswith(
            f"does not match the audit: request rem-0: the checkpoint says COMPLETED after "
            f"{events} event(s), the audit folds to COMPLETED after {events} (and more differs)"
        )
        for p in problems
    ), problems
