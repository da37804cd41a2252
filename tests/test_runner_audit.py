"""`audit verify` catches edited, deleted, reordered and forged events (real git) and the pure chain checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from remediate.core.audit import Event, fold, to_line
from remediate.core.chains import check_chains
from tests.conftest import Result
from tests.runner_support import (
    NOW,
    RUNNER,
    action_yaml,
    clone,
    git,
    make_remote,
    request_yaml,
)

Run = Callable[..., Result]


def chain(request_id: str = "rem-1") -> list[Event]:
    steps = [
        ("NEW", "QUEUED", "decide"),
        ("QUEUED", "EXECUTING", "claim"),
        ("EXECUTING", "COMPLETED", "complete"),
    ]
    events: list[Event] = []
    prev = None
    for i, (a, b, verb) in enumerate(steps):
        event = Event(
            id=f"{request_id}-{i}",
            at=f"2026-11-23T10:00:0{i}.000Z",
            request_id=request_id,
            from_=a,
            to=b,
            actor=RUNNER,
            details={"verb": verb, "attempt": 1},
            prev=prev,
        )
        events.append(event)
        prev = event.hash
    return events


def test_an_intact_chain_folds_and_verifies() -> None:
    events = chain()
    assert check_chains(events) == []
    assert fold(events)["rem-1"].status == "COMPLETED"
    assert fold(reversed(events))["rem-1"].status == "COMPLETED"  # file order does not matter


def test_an_event_with_an_added_key_is_refused() -> None:
    """An added key would leave the hash unchanged; reading the event refuses it instead."""
    data = json.loads(to_line(chain()[0]))
    assert Event.from_json(data).id == data["id"]
    with pytest.raises(ValueError, match=r"^event has unknown fields approvedBy$"):
        Event.from_json({**data, "approvedBy": "mallory@example.com"})


def test_an_edited_event_breaks_the_chain() -> None:
    events = chain()
    forged = replace(events[1], actor="mallory@example.com")
    problems = check_chains([events[0], forged, events[2]])
    assert any("no event of this request" in p for p in problems)


def test_a_deleted_event_breaks_the_chain() -> None:
    events = chain()
    assert any("no event of this request" in p for p in check_chains([events[0], events[2]]))


def test_reordered_events_break_the_chain() -> None:
    events = chain()
    swapped = [
        replace(events[0], prev=events[1].hash),
        replace(events[1], prev=None),
        events[2],
    ]
    assert check_chains(swapped)


def test_a_forged_transition_is_reported() -> None:
    events = chain()
    forged = Event(
        id="x",
        at="2026-11-23T10:00:09.000Z",
        request_id="rem-1",
        from_="COMPLETED",
        to="QUEUED",
        actor=RUNNER,
        details={"verb": "retry"},
        prev=events[2].hash,
    )
    problems = check_chains([*events, forged])
    assert any("not a lifecycle transition" in p for p in problems)
    assert fold([*events, forged])["rem-1"].status == "COMPLETED"  # the fold ignores it too


def _then(events: list[Event], steps: list[tuple[str, str, str]]) -> list[Event]:
    out = list(events)
    for i, (a, b, verb) in enumerate(steps):
        out.append(
            Event(
                id=f"then-{i}",
                at=f"2026-11-23T10:01:0{i}.000Z",
                request_id="rem-1",
                from_=a,
                to=b,
                actor=RUNNER,
                details={"verb": verb, "attempt": 1},
                prev=out[-1].hash,
            )
        )
    return out


def test_an_outcome_is_learned_only_after_an_abandonment_of_the_same_attempt() -> None:
    started = chain()[:2]  # claimed, EXECUTING
    learned = _then(started, [("EXECUTING", "FAILED", "abandon"), ("FAILED", "COMPLETED", "learn")])
    assert check_chains(learned) == []
    assert fold(learned)["rem-1"].status == "COMPLETED"
    forged = _then(started, [("EXECUTING", "FAILED", "fail"), ("FAILED", "COMPLETED", "learn")])
    assert any("not a lifecycle transition" in p for p in check_chains(forged))
    assert fold(forged)["rem-1"].status == "FAILED"  # a real failure is never turned over


def test_a_duplicate_or_forked_event_is_reported() -> None:
    events = chain()
    fork = Event(
        id="y",
        at="2026-11-23T10:00:05.000Z",
        request_id="rem-1",
        from_="QUEUED",
        to="CANCELLED",
        actor=RUNNER,
        details={"verb": "cancel"},
        prev=events[0].hash,
    )
    assert any("forks" in p for p in check_chains([*events, fork]))
    assert any("appears twice" in p for p in check_chains([*events, events[1]]))


@pytest.fixture
def audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Run) -> Path:
    monkeypatch.setenv("REMEDIATE_NOW", NOW)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", ["true"])},
        requests={"rem-1": request_yaml("rem-1"), "rem-2": request_yaml("rem-2", service="web")},
    )
    repo = clone(tmp_path, bare, "work")
    assert run_cli("apply", "--repo", str(repo)).code == 0
    assert run_cli("audit", "verify", "--repo", str(repo)).code == 0
    return repo


def audit_files(repo: Path) -> list[Path]:
    return sorted((repo / "audit").rglob("*.jsonl"))


def verify(run_cli: Run, repo: Path) -> tuple[int, list[str]]:
    done = run_cli("audit", "verify", "--repo", str(repo), "--format", "json")
    body = json.loads(done.out)
    return done.code, body["problems"]


def test_verify_fails_on_an_edited_event_even_when_committed_as_the_runner(
    run_cli: Run, audited: Path
) -> None:
    path = next(p for p in audit_files(audited) if '"to":"COMPLETED"' in p.read_text())
    path.write_text(path.read_text().replace('"to":"COMPLETED"', '"to":"FAILED"', 1))
    git(audited, "commit", "-qam", "fix audit", email=RUNNER)  # impersonates the runner
    code, problems = verify(run_cli, audited)
    assert code == 1
    assert any("modified" in p for p in problems)


def test_verify_fails_on_a_deleted_audit_file(run_cli: Run, audited: Path) -> None:
    first = next(p for p in audit_files(audited) if '"to":"QUEUED"' in p.read_text())
    git(audited, "rm", "-q", str(first.relative_to(audited)))
    git(audited, "commit", "-qm", "tidy", email=RUNNER)
    code, problems = verify(run_cli, audited)
    assert code == 1
    assert any("deleted" in p for p in problems)
    assert any("no event of this request" in p for p in problems)


def test_verify_fails_on_reordered_lines(run_cli: Run, audited: Path) -> None:
    path = next(p for p in audit_files(audited) if len(p.read_text().splitlines()) > 1)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(reversed(lines)) + "\n")
    git(audited, "commit", "-qam", "reorder", email=RUNNER)
    code, problems = verify(run_cli, audited)
    assert code == 1 and any("modified" in p for p in problems)


def test_verify_fails_on_a_forged_event_file(run_cli: Run, audited: Path) -> None:
    done = next(p for p in audit_files(audited) if '"to":"COMPLETED"' in p.read_text())
    last = json.loads(done.read_text().splitlines()[0])
    forged = Event(
        id="forged-1",
        at="2026-11-23T10:05:00.000Z",
        request_id=last["requestId"],
        from_="COMPLETED",
        to="QUEUED",
        actor="mallory@example.com",
        details={"verb": "retry"},
        prev=None,
    )
    target = audited / "audit" / "2026" / "forged.jsonl"
    target.write_text(to_line(forged) + "\n")
    git(audited, "add", str(target.relative_to(audited)))
    git(audited, "commit", "-qm", "add event", email="mallory@example.com")
    code, problems = verify(run_cli, audited)
    assert code == 1
    assert any("not the runner" in p for p in problems)
    assert any("forks" in p or "moves from" in p for p in problems)


def test_a_malformed_audit_line_is_reported_not_a_crash(run_cli: Run, audited: Path) -> None:
    junk = audited / "audit" / "junk.jsonl"
    junk.write_text('{"id": 1}\nnot json\n{"id":"x","at":"yesterday"}\n')
    git(audited, "add", "audit/junk.jsonl")
    git(audited, "commit", "-qm", "junk", email=RUNNER)
    code, problems = verify(run_cli, audited)
    assert code == 1
    assert sum("not an audit event" in p for p in problems) == 3
    done = run_cli("status", "--repo", str(audited), "--format", "json")
    assert done.code == 0 and "Traceback" not in done.err


def test_verify_with_invalid_settings_reports_the_document_error(
    run_cli: Run, audited: Path
) -> None:
    """Not "not the runner" for every runner commit: the runner's identity is in the
    settings, so verify loads them fail closed and names what is wrong with them."""
    settings = audited / "remediate.yaml"
    settings.write_text(settings.read_text() + "  surprise: true\n")
    done = run_cli("audit", "verify", "--repo", str(audited))
    assert done.code == 1
    assert "not the runner" not in done.out + done.err
    assert done.err.startswith("remediate: 1 document error(s); nothing was run\n"), done.err
    assert "remediate.yaml:" in done.err and "surprise" in done.err, done.err
    body = json.loads(run_cli("audit", "verify", "--repo", str(audited), "--format", "json").out)
    assert [e["file"] for e in body["errors"]] == ["remediate.yaml"]
