"""`tick` with many schedules, as whole processes on a real remote.

    .venv/bin/python bench/bench_tick.py [--schedules 1000] [--small 10] [--repeat 3]
        [--history 1,50]

A bare remote holds N `Schedule`s (remediation jobs, `0 * * * *` in Europe/Berlin,
catchUp latest), committed in the past so that each has one due fire and missed ones
before it. For N and for the small count, in a fresh clone each time, it times:
`fire` — a tick where every schedule fires (N claims in one push, N events in one
commit, the checkpoint); `idle` — the next tick at the same time, nothing due. Wall
seconds and peak RSS per process (wait4); medians go to docs/performance.md.

With a fire history (`--history`: fires recorded per schedule before, e.g. 1 and 50): the
N schedules first ran as two-hourly `report` jobs with `catchUp: none`, and a real tick
every two hours, each 70 minutes after a fire, recorded one missed fire of each (no job
runs, no request is left open); then a commit made them the hourly remediations above, and
the same two ticks are timed in a fresh clone (the runner's checkpoint on the remote). Each
history is built once (H ticks) and copied for every round.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.runner_support import action_yaml, cli_env, clone, git, make_remote  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import remediate, timed  # noqa: E402

SCHEDULE = """\
apiVersion: remediate/v1
kind: Schedule
metadata: {{name: sched-{i:05d}}}
spec:
  cron: "0 * * * *"
  timezone: Europe/Berlin
  catchUp: latest
  job:
    remediation:
      action: {{type: noop, parameters: {{}}}}
      serviceName: svc-{i:05d}
      environment: staging
      severity: LOW
"""
NOW = "2026-11-23T10:10:00Z"


def remote(tmp: Path, n: int, due: int) -> Path:
    """N schedules, the first `due` hourly (due at NOW), the others on 1 January only."""
    bare = make_remote(tmp, actions={"noop": action_yaml("noop", ["true"])})
    seed = tmp / "schedules-seed"
    git(tmp, "clone", "--quiet", str(bare), str(seed))
    (seed / "schedules").mkdir()
    for i in range(n):
        text = SCHEDULE.format(i=i)
        if i >= due:
            text = text.replace('"0 * * * *"', '"0 6 1 1 *"')
        (seed / "schedules" / f"sched-{i:05d}.yaml").write_text(text)
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": "2026-11-23T06:30:00Z",
        "GIT_COMMITTER_DATE": "2026-11-23T06:30:00Z",
    }
    for args in (
        ["add", "-A"],
        ["commit", "--quiet", "-m", "schedules"],
        ["push", "--quiet", "origin", "HEAD:main"],
    ):
        subprocess.run(
            ["git", *args],
            cwd=seed,
            env={
                **env,
                "GIT_AUTHOR_NAME": "dev",
                "GIT_AUTHOR_EMAIL": "dev@example.com",
                "GIT_COMMITTER_NAME": "dev",
                "GIT_COMMITTER_EMAIL": "dev@example.com",
            },
            check=True,
            capture_output=True,
        )
    return bare


HISTORY_SCHEDULE = """\
apiVersion: remediate/v1
kind: Schedule
metadata: {{name: sched-{i:05d}}}
spec:
  cron: "0 */2 * * *"
  timezone: UTC
  catchUp: none
  job:
    report: {{}}
"""
HISTORY_FROM = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # the first of H fires, two-hourly


def _commit_schedules(tmp: Path, bare: Path, n: int, template: str, date: str) -> None:
    seed = tmp / f"schedules-{len(list(tmp.iterdir()))}"
    git(tmp, "clone", "--quiet", str(bare), str(seed))
    (seed / "schedules").mkdir(exist_ok=True)
    for i in range(n):
        (seed / "schedules" / f"sched-{i:05d}.yaml").write_text(template.format(i=i))
    who = {"GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
           "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}  # fmt: skip
    for args in (
        ["add", "-A"],
        ["commit", "-qm", "schedules"],
        ["push", "-q", "origin", "HEAD:main"],
    ):
        subprocess.run(["git", *args], cwd=seed, env={**os.environ, **who}, check=True,
                       capture_output=True)  # fmt: skip


def history_remote(tmp: Path, n: int, fires: int) -> Path:
    """N schedules with `fires` missed fires each recorded by real ticks, then made the
    hourly remediations of `remote` (all due at NOW)."""
    import json

    bare = make_remote(tmp, actions={"noop": action_yaml("noop", ["true"])})
    first = HISTORY_FROM - timedelta(hours=2 * fires)
    _commit_schedules(tmp, bare, n, HISTORY_SCHEDULE, iso(first - timedelta(minutes=90)))
    runner = clone(tmp, bare, "history-runner")
    for r in range(fires):
        at = iso(first + timedelta(hours=2 * r, minutes=70))
        done = subprocess.run(
            [sys.executable, "-m", "remediate", "tick", "--format", "json", "--repo", str(runner)],
            cwd=runner, env=cli_env(at), capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"history tick failed: {done.stderr}")
        missed = [f for f in json.loads(done.stdout)["fires"] if f["status"] == "missed"]
        assert len(missed) == n, f"expected {n} misses at {at}, got {len(missed)}"
    _commit_schedules(tmp, bare, n, SCHEDULE, iso(HISTORY_FROM + timedelta(minutes=30)))
    return bare


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def tick(cwd: Path) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system, the git processes it waited for
    included), peak RSS (MB) and stdout of `remediate tick --format json`."""
    done = timed(remediate(cwd, "tick", "--format", "json"), cwd, cli_env(NOW))
    if done.code != 0:
        raise SystemExit(f"tick failed: {done.err}")
    return done.wall, done.cpu, done.rss, done.out


