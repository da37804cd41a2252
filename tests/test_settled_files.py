"""Request files of settled requests are not parsed again while their bytes are the ones
the runner's checkpoint recorded: `apply`, `status` and the verbs skip them, `validate`
still checks everything, and any other file stays fail closed (real git, a bare remote,
several clones, real processes)."""

from __future__ import annotations

from pathlib import Path

from remediate.service import checkpoint
from remediate.service.audit_log import at_head
from tests.runner_support import (
    REQUESTER,
    RUNNER,
    action_yaml,
    clone,
    git,
    json_out,
    make_remote,
    remediate,
    request_yaml,
    write_requests,
)
from tests.sessions import session

ARGV = ["/bin/sh", "-c", "true"]


def _remote(tmp: Path) -> Path:
    requests = {f"rem-{i}": request_yaml(f"rem-{i}", service=f"svc-{i}") for i in range(3)}
    actions = {"noop": action_yaml("noop", ARGV), "other": action_yaml("other", ARGV)}
    return make_remote(tmp, actions=actions, requests=requests)


def _push(work: Path, message: str, email: str = REQUESTER) -> None:
    git(work, "add", "-A", email=email)
    git(work, "commit", "--quiet", "-m", message, email=email)
    git(work, "push", "--quiet", "origin", "HEAD:main", email=email)


def _applied(tmp: Path) -> tuple[Path, Path]:
    bare = _remote(tmp)
    runner = clone(tmp, bare, "runner")
    done = remediate(runner, "apply")
    assert done.returncode == 0, done.stderr
    return bare, runner


def test_the_checkpoint_records_the_blob_and_names_of_settled_files(tmp_path: Path) -> None:
    bare, _ = _applied(tmp_path)
    reader = clone(tmp_path, bare, "reader")
    store = session(reader).store
    store.fetch()
    base = checkpoint.stored(store, RUNNER)
    assert base is not None
    found = checkpoint.settled(base)
    blobs = dict(
        line.split()[2:4][::-1]
        for line in git(reader, "ls-tree", "-r", "HEAD", "remediations/").splitlines()
    )
    rel = {f"rem-{i}": f"remediations/rem-{i}.yaml" for i in range(3)}
    assert found == {rel[n]: (blobs[rel[n]], ((n, 3),)) for n in rel}
    assert checkpoint.settled(base, keep=("rem-1",)).keys() == {rel["rem-0"], rel["rem-2"]}


def test_a_settled_file_is_not_parsed_while_its_bytes_are_unchanged(tmp_path: Path) -> None:
    """rem-0 names an action type that no longer exists: `validate` says so, but rem-0 is
    COMPLETED and cannot run again, so `apply` and `status` need not read its file."""
    bare, _ = _applied(tmp_path)
    person = clone(tmp_path, bare, "person")
    text = (person / "remediations" / "rem-0.yaml").read_text()
    # Same bytes on purpose: rem-0's file is untouched; only its context goes away.
    assert "type: noop" in text
    (person / "actions" / "noop.yaml").rename(person / "actions" / "renamed.yaml")
    renamed = (person / "actions" / "renamed.yaml").read_text().replace("name: noop", "name: n2")
    (person / "actions" / "renamed.yaml").write_text(renamed)
    write_requests(person, {"rem-3": request_yaml("rem-3", action="n2", service="svc-3")})
    _push(person, "Rename noop to n2; add rem-3", email="admin@example.com")  # an admin's
    runner = clone(tmp_path, bare, "runner-2")
    checked = remediate(runner, "validate")
    assert checked.returncode == 1 and "rem-0.yaml" in checked.stderr + checked.stdout
    done = remediate(runner, "apply")
    assert done.returncode == 0, done.stderr
    rows = json_out(remediate(runner, "status", "--format", "json"))["requests"]
    assert {r["requestId"]: r["status"] for r in rows} == {
        **{f"rem-{i}": "COMPLETED" for i in range(3)},
        "rem-3": "COMPLETED",
    }
    assert {r["requestId"]: r["actionType"] for r in rows}["rem-0"] == "noop"  # from the audit


def test_an_edited_settled_file_is_parsed_and_fails_closed(tmp_path: Path) -> None:
    """Edited bytes are read again: `validate` warns about the edit (it changes nothing), and
    an edit that breaks the file stops `apply` as any invalid document does."""
    bare, _ = _applied(tmp_path)
    person = clone(tmp_path, bare, "person")
    rel = person / "remediations" / "rem-1.yaml"
    rel.write_text(rel.read_text().replace("severity: LOW", "severity: HIGH"))
    _push(person, "Edit rem-1 after it ran")
    checked = remediate(person, "validate")
    assert checked.returncode == 0
    assert "request rem-1 has already started (COMPLETED)" in checked.stdout
    runner = clone(tmp_path, bare, "runner-2")
    assert remediate(runner, "apply").returncode == 0
    rel.write_text(rel.read_text().replace("severity: HIGH", "severity: NOT-A-LEVEL"))
    _push(person, "Break rem-1")
    git(runner, "pull", "--quiet", "--ff-only")
    done = remediate(runner, "apply")
    assert done.returncode != 0
    assert "rem-1.yaml" in done.stderr


