"""`stats`, `signal` and `export csv`: the contract's shapes, over a real audit."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediate.core.audit import RequestState
from remediate.core.signal import CALM, signal
from remediate.core.stats import COLUMNS, Summary, Tally, csv_lines, neutral_cell, success_rate
from tests.conftest import Result
from tests.runner_support import action_yaml, clone, make_remote, remediate, request_yaml

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_success_rate_has_one_decimal_rounded_half_up() -> None:
    assert success_rate(31, 42) == 73.8  # the seed's example
    assert success_rate(1, 8) == 12.5
    assert success_rate(1, 3) == 33.3
    assert success_rate(2, 3) == 66.7
    assert success_rate(1, 16) == 6.3  # 6.25: half up, not to even
    assert success_rate(0, 0) == 0.0


@pytest.mark.parametrize(
    ("counts", "level", "reason"),
    [
        ((0, 0, 0), "normal", CALM),
        ((2, 4, 2), "normal", CALM),
        ((4, 2, 5), "warning", "Failures rising and approval queue growing."),  # the seed's
        ((0, 0, 3), "warning", "Failures rising."),
        ((0, 5, 0), "warning", "Execution load high."),
        (
            (3, 5, 10),
            "critical",
            "Failures spiking, approval queue growing and execution load high.",
        ),
        ((20, 0, 0), "critical", "Approval queue backed up."),
        ((0, 20, 0), "critical", "Execution load saturated."),
    ],
)
def test_signal_levels_and_reasons(counts: tuple[int, int, int], level: str, reason: str) -> None:
    found = signal(*counts)
    assert (found.level, found.reason) == (level, reason)
    assert found.as_json() == {
        "level": level,
        "label": level.capitalize(),
        "reason": reason,
        "pendingApprovals": counts[0],
        "activeExecutions": counts[1],
        "failedInLast24h": counts[2],
    }


def _state(name: str, status: str, env: str = "production", failed: str | None = None) -> Summary:
    return Summary.of(
        RequestState(name, status, environment=env, last_failed_at=failed, updated_at="x")
    )


def test_failures_count_once_per_request_within_the_24_hours_before_now() -> None:
    hour = timedelta(hours=1)
    at = lambda d: (NOW - d).isoformat().replace("+00:00", "Z")  # noqa: E731
    tally = Tally(NOW).add_all(
        [
            _state("a", "FAILED", failed=at(hour)),
            _state("b", "COMPLETED", failed=at(23 * hour)),  # failed, retried, completed
            _state("c", "FAILED", failed=at(25 * hour)),  # too long ago
            _state("d", "FAILED", failed=at(-hour)),  # after now (--now in the past)
            _state("e", "NEW"),  # not recorded: not counted
        ]
    )
    assert tally.failed_recently == 2
    assert tally.stats().as_json() == {
        "total": 4,
        "pending": 0,
        "executing": 0,
        "completed": 1,
        "failed": 3,
        "successRate": 25.0,
    }


def test_environment_scope_is_case_insensitive() -> None:
    states = [_state("a", "COMPLETED", "Production"), _state("b", "FAILED", "staging")]
    assert Tally(NOW, "production").add_all(states).stats().total == 1


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        (None, ""),
    ],
)
def test_cells_that_start_like_a_formula_get_an_apostrophe(value: str | None, cell: str) -> None:
    assert neutral_cell(value) == cell
    line = "".join(csv_lines(["c"], [[value]]))
    assert next(csv.reader(io.StringIO(line.split("\r\n", 1)[1]))) == [cell]


def _repo(tmp_path: Path) -> Path:
    actions = {"noop": action_yaml("noop", ["true"]), "boom": action_yaml("boom", ["false"])}
    freeze = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: freeze}
spec:
  match: {environments: [frozen]}
  rules:
    - {name: no, effect: deny, message: "=HYPERLINK(\\"http://evil\\",\\"x\\")"}
"""
    requests = {
        "ok-1": request_yaml("ok-1", incident="a0000000-0000-4000-8000-000000000001"),
        "ok-2": request_yaml("ok-2", env="production"),
        "bad-1": request_yaml("bad-1", action="boom"),
        "frozen-1": request_yaml("frozen-1", env="frozen"),
    }
    bare = make_remote(tmp_path, actions=actions, requests=requests, policies={"freeze": freeze})
    work = clone(tmp_path, bare, "work")
    done = remediate(work, "apply")
    assert done.returncode == 1, done.stderr  # bad-1 failed
    return work


