"""The checkpoint keeps execution starts in one file per month (`executions/<yyyy-mm>.json`):
a run rewrites only the months it adds to, a rate limit reads only the months its window
reaches, and what it counts is exactly what the whole audit counts, across month ends and
runners whose clocks disagree (real git, a bare remote, real processes)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from remediate.core import checkpoint as cp
from remediate.service.apply import apply
from tests.runner_support import (
    OPERATOR,
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

LIMIT = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: noop-rate}
spec:
  match: {actionTypes: [noop]}
  rateLimit: {max: 2, per: 40d}
"""


def _add(work: Path, name: str) -> None:
    git(work, "pull", "--quiet", "--ff-only")
    write_requests(work, {name: request_yaml(name, service=f"svc-{name}")})
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", f"Add {name}")
    git(work, "push", "--quiet", "origin", "HEAD:main")


def _apply(runner: Path, now: str) -> None:
    """`apply` in process, its clock fixed at `now` (what the starts it records carry)."""
    git(runner, "pull", "--quiet", "--ff-only")
    report = apply(session(runner, now=now), OPERATOR)
    assert not report.failed and not report.warnings, report


def _months(bare: Path) -> dict[str, str]:
    """Month file → blob id in the remote's checkpoint."""
    listing = git(bare, "ls-tree", f"{cp.REF}:{cp.EXECUTIONS.rstrip('/')}")
    return {line.split()[3]: line.split()[2] for line in listing.splitlines()}


def _status(work: Path, name: str) -> str:
    git(work, "pull", "--quiet", "--ff-only")
    return str(json_out(remediate(work, "status", name, "--format", "json"))["status"])


def _remote(tmp: Path) -> Path:
    return make_remote(
        tmp,
        actions={"noop": action_yaml("noop", ARGV)},
        requests={"rem-oct": request_yaml("rem-oct", service="svc-oct")},
        policies={"rate": LIMIT},
    )


def test_each_run_rewrites_only_the_month_it_adds_a_start_to(tmp_path: Path) -> None:
    bare = _remote(tmp_path)
    person, runner = clone(tmp_path, bare, "person"), clone(tmp_path, bare, "runner")
    _apply(runner, "2026-10-25T12:00:00Z")
    october = _months(bare)
    assert list(october) == ["2026-10.json"]
    _add(person, "rem-nov")
    _apply(runner, "2026-11-20T12:00:00Z")
    november = _months(bare)
    assert list(november) == ["2026-10.json", "2026-11.json"]
    assert november["2026-10.json"] == october["2026-10.json"]  # not written again
    text = git(bare, "show", f"{cp.REF}:{cp.EXECUTIONS}2026-11.json")
    assert [x.request_id for x in cp.read_executions(text)] == ["rem-nov"]


def test_a_rate_limit_counts_the_starts_of_earlier_months_its_window_reaches(
    tmp_path: Path,
) -> None:
    bare = _remote(tmp_path)
    person, runner = clone(tmp_path, bare, "person"), clone(tmp_path, bare, "runner")
    _apply(runner, "2026-10-25T12:00:00Z")  # rem-oct starts
    _add(person, "rem-nov")
    _apply(runner, "2026-11-20T12:00:00Z")  # rem-nov starts: 2 in 40 days
    _add(person, "rem-dec")
    # 2026-12-01: the window opens 2026-10-22T12:00Z, so October's start still counts
    _apply(runner, "2026-12-01T12:00:00Z")
    assert _status(person, "rem-dec") == "POLICY_VIOLATION"
    explained = remediate(person, "explain", "rem-dec", now="2026-12-01T12:00:00Z")
    assert "Rate limit reached: 2 of 2 executions" in explained.stdout, explained.stdout
    assert "a slot frees up at 2026-12-04T12:00:00Z" in explained.stdout
    # 2026-12-05: the window opens 2026-10-26T12:00Z, past October's start: one slot
    _apply(runner, "2026-12-05T12:00:00Z")
    assert _status(person, "rem-dec") == "COMPLETED"
    assert list(_months(bare)) == ["2026-10.json", "2026-11.json", "2026-12.json"]
    assert "intact" in remediate(person, "audit", "verify").stdout


def test_a_start_from_a_clock_behind_the_month_file_is_sorted_into_it(tmp_path: Path) -> None:
    bare = _remote(tmp_path)
    person, runner = clone(tmp_path, bare, "person"), clone(tmp_path, bare, "runner")
    slow = clone(tmp_path, bare, "slow")
    _apply(runner, "2026-11-20T12:00:00Z")  # rem-oct (named so) starts in November
    _add(person, "rem-late")
    _apply(slow, "2026-11-20T11:00:00Z")  # a runner whose clock is an hour behind
    text = git(bare, "show", f"{cp.REF}:{cp.EXECUTIONS}2026-11.json")
    rows = cp.read_executions(text)
    assert [x.request_id for x in rows] == ["rem-late", "rem-oct"]
    assert rows[0].at == datetime(2026, 11, 20, 11, tzinfo=UTC)
    verified = remediate(person, "audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout


def test_months_since_picks_the_month_files_a_window_reaches() -> None:
    paths = [f"{cp.EXECUTIONS}{m}.json" for m in ("2026-09", "2026-10", "2026-11")]
    since = datetime(2026, 10, 31, 23, 59, tzinfo=UTC)
    assert cp.months_since([*paths, "requests/ab.json"], since) == paths[1:]
    assert cp.months_since(paths, None) == paths
    assert cp.months_since(paths, datetime.max.replace(tzinfo=UTC)) == []
    # a start's month is its UTC month, whatever offset it was written with
    later = datetime.fromisoformat("2026-11-01T00:30:00+02:00")
    assert cp.execution_month(later) == f"{cp.EXECUTIONS}2026-10.json"