def test_a_new_file_reusing_a_settled_name_is_still_a_duplicate(tmp_path: Path) -> None:
    bare, _ = _applied(tmp_path)
    person = clone(tmp_path, bare, "person")
    write_requests(person, {"again": request_yaml("rem-2", service="svc-9")})
    _push(person, "Reuse rem-2's name")
    runner = clone(tmp_path, bare, "runner-2")
    done = remediate(runner, "apply")
    assert done.returncode != 0
    assert "duplicate RemediationRequest name 'rem-2'" in done.stderr
    assert "remediations/rem-2.yaml:3" in done.stderr


def test_a_verb_reads_the_file_of_the_request_it_names(tmp_path: Path) -> None:
    bare, _ = _applied(tmp_path)
    operator = clone(tmp_path, bare, "operator")
    done = remediate(operator, "cancel", "rem-0")
    assert done.returncode != 0
    assert "no request named" not in done.stderr
    assert "COMPLETED" in done.stderr


def test_status_skips_settled_files_through_the_documents_port(tmp_path: Path) -> None:
    bare, _ = _applied(tmp_path)
    reader = clone(tmp_path, bare, "reader")
    write_requests(reader, {"rem-9": request_yaml("rem-9", service="svc-9")})
    s = session(reader)
    s.store.refresh()
    skip = checkpoint.settled(checkpoint.of(at_head(s)))
    report = s.documents.validate(skip=skip)
    assert [d.name for d in report.documents if d.kind == "RemediationRequest"] == ["rem-9"]
    assert report.count == len(report.documents) + 3  # the skipped names still count
    assert set(report.read) == {f"remediations/rem-{i}.yaml" for i in (0, 1, 2, 9)}


def test_no_verb_leads_out_of_a_settled_status() -> None:
    """What makes a checkpoint's "settled" true at every later commit."""
    from remediate.core.lifecycle import FINAL, SETTLED, TRANSITIONS

    assert set(SETTLED) <= set(FINAL)
    assert [key for key in TRANSITIONS if key[0] in SETTLED] == []


def test_status_of_one_recorded_request_reads_no_request_file(tmp_path: Path) -> None:
    """`status ID` of a request the audit knows comes from its state (one checkpoint
    bucket): the documents port is asked for no request file; a request the audit does
    not know yet is looked up in the files, and an unknown name is an error."""
    import pytest

    from remediate.errors import UserError
    from remediate.service.query import status
    from tests.sessions import Wrapped

    bare, _ = _applied(tmp_path)
    reader = clone(tmp_path, bare, "reader")
    write_requests(reader, {"rem-9": request_yaml("rem-9", service="svc-9")})
    asked: list[object] = []

    class Counted(Wrapped):
        def validate(self, *args: object, **kwargs: object) -> object:
            asked.append(args)
            return self.inner.validate(*args, **kwargs)

    s = session(reader)
    s.documents = Counted(s.documents)  # type: ignore[assignment]
    [row] = status(s, "rem-1")
    assert (row.status, row.action_type, row.service_name) == ("COMPLETED", "noop", "svc-1")
    assert asked == []
    [row] = status(s, "rem-9")
    assert (row.status, row.service_name) == ("NEW", "svc-9")
    assert len(asked) == 1
    with pytest.raises(UserError, match="no request named 'rem-nope'"):
        status(s, "rem-nope")


def test_a_later_checkpoint_appends_new_executions_and_equals_the_full_fold(
    tmp_path: Path,
) -> None:
    from remediate.core import checkpoint as cp
    from remediate.service import audit_log

    bare, runner = _applied(tmp_path)
    person = clone(tmp_path, bare, "person")
    write_requests(person, {"rem-3": request_yaml("rem-3", service="svc-3")})
    _push(person, "Add rem-3")
    git(runner, "pull", "--quiet", "--ff-only")
    assert remediate(runner, "apply").returncode == 0
    reader = clone(tmp_path, bare, "reader")
    store = session(reader).store
    tip = store.fetch()
    months = git(bare, "ls-tree", "--name-only", f"{cp.REF}:{cp.EXECUTIONS}").split()
    text = "".join(git(bare, "show", f"{cp.REF}:{cp.EXECUTIONS}{m}") + "\n" for m in months)
    full = audit_log.read_all(store, tip)
    assert sorted(cp.read_executions(text), key=repr) == sorted(full.executions(), key=repr)
    assert [x.request_id for x in cp.read_executions(text)][-1] == "rem-3"


