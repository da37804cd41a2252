"""The audit guard judges content, not history's shape; signed runner commits; claims reach
the remote (real git: bare remotes, several clones, the CLI as a real process)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from remediate.adapters.git_cmd import GitCommandError
from remediate.core import checkpoint as cp
from remediate.core.authorship import Ledger, RunnerTrust, fingerprint, judge, judged
from remediate.core.commits import AuditCommit
from remediate.service import audit_log
from tests.runner_support import (
    OPERATOR,
    REQUESTER,
    RUNNER,
    action_yaml,
    cli_env,
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


def _log_action(log: Path) -> dict[str, str]:
    """A one-shot action that appends the request's name to `log`: each line is one run."""
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    return {"once": action_yaml("once", argv)}


def _runs(log: Path) -> list[str]:
    return sorted(log.read_text().split()) if log.exists() else []


def _add(work: Path, name: str, email: str = REQUESTER) -> None:
    git(work, "pull", "--quiet", "--ff-only", email=email)
    write_requests(work, {name: request_yaml(name, action="once", service=f"svc-{name}")})
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", f"Add {name}", email=email)
    git(work, "push", "--quiet", "origin", "HEAD:main")


def _verify(work: Path, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    done = remediate(work, "audit", "verify", "--format", "json", env=env)
    return done.returncode, json.loads(done.stdout)["problems"]


def _statuses(work: Path) -> dict[str, str]:
    rows = json_out(remediate(work, "status", "--format", "json"))["requests"]
    return {row["requestId"]: row["status"] for row in rows}


def _settings(work: Path, runner: str) -> None:
    """Replace the settings' `runner:` block (committed and pushed by REQUESTER)."""
    path = work / "remediate.yaml"
    lines = [line for line in path.read_text().splitlines() if not line.startswith("  runner:")]
    path.write_text("\n".join(lines) + "\n" + runner)


# -- the rule, pure ------------------------------------------------------------------------

TRUST = RunnerTrust.of(RUNNER)


def _commit(
    sha: str, committer: str, *changes: tuple[str, str, str], merge: bool = False
) -> AuditCommit:
    return AuditCommit(sha * 40, committer, committer, tuple(changes), merge=merge)


def test_judge_passes_what_the_runner_added_whatever_merged_it() -> None:
    runner = _commit("a", RUNNER, ("A", "audit/1.jsonl", "b1"))
    merge = _commit("m", REQUESTER, ("A", "audit/1.jsonl", "b1"), merge=True)
    assert judge([("A", "audit/1.jsonl", "b1")], [merge, runner], TRUST, {"audit/1.jsonl"}) == []


def test_judge_names_the_commit_that_edited_deleted_or_slipped_a_file_in() -> None:
    runner = _commit("a", RUNNER, ("A", "audit/1.jsonl", "b1"), ("A", "audit/2.jsonl", "b2"))
    edit = _commit("e", REQUESTER, ("M", "audit/1.jsonl", "x1"))
    gone = _commit("d", RUNNER, ("D", "audit/2.jsonl", "0" * 40))
    evil = _commit("m", REQUESTER, ("A", "audit/3.jsonl", "b3"), merge=True)
    changed = [("A", "audit/1.jsonl", "x1"), ("A", "audit/3.jsonl", "b3")]
    found = [str(p) for p in judge(changed, [evil, gone, edit, runner], TRUST, {"audit/1.jsonl"})]
    assert found == [
        f"audit/1.jsonl: modified by commit {'e' * 12} (committed by {REQUESTER}, not the "
        f"runner ({RUNNER})); `git revert {'e' * 12}` undoes it",
        f"audit/3.jsonl: added by commit {'m' * 12} (a merge commit); "
        f"`git revert -m 1 {'m' * 12}` undoes it",
        f"audit/2.jsonl: deleted by commit {'d' * 12} (audit files are only ever added); "
        f"`git revert {'d' * 12}` undoes it",
    ]


def test_judge_accepts_every_listed_identity_and_with_keys_only_allowed_signatures() -> None:
    old = _commit("a", "old-bot@example.com", ("A", "audit/1.jsonl", "b1"))
    both = RunnerTrust.of(RUNNER, ["old-bot@example.com"])
    assert judge([("A", "audit/1.jsonl", "b1")], [old], both, {"audit/1.jsonl"}) == []
    assert judge([("A", "audit/1.jsonl", "b1")], [old], TRUST, {"audit/1.jsonl"})
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHjqTm0E0Rj5nqP9tkrjM5ONUpEDcVGE7r3E8sH9HUkI x"
    signed = RunnerTrust.of(RUNNER, keys=[key])
    good = replace(old, committer=RUNNER, signature="G", key=fingerprint(key) or "")
    assert judge([("A", "audit/1.jsonl", "b1")], [good], signed, {"audit/1.jsonl"}) == []
    unsigned = _commit("a", RUNNER, ("A", "audit/1.jsonl", "b1"))
    [problem] = judge([("A", "audit/1.jsonl", "b1")], [unsigned], signed, {"audit/1.jsonl"})
    assert problem.why == f"committed as {RUNNER} but not signed"


# -- ordinary git use by people passes ------------------------------------------------------


def test_a_merge_commit_by_a_person_leaves_the_runner_working(tmp_path: Path) -> None:
    """`git pull --no-rebase` of a person whose branch missed the runner's last commit:
    before, apply, approve, reject and cancel all refused "changes the runner did not make"."""
    log = tmp_path / "log"
    bare = make_remote(tmp_path, actions=_log_action(log))
    runner, person = clone(tmp_path, bare, "runner"), clone(tmp_path, bare, "person", REQUESTER)
    _add(person, "rem-1")
    git(runner, "pull", "--quiet", "--ff-only")
    assert remediate(runner, "apply").returncode == 0  # the runner adds audit files
    (person / "README").write_text("notes\n")
    git(person, "add", "README")
    git(person, "commit", "--quiet", "-m", "notes", email=REQUESTER)
    git(person, "pull", "--quiet", "--no-rebase", "--no-edit", "origin", "main", email=REQUESTER)
    assert len(git(person, "log", "-1", "--format=%P").split()) == 2  # a merge commit
    git(person, "push", "--quiet", "origin", "HEAD:main")
    _add(person, "rem-2")
    git(runner, "pull", "--quiet", "--ff-only")
    done = remediate(runner, "apply")
    assert done.returncode == 0, done.stderr
    assert _runs(log) == ["rem-1", "rem-2"]
    assert _verify(runner) == (0, [])
    _add(person, "rem-3")
    git(runner, "pull", "--quiet", "--ff-only")
    done = remediate(runner, "cancel", "rem-3")
    assert done.returncode == 0, done.stderr
    assert _statuses(runner)["rem-3"] == "CANCELLED"


def test_a_revert_of_an_accidental_audit_edit_lets_apply_run_again(tmp_path: Path) -> None:
    log = tmp_path / "log"
    bare = make_remote(tmp_path, actions=_log_action(log))
    runner, person = clone(tmp_path, bare, "runner"), clone(tmp_path, bare, "person", REQUESTER)
    _add(person, "rem-1")
    git(runner, "pull", "--quiet", "--ff-only")
    assert remediate(runner, "apply").returncode == 0
    git(person, "pull", "--quiet", "--ff-only", email=REQUESTER)
    path = sorted((person / "audit").rglob("*.jsonl"))[0]
    path.write_text(path.read_text() + "\n")  # an editor's stray newline
    git(person, "commit", "--quiet", "-am", "oops", email=REQUESTER)
    edit = git(person, "rev-parse", "--short=12", "HEAD")
    git(person, "push", "--quiet", "origin", "HEAD:main")
    _add(person, "rem-2")
    git(runner, "pull", "--quiet", "--ff-only")
    rel = path.relative_to(person).as_posix()
    named = (
        f"{rel}: modified by commit {edit} (committed by {REQUESTER}, not the runner "
        f"({RUNNER})); `git revert {edit}` undoes it"
    )
    done = remediate(runner, "apply")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"  {named}"
    assert _runs(log) == ["rem-1"]
    assert _verify(runner) == (1, [named])
    git(person, "revert", "--no-edit", edit, email=REQUESTER)
    git(person, "push", "--quiet", "origin", "HEAD:main")
    git(runner, "pull", "--quiet", "--ff-only")
    done = remediate(runner, "apply")
    assert done.returncode == 0, done.stderr
    assert _runs(log) == ["rem-1", "rem-2"]
    assert _verify(runner) == (0, [])


def test_a_new_runner_email_keeps_the_old_one_valid_when_listed(tmp_path: Path) -> None:
    log = tmp_path / "log"
    bare = make_remote(tmp_path, actions=_log_action(log))
    runner, admin = (
        clone(tmp_path, bare, "runner"),
        clone(tmp_path, bare, "admin", "admin@example.com"),
    )
    _add(admin, "rem-1", "admin@example.com")
    git(runner, "pull", "--quiet", "--ff-only")
    assert remediate(runner, "apply").returncode == 0
    git(admin, "pull", "--quiet", "--ff-only")
    _settings(admin, "  runner: {name: bot, email: new-bot@example.com}\n")
    git(admin, "commit", "--quiet", "-am", "new runner e-mail", email="admin@example.com")
    git(admin, "push", "--quiet", "origin", "HEAD:main")
    git(runner, "pull", "--quiet", "--ff-only")
    code, problems = _verify(runner)  # unlisted, the old e-mail's commits are not the runner's
    assert code == 1 and problems and all(RUNNER in p for p in problems)
    assert remediate(runner, "apply").returncode == 1
    _settings(
        admin, f"  runner: {{name: bot, email: new-bot@example.com, identities: [{RUNNER}]}}\n"
    )
    git(admin, "commit", "--quiet", "-am", "keep the old one", email="admin@example.com")
    git(admin, "push", "--quiet", "origin", "HEAD:main")
    _add(admin, "rem-2", "admin@example.com")
    git(runner, "pull", "--quiet", "--ff-only")
    done = remediate(runner, "apply")
    assert done.returncode == 0, done.stderr
    assert _runs(log) == ["rem-1", "rem-2"]
    assert {git(bare, "show", "-s", "--format=%ce", "main")} == {"new-bot@example.com"}
    assert _verify(runner) == (0, [])


# -- claims reach the remote whatever is checked out ---------------------------------------


@pytest.mark.parametrize("checkout", ["detached", "no-upstream", "other-branch"])
def test_claims_and_events_reach_the_base_branch_whatever_is_checked_out(
    tmp_path: Path, checkout: str
) -> None:
    """Before: on a detached HEAD or a branch without upstream apply committed locally,
    pushed nothing, and a second clone ran the same one-shot action again."""
    log = tmp_path / "log"
    bare = make_remote(
        tmp_path,
        actions=_log_action(log),
        requests={"rem-1": request_yaml("rem-1", action="once")},
    )
    first = clone(tmp_path, bare, "first")
    if checkout == "detached":
        git(first, "checkout", "--quiet", "--detach")
    elif checkout == "no-upstream":
        git(first, "checkout", "--quiet", "-b", "local-only")
    else:
        git(first, "checkout", "--quiet", "-b", "feature")
        git(first, "push", "--quiet", "-u", "origin", "feature")
    done = remediate(first, "apply")
    assert done.returncode == 0, done.stderr
    second = clone(tmp_path, bare, "second")
    assert remediate(second, "apply").returncode == 0
    assert _runs(log) == ["rem-1"]  # exactly one execution
    statuses = [e["to"] for e in remote_events(tmp_path, bare) if e["requestId"] == "rem-1"]
    assert statuses == ["QUEUED", "EXECUTING", "COMPLETED"] or sorted(statuses) == sorted(
        ["QUEUED", "EXECUTING", "COMPLETED"]
    )
    if checkout == "other-branch":  # the person's branch is left as it was
        assert git(bare, "rev-parse", "feature") == git(first, "rev-parse", "HEAD")


def test_a_runner_that_cannot_reach_its_remote_runs_nothing(tmp_path: Path) -> None:
    log = tmp_path / "log"
    bare = make_remote(
        tmp_path, actions=_log_action(log), requests={"rem-1": request_yaml("rem-1", "once")}
    )
    work = clone(tmp_path, bare, "work")
    git(work, "checkout", "--quiet", "--detach")
    git(work, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    done = remediate(work, "apply")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "origin" in done.stderr
    assert _runs(log) == []


def test_without_any_remote_the_runner_works_locally_and_says_so_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    bare = make_remote(
        tmp_path, actions=_log_action(log), requests={"rem-1": request_yaml("rem-1", "once")}
    )
    work = clone(tmp_path, bare, "work")
    git(work, "remote", "remove", "origin")
    done = remediate(work, "apply")
    assert done.returncode == 0, done.stderr
    warning = (
        "remediate: warning: this repository has no remote: claims and events are committed "
        "to the local repository only, so runners in other clones do not see them"
    )
    assert done.stderr.splitlines().count(warning) == 1, done.stderr
    assert _runs(log) == ["rem-1"]
    assert remediate(work, "apply").returncode == 0
    assert _runs(log) == ["rem-1"]
    assert _verify(work) == (0, [])


# -- signed runner commits -----------------------------------------------------------------


def _key(tmp: Path, name: str) -> tuple[Path, str]:
    path = tmp / "keys" / name
    path.parent.mkdir(exist_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True
    )
    return path, (path.with_suffix(".pub")).read_text().strip()


def _approval_remote(tmp: Path, log: Path, signing: str | None) -> Path:
    """rem-1 needs one approval from team:sre; `signing`: the allowed key, if any."""
    bare = make_remote(
        tmp,
        decision="require_approval",
        actions=_log_action(log),
        requests={"rem-1": request_yaml("rem-1", "once")},
    )
    if signing:
        admin = clone(tmp, bare, "admin", "admin@example.com")
        _settings(
            admin,
            f"  runner: {{name: remediate-bot, email: {RUNNER}, signing: [{json.dumps(signing)}]}}\n",
        )
        git(
            admin,
            "commit",
            "--quiet",
            "-am",
            "sign the runner's commits",
            email="admin@example.com",
        )
        git(admin, "push", "--quiet", "origin", "HEAD:main")
    return bare


def _forge_approval(tmp: Path, bare: Path, key: Path | None) -> Path:
    """The requester records an approval in an operator's name: `remediate approve` run with
    `user.email` set to the operator, committed (as every runner commit) with the runner's
    e-mail, signed with `key` (the requester's own) or not at all, and pushed."""
    attacker = clone(tmp, bare, "attacker", OPERATOR)
    extra = {"REMEDIATE_SIGNING_KEY": str(key)} if key else {}
    done = remediate(attacker, "approve", "rem-1", env=cli_env(**extra))
    if key is None and done.returncode != 0:  # it refuses to write unsigned: do it by hand
        assert "REMEDIATE_SIGNING_KEY" in done.stderr
        done = remediate(
            attacker,
            "approve",
            "rem-1",
            env=cli_env(REMEDIATE_SIGNING_KEY=str(_key(tmp, "throwaway")[0])),
        )
        assert done.returncode == 0, done.stderr
        git(attacker, "pull", "--quiet", "--ff-only")
        tree, parent = git(attacker, "rev-parse", "HEAD^{tree}", "HEAD^").split()
        unsigned = git(attacker, "commit-tree", tree, "-p", parent, "-m", "approve", email=RUNNER)
        git(attacker, "push", "--quiet", "--force", "origin", f"{unsigned}:main")
        return attacker
    assert done.returncode == 0, done.stderr
    return attacker


def test_without_signing_a_forged_approval_in_the_runners_name_is_accepted(
    tmp_path: Path,
) -> None:
    """The limit docs/guarantees.md states: without signing, the committer is self-asserted,
    so only the host (branch protection: nobody but the runner pushes to the base branch)
    stops a requester who can push."""
    log = tmp_path / "log"
    bare = _approval_remote(tmp_path, log, None)
    runner = clone(tmp_path, bare, "runner")
    assert remediate(runner, "apply").returncode == 0
    _forge_approval(tmp_path, bare, None)
    git(runner, "pull", "--quiet", "--ff-only")
    assert remediate(runner, "apply").returncode == 0
    assert _runs(log) == ["rem-1"]
    assert _verify(runner) == (0, [])


@pytest.mark.parametrize("forger_key", ["own-key", "unsigned"])
def test_with_signing_a_forged_approval_is_refused_and_nothing_runs(
    tmp_path: Path, forger_key: str
) -> None:
    log = tmp_path / "log"
    key, public = _key(tmp_path, "runner")
    bare = _approval_remote(tmp_path, log, public)
    runner = clone(tmp_path, bare, "runner")
    signed = cli_env(REMEDIATE_SIGNING_KEY=str(key))
    done = remediate(runner, "apply", env=signed)
    assert done.returncode == 0, done.stderr
    assert _statuses(runner)["rem-1"] == "PENDING_APPROVAL"
    assert "\ngpgsig -----BEGIN SSH SIGNATURE-----" in git(bare, "cat-file", "-p", "main")
    assert _verify(runner, signed) == (0, [])
    own = _key(tmp_path, "requester")[0] if forger_key == "own-key" else None
    _forge_approval(tmp_path, bare, own)
    forged = git(bare, "rev-parse", "--short=12", "main")
    git(runner, "pull", "--quiet", "--ff-only")
    done = remediate(runner, "apply", env=signed)
    assert done.returncode == 1
    why = (
        f"committed as {RUNNER} but not signed"
        if own is None
        else f"committed as {RUNNER} but signed by {fingerprint(_pub(own))}, "
        "not by a key of Settings.spec.runner.signing"
    )
    assert done.stderr.splitlines()[-1].endswith(
        f"by commit {forged} ({why}); `git revert {forged}` undoes it"
    ), done.stderr
    assert _runs(log) == []
    code, problems = _verify(runner, signed)
    assert code == 1 and len(problems) == 1 and why in problems[0]
    warning = (
        "remediate: warning: what this shows rests on an audit log that fails verification "
        "(1 problem(s)): `remediate audit verify` names them and how to undo them"
    )
    for read in (("status", "--format", "json"), ("explain", "rem-1"), ("history", "rem-1")):
        assert warning in remediate(runner, *read).stderr.splitlines(), read  # said, once


def _pub(private: Path) -> str:
    return private.with_suffix(".pub").read_text().strip()


def test_with_signing_and_no_key_in_the_environment_nothing_is_done(tmp_path: Path) -> None:
    log = tmp_path / "log"
    bare = _approval_remote(tmp_path, log, _key(tmp_path, "runner")[1])
    runner = clone(tmp_path, bare, "runner")
    before = git(bare, "for-each-ref")
    done = remediate(runner, "apply")
    assert done.returncode == 1
    assert "REMEDIATE_SIGNING_KEY" in done.stderr.splitlines()[-1]
    assert git(bare, "for-each-ref") == before


def test_with_signing_a_checkpoint_in_the_runners_name_but_unsigned_is_ignored(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    key, public = _key(tmp_path, "runner")
    bare = make_remote(
        tmp_path, actions=_log_action(log), requests={"rem-1": request_yaml("rem-1", "once")}
    )
    admin = clone(tmp_path, bare, "admin", "admin@example.com")
    _settings(admin, f"  runner: {{name: b, email: {RUNNER}, signing: [{json.dumps(public)}]}}\n")
    git(admin, "commit", "--quiet", "-am", "sign", email="admin@example.com")
    git(admin, "push", "--quiet", "origin", "HEAD:main")
    runner = clone(tmp_path, bare, "runner")
    assert remediate(runner, "apply", env=cli_env(REMEDIATE_SIGNING_KEY=str(key))).returncode == 0
    real = git(bare, "rev-parse", cp.REF)
    tree = git(bare, "rev-parse", f"{real}^{{tree}}")
    forged = git(bare, "commit-tree", tree, "-m", "forged", email=RUNNER)  # same tree, unsigned
    git(bare, "update-ref", cp.REF, forged)
    reader = clone(tmp_path, bare, "reader")
    store = session(reader).store
    tip = store.fetch()
    trust = RunnerTrust.of(RUNNER, keys=[public])
    assert audit_log.read(store, tip, trust).base is None  # the full fold, not the forgery
    git(bare, "update-ref", cp.REF, real)
    store.refresh()
    assert audit_log.read(session(reader).store, tip, trust).base is not None


# -- rewritten history ---------------------------------------------------------------------


def test_a_branch_and_checkpoint_forced_back_together_are_refused(tmp_path: Path) -> None:
    """The remote's checkpoint ref forced back with the branch (and claims deleted): the
    runner's clone still knows its own last audit commit, and refuses. Before, the fetch
    replaced its checkpoint with the older one and the completed rem-2 ran again."""
    log = tmp_path / "log"
    bare = make_remote(
        tmp_path, actions=_log_action(log), requests={"rem-1": request_yaml("rem-1", "once")}
    )
    runner, person = clone(tmp_path, bare, "runner"), clone(tmp_path, bare, "person", REQUESTER)
    assert remediate(runner, "apply").returncode == 0
    old_tip, old_checkpoint = git(bare, "rev-parse", "main"), git(bare, "rev-parse", cp.REF)
    _add(person, "rem-2")
    git(runner, "pull", "--quiet", "--ff-only")
    assert remediate(runner, "apply").returncode == 0
    assert _runs(log) == ["rem-1", "rem-2"]
    _add(person, "rem-3")  # rem-2's file stays: only its events are gone
    rewritten = person / "rewrite"
    git(tmp_path, "clone", "--quiet", str(bare), str(rewritten))
    git(rewritten, "reset", "--quiet", "--hard", old_tip)
    write_requests(
        rewritten,
        {n: request_yaml(n, action="once", service=f"svc-{n}") for n in ("rem-2", "rem-3")},
    )
    git(rewritten, "add", "-A")
    git(rewritten, "commit", "--quiet", "-m", "re-add", email=REQUESTER)
    git(rewritten, "push", "--quiet", "--force", "origin", "HEAD:main")
    git(bare, "update-ref", cp.REF, old_checkpoint)
    for ref in git(bare, "for-each-ref", "--format=%(refname)", "refs/claims/").split():
        git(bare, "update-ref", "-d", ref)
    git(runner, "fetch", "--quiet")
    git(runner, "reset", "--quiet", "--hard", "origin/main")
    done = remediate(runner, "apply")
    assert done.returncode == 1
    assert "the branch no longer contains commit" in done.stderr
    assert "the runner's last audit commit" in done.stderr
    assert _runs(log) == ["rem-1", "rem-2"]  # nothing re-ran


def test_signing_turned_on_later_keeps_earlier_unsigned_runner_commits_valid(
    tmp_path: Path,
) -> None:
    """Turning signing on in a repository with history: unsigned runner commits up to
    `signingSince` stay the runner's; without it every one of them is named."""
    log = tmp_path / "log"
    key, public = _key(tmp_path, "runner")
    bare = make_remote(
        tmp_path, actions=_log_action(log), requests={"rem-1": request_yaml("rem-1", "once")}
    )
    runner, admin = (
        clone(tmp_path, bare, "runner"),
        clone(tmp_path, bare, "admin", "admin@example.com"),
    )
    assert remediate(runner, "apply").returncode == 0  # unsigned runner commits
    last = git(bare, "rev-parse", "main")
    git(admin, "pull", "--quiet", "--ff-only")
    signing = f"signing: [{json.dumps(public)}]"
    _settings(admin, f"  runner: {{name: b, email: {RUNNER}, {signing}}}\n")
    git(admin, "commit", "--quiet", "-am", "sign from now on", email="admin@example.com")
    git(admin, "push", "--quiet", "origin", "HEAD:main")
    _add(admin, "rem-2", "admin@example.com")
    git(runner, "pull", "--quiet", "--ff-only")
    signed = cli_env(REMEDIATE_SIGNING_KEY=str(key))
    code, problems = _verify(runner, signed)
    assert code == 1 and problems and all("but not signed" in p for p in problems)
    assert remediate(runner, "apply", env=signed).returncode == 1
    _settings(admin, f"  runner: {{name: b, email: {RUNNER}, {signing}, signingSince: {last}}}\n")
    git(admin, "commit", "--quiet", "-am", "earlier ones were unsigned", email="admin@example.com")
    git(admin, "push", "--quiet", "origin", "HEAD:main")
    git(runner, "pull", "--quiet", "--ff-only")
    done = remediate(runner, "apply", env=signed)
    assert done.returncode == 0, done.stderr
    assert _runs(log) == ["rem-1", "rem-2"]
    assert _verify(runner, signed) == (0, [])


def test_judged_reads_the_history_again_only_to_name_a_culprit() -> None:
    """The full guard streams the history past once into a `Ledger` of digests; the
    commits are listed again only when something is wrong, and then name the same
    culprits `judge` names from a list."""
    runner = _commit("a", RUNNER, ("A", "audit/1.jsonl", "b1"), ("A", "audit/2.jsonl", "b2"))
    edit = _commit("e", REQUESTER, ("M", "audit/1.jsonl", "x1"))
    history = [edit, runner]
    ledger = Ledger.of(iter(history), TRUST)  # an iterator: read once
    assert ledger.commits == 2

    def never() -> list[AuditCommit]:
        raise AssertionError("a clean audit lists its commits once")

    clean = iter([("A", "audit/1.jsonl", "b1"), ("A", "audit/2.jsonl", "b2")])
    assert judged(clean, ledger, None, (), never) == []
    # at_tip None: the tip is what `changed` lists, so audit/2.jsonl missing is a deletion
    tampered = [("A", "audit/1.jsonl", "x1")]
    found = [str(p) for p in judged(iter(tampered), ledger, None, (), lambda: history)]
    assert found == [str(p) for p in judge(tampered, history, TRUST, {"audit/1.jsonl"})]
    assert found == [
        f"audit/1.jsonl: modified by commit {'e' * 12} (committed by {REQUESTER}, not the "
        f"runner ({RUNNER})); `git revert {'e' * 12}` undoes it",
        "audit/2.jsonl: deleted; audit files are only ever added",
    ]
    # the same path and blob, told apart by where the NUL falls: digests of the pair
    assert not Ledger.of([_commit("b", RUNNER, ("A", "audit/1", ".jsonl\0b1"))], TRUST).wrote(
        "audit/1.jsonl", "b1"
    )


def test_the_tree_streamed_is_the_tree_listed(tmp_path: Path) -> None:
    """`walk_tree` (what the full guard reads) gives what `tree_blobs` gives, paths with
    a tab, a newline and non-UTF-8 bytes included (`ls-tree -z`)."""
    work = tmp_path / "w"
    git(tmp_path, "init", "--quiet", str(work))
    (work / "audit" / "2026").mkdir(parents=True)
    for name in ("a.jsonl", "tab\there.jsonl", "line\nbreak.jsonl"):
        (work / "audit" / "2026" / name).write_text(name + "\n")
    os.makedirs(work / "audit" / "x")
    (work / "audit" / "x" / os.fsdecode(b"\xff.jsonl")).write_text("bytes\n")
    (work / "other.txt").write_text("not audit\n")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "seed")
    store = session(work).store
    head = store.head()
    assert head is not None
    listed = store.tree_blobs(head, "audit", keep=False)
    assert len(listed) == 4 and list(store.walk_tree(head, "audit")) == listed
    with pytest.raises(GitCommandError):
        list(store.walk_tree("no-such-rev", "audit"))