def _soon(hours: float = 0) -> str:
    """A minute from now (plus `hours`): events carry the runner's real time."""
    at = datetime.now(UTC) + timedelta(minutes=1, hours=hours)
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def test_stats_signal_and_export_over_a_real_audit(tmp_path: Path) -> None:
    work = _repo(tmp_path)
    stats = json.loads(remediate(work, "stats", "--format", "json").stdout)
    assert stats == {
        "total": 4,
        "pending": 0,
        "executing": 0,
        "completed": 2,
        "failed": 1,
        "successRate": 50.0,
    }
    scoped = json.loads(
        remediate(work, "stats", "--environment", "PRODUCTION", "--format", "json").stdout
    )
    assert (scoped["total"], scoped["completed"]) == (1, 1)
    sig = json.loads(remediate(work, "signal", "--format", "json", now=_soon()).stdout)
    assert sig == {
        "level": "normal",
        "label": "Normal",
        "reason": CALM,
        "pendingApprovals": 0,
        "activeExecutions": 0,
        "failedInLast24h": 1,
    }
    # a day later the failure no longer counts
    later = json.loads(remediate(work, "signal", "--format", "json", now=_soon(hours=25)).stdout)
    assert later["failedInLast24h"] == 0

    done = remediate(work, "export", "csv")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress bar: stderr is not a terminal
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert done.stdout.splitlines()[0] == ",".join(COLUMNS)
    assert {r["id"]: r["status"] for r in rows} == {
        "ok-1": "COMPLETED",
        "ok-2": "COMPLETED",
        "bad-1": "FAILED",
        "frozen-1": "POLICY_VIOLATION",
    }
    by_id = {r["id"]: r for r in rows}
    assert by_id["ok-1"]["incidentId"] == "a0000000-0000-4000-8000-000000000001"
    assert by_id["bad-1"]["error"] == "exited with status 1"
    assert by_id["frozen-1"]["details"].startswith("'=HYPERLINK(")  # never a formula
    assert all(not v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())

    failed = remediate(work, "export", "csv", "--status", "FAILED").stdout
    assert [r["id"] for r in csv.DictReader(io.StringIO(failed))] == ["bad-1"]
    one = remediate(work, "export", "csv", "--limit", "1").stdout
    assert len(list(csv.DictReader(io.StringIO(one)))) == 1
    staging = remediate(work, "export", "csv", "--environment", "staging").stdout
    assert {r["id"] for r in csv.DictReader(io.StringIO(staging))} == {"ok-1", "bad-1"}


def test_streamed_states_are_the_full_folds_and_no_bucket_is_kept(tmp_path: Path) -> None:
    from remediate import wiring
    from remediate.core.stats import Summary, Tally
    from remediate.service import checkpoint
    from remediate.service.audit_log import at_head, read_all
    from remediate.service.stats import states

    work = _repo(tmp_path)
    session = wiring.session(work, {"REMEDIATE_NOW": "2026-11-23T10:00:00Z"})
    streamed = {s.request_id: s for s in states(session)}
    base = checkpoint.of(at_head(session))
    assert base is not None  # the runner left a checkpoint: the streamed path was taken
    assert base._buckets == {}  # read, counted, dropped
    buckets = {blob for path, blob in base.blobs.items() if path.startswith("requests/")}
    assert not buckets & set(session.store._blobs)  # type: ignore[attr-defined]
    full = read_all(session.store, session.store.head()).states
    assert streamed == {name: Summary.of(s) for name, s in full.items()}
    assert Tally(NOW).add_all(streamed.values()) == Tally(NOW).add_all(
        Summary.of(s) for s in full.values()
    )


def test_limit_and_status_are_checked(run_cli: Callable[..., Result], applied: Path) -> None:
    assert run_cli("export", "csv", "--limit", "0").code == 2
    bad = run_cli("export", "csv", "--status", "DONE")
    assert bad.code == 2 and "DONE" in bad.err