def _commit_reports(work: Path) -> tuple[object, object]:
    """The documents of HEAD read through the commit port with the checkpoint's settled
    files set apart, and read whole: (skipping, whole)."""
    s = session(work)
    s.store.refresh()
    skip = checkpoint.settled(checkpoint.of(at_head(s)))
    assert skip, "the checkpoint records settled files"
    head = git(work, "rev-parse", "HEAD").strip()
    assert s.commits is not None
    return s.commits.validate(head, skip), s.commits.validate(head, None)


def _same_report(skipping: object, whole: object) -> None:
    for field in ("files", "count", "read"):
        assert getattr(skipping, field) == getattr(whole, field), field
    assert [(p.file, p.line, p.path, p.message) for p in skipping.problems] == [  # type: ignore[attr-defined]
        (p.file, p.line, p.path, p.message)
        for p in whole.problems  # type: ignore[attr-defined]
    ]


def test_a_commit_read_with_settled_files_set_apart_reads_as_a_whole_read(
    tmp_path: Path,
) -> None:
    """Setting the unchanged settled files apart (the 10,000 files of a long history)
    changes nothing a load reports: files, names, what it read, problems."""
    bare, _ = _applied(tmp_path)
    work = clone(tmp_path, bare, "person")
    write_requests(work, {"rem-9": request_yaml("rem-9", service="svc-9")})
    (work / "remediations" / "rem-1.yaml").write_text(
        request_yaml("rem-1", service="svc-1") + "\n# edited\n"
    )
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "one new, one edited", email=REQUESTER)
    skipping, whole = _commit_reports(work)
    _same_report(skipping, whole)
    assert not skipping.problems  # type: ignore[attr-defined]


def test_duplicate_names_read_the_same_with_settled_files_set_apart(tmp_path: Path) -> None:
    """A name declared again, before a settled file's (in the files' order), after it, and
    by two unchanged settled files (one re-added as it was): the same problems, at the
    same file and line, naming the same first definition, as a whole read."""
    bare, _ = _applied(tmp_path)
    work = clone(tmp_path, bare, "person")
    write_requests(
        work,
        {
            "again": request_yaml("rem-2", service="svc-9"),  # sorts before rem-2.yaml
            "zzz": request_yaml("rem-0", service="svc-8"),  # sorts after rem-0.yaml
        },
    )
    copy = (work / "remediations" / "rem-1.yaml").read_text()
    (work / "remediations" / "old").mkdir()
    (work / "remediations" / "old" / "rem-1.yaml").write_text(copy)  # the same blob twice
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "names again", email=REQUESTER)
    skipping, whole = _commit_reports(work)
    _same_report(skipping, whole)
    messages = [f"{p.file}:{p.line}: {p.message}" for p in skipping.problems]  # type: ignore[attr-defined]
    assert any(
        m.startswith("remediations/rem-2.yaml:3: duplicate RemediationRequest name 'rem-2'")
        and "first defined at remediations/again.yaml:3" in m
        for m in messages
    ), messages
    assert any(
        m.startswith("remediations/zzz.yaml:3: duplicate RemediationRequest name 'rem-0'")
        and "first defined at remediations/rem-0.yaml:3" in m
        for m in messages
    ), messages
    assert any(
        m.startswith("remediations/rem-1.yaml:3: duplicate RemediationRequest name 'rem-1'")
        and "first defined at remediations/old/rem-1.yaml:3" in m
        for m in messages
    ), messages


def test_two_settled_files_of_one_name_read_as_a_whole_read(tmp_path: Path) -> None:
    """Two files the checkpoint would both call settled with one name (a file deleted and
    added again as it was, after another took its name): the duplicate is still found."""
    bare, _ = _applied(tmp_path)
    work = clone(tmp_path, bare, "person")
    copy = (work / "remediations" / "rem-1.yaml").read_text()
    (work / "remediations" / "again.yaml").write_text(copy)
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "rem-1 twice", email=REQUESTER)
    s = session(work)
    s.store.refresh()
    skip = dict(checkpoint.settled(checkpoint.of(at_head(s))))
    skip["remediations/again.yaml"] = skip["remediations/rem-1.yaml"]
    head = git(work, "rev-parse", "HEAD").strip()
    assert s.commits is not None
    skipping, whole = s.commits.validate(head, skip), s.commits.validate(head, None)
    _same_report(skipping, whole)
    assert [p.file for p in skipping.problems] == ["remediations/rem-1.yaml"]