Run = tuple[float, float, float]  # wall, CPU, RSS


def measure(n: int, due: int, repeat: int, pristine: Path | None = None) -> dict[str, list[Run]]:
    """(wall, CPU, RSS) of a tick where `due` of `n` schedules fire, then of an idle tick;
    on a copy of the bare remote `pristine` (a fire history) when given."""
    import json
    import shutil

    found: dict[str, list[Run]] = {"fire": [], "idle": []}
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        for r in range(repeat):
            base = tmp / f"run-{r}"
            base.mkdir()
            if pristine is None:
                bare = remote(base, n, due)
            else:
                bare = base / "remote.git"
                shutil.copytree(pristine, bare, symlinks=True)
            runner = clone(base, bare, "runner")
            wall, cpu, rss, out = tick(runner)
            fired = len(json.loads(out)["fires"])
            assert fired == due, f"expected {due} fires, got {fired}"
            found["fire"].append((wall, cpu, rss))
            wall, cpu, rss, out = tick(runner)
            assert json.loads(out)["fires"] == []
            found["idle"].append((wall, cpu, rss))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--history", default="1,50", help="fires recorded per schedule before")
    args = parser.parse_args()
    histories = [int(h) for h in args.history.split(",") if h]
    print(
        f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    cases = [
        (args.small, args.small),
        (args.schedules, args.small),
        (args.schedules, args.schedules),
    ]
    medians: dict[tuple[int, int, str, int], tuple[float, float]] = {}
    runs_of: dict[tuple[int, int, str, int], list[Run]] = {}
    keep = tempfile.TemporaryDirectory()
    pristine: dict[int, Path] = {}
    for fires in histories:  # built once: `fires` ticks each
        started = time.perf_counter()
        where = Path(keep.name) / f"history-{fires}"
        where.mkdir()
        pristine[fires] = history_remote(where, args.schedules, fires)
        print(f"history of {fires} fire(s) per schedule built in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    for round_ in range(args.repeat):  # the sizes side by side in each round: the same load
        for n, due in cases:
            for kind, runs in measure(n, due, 1).items():
                runs_of.setdefault((n, due, kind, 0), []).extend(runs)
        for fires in histories:
            got = measure(args.schedules, args.schedules, 1, pristine[fires])
            for kind, runs in got.items():
                runs_of.setdefault((args.schedules, args.schedules, kind, fires), []).extend(runs)
        print(f"round {round_ + 1}: load {os.getloadavg()[0]:.2f}", flush=True)
    keep.cleanup()
    print(
        f"{'schedules':>9} {'due':>14} {'history':>8}  {'wall (median)':>13}  {'CPU (median)':>12}  peak RSS  runs (wall/CPU)"
    )
    for (n, due, kind, fires), runs in runs_of.items():
        wall = statistics.median(w for w, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        rss = max(r for _, _, r in runs)
        medians[(n, due, kind, fires)] = (wall, cpu)
        shown = str(due) if kind == "fire" else f"0 (after {due})"
        each = ", ".join(f"{w:.2f}/{c:.2f}" for w, c, _ in runs)
        print(
            f"{n:>9} {shown:>14} {fires:>8}  {wall:>11.3f} s  {cpu:>10.3f} s  {rss:>5.0f} MB  {each}"
        )
    small, large = args.small, args.schedules
    for kind, label in (("idle", "0 due"), ("fire", f"{small} due")):
        a, b = medians[(large, small, kind, 0)], medians[(small, small, kind, 0)]
        print(
            f"{label}: {large} / {small} schedules = {a[0] / b[0]:.2f}x wall, "
            f"{a[1] / b[1]:.2f}x CPU"
        )
    if len(histories) >= 2:
        short, long = min(histories), max(histories)
        for kind in ("fire", "idle"):
            a = medians[(large, large, kind, long)]
            b = medians[(large, large, kind, short)]
            print(
                f"{kind}, {large} due: history {long} / {short} fires per schedule = "
                f"{a[0] / b[0]:.2f}x wall, {a[1] / b[1]:.2f}x CPU"
            )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