def test_the_progress_bar_shows_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import sys

    from remediate.cli.output import Progress

    master, slave = os.openpty()
    terminal = os.fdopen(slave, "w")
    try:
        monkeypatch.setattr(sys, "stderr", terminal)
        monkeypatch.setattr(Progress, "DELAY", 0.0)
        bar = Progress("reading the audit")
        for done in (1, 2, 3):
            bar.update(done, 3)
        bar.finish()
        terminal.flush()
        import select

        shown = ""
        while select.select([master], [], [], 0.5)[0]:  # a pty hands output over in chunks
            shown += os.read(master, 65536).decode()
        assert "reading the audit" in shown and "100%" in shown

        piped = io.StringIO()
        monkeypatch.setattr(sys, "stderr", piped)
        quiet = Progress("reading the audit")
        quiet.update(3, 3)
        quiet.finish()
        assert piped.getvalue() == ""
    finally:
        terminal.close()
        os.close(master)


def _recheckpoint(work: Path, files: dict[str, str], remove: list[str]) -> None:
    """Replace the runner's checkpoint by one with `files` written and `remove` gone."""
    from remediate import wiring
    from remediate.core import checkpoint as cp
    from remediate.core.commits import Person
    from tests.runner_support import RUNNER

    store = wiring.session(work).store
    store.fetch()
    old = store.resolve(cp.REF)
    runner = Person("remediate-bot", RUNNER)
    sha = store.make_commit(
        None, files, "checkpoint\n", runner, runner, tree_from=old, remove=remove
    )
    assert store.push_leases({cp.REF: (sha, old)})[cp.REF] == "won"


def _read(work: Path) -> tuple[dict[str, Summary], str, str, bool]:
    from remediate import wiring
    from remediate.service import stats

    used: list[bool] = []
    real = stats._summaries

    def spy(base: object, path: str) -> object:
        found = real(base, path)  # type: ignore[arg-type]
        used.append(found is not None)
        return found

    stats._summaries = spy  # type: ignore[assignment]
    try:
        session = wiring.session(work, {"REMEDIATE_NOW": "2026-11-23T10:00:00Z"})
        found = {s.request_id: s for s in stats.states(session)}
    finally:
        stats._summaries = real
    csv_text = remediate(work, "export", "csv").stdout
    verify = remediate(work, "audit", "verify").stdout
    return found, csv_text, verify, bool(used) and all(used)


def test_stats_read_the_bucket_summaries_and_an_old_checkpoint_reads_as_before(
    tmp_path: Path,
) -> None:
    """The checkpoint's `summaries/` buckets are what stats read; one without them (written
    before them), or one whose summary names another bucket, reads the buckets as before;
    `audit verify` says when a summary is not its bucket's states."""
    from remediate import wiring
    from remediate.core import checkpoint as cp
    from remediate.service import checkpoint
    from remediate.service.audit_log import at_head

    work = _repo(tmp_path)
    base = checkpoint.of(at_head(wiring.session(work)))
    assert base is not None
    buckets = sorted(p for p in base.blobs if p.startswith("requests/"))
    summaries = sorted(p for p in base.blobs if p.startswith(cp.SUMMARIES))
    assert summaries == [cp.summary_path(p) for p in buckets]
    new, csv_new, verify_new, used = _read(work)
    assert used and verify_new.endswith(": intact\n")
    # an old checkpoint: no summaries at all
    _recheckpoint(work, {}, summaries)
    old, csv_old, verify_old, used = _read(work)
    assert not used and (old, csv_old) == (new, csv_new)
    assert verify_old == verify_new
    # a summary of another bucket's blob is not read
    store = wiring.session(work).store
    first = store.blob_text(base.blobs[buckets[0]])
    stale = cp.summary_text(first + " ", cp.read_states(first))
    _recheckpoint(work, {summaries[0]: stale}, [])
    again, csv_again, verify_again, used = _read(work)
    assert (again, csv_again, verify_again) == (new, csv_new, verify_new)
    # one that names its bucket but says something else: stats would read it; verify tells
    wrong = cp.read_states(first)
    name = sorted(wrong)[0]
    from dataclasses import replace

    wrong[name] = replace(
        wrong[name], status="COMPLETED" if wrong[name].status != "COMPLETED" else "FAILED"
    )
    lie = cp.summary_text(first, wrong)
    _recheckpoint(work, {summaries[0]: lie}, [])
    done = remediate(work, "audit", "verify")
    assert done.returncode == 1
    assert f"{summaries[0]}: the summary is not its bucket's states" in done.stderr
