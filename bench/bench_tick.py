"""`tick` with many schedules, as whole processes on a real remote.

    .venv/bin/python bench/bench_tick.py [--schedules 1000] [--small 10] [--repeat 3]

A bare remote holds N `Schedule`s (remediation jobs, `0 * * * *` in Europe/Berlin,
catchUp latest), committed in the past so that each has one due fire and missed ones
before it. For N and for the small count, in a fresh clone each time, it times:
`fire` — a tick where every schedule fires (N claims in one push, N events in one
commit, the checkpoint); `idle` — the next tick at the same time, nothing due. Wall
seconds and peak RSS per process (wait4); medians go to docs/performance.md.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.runner_support import action_yaml, cli_env, clone, git, make_remote  # noqa: E402

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


def timed(cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of `remediate tick --format json`."""
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "remediate", "tick", "--format", "json", "--repo", str(cwd)],
            cwd=cwd,
            env=cli_env(NOW),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"tick failed: {err.read()}")
    return wall, usage.ru_maxrss / 1024, out


def measure(n: int, due: int, repeat: int) -> dict[str, list[tuple[float, float]]]:
    """(wall, RSS) of a tick where `due` of `n` schedules fire, then of an idle tick."""
    import json

    found: dict[str, list[tuple[float, float]]] = {"fire": [], "idle": []}
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        for r in range(repeat):
            base = tmp / f"run-{r}"
            base.mkdir()
            bare = remote(base, n, due)
            runner = clone(base, bare, "runner")
            wall, rss, out = timed(runner)
            fired = len(json.loads(out)["fires"])
            assert fired == due, f"expected {due} fires, got {fired}"
            found["fire"].append((wall, rss))
            wall, rss, out = timed(runner)
            assert json.loads(out)["fires"] == []
            found["idle"].append((wall, rss))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
    )
    cases = [
        (args.small, args.small),
        (args.schedules, args.small),
        (args.schedules, args.schedules),
    ]
    medians: dict[tuple[int, int, str], float] = {}
    for n, due in cases:
        for kind, runs in measure(n, due, args.repeat).items():
            wall = statistics.median(w for w, _ in runs)
            rss = max(r for _, r in runs)
            medians[(n, due, kind)] = wall
            label = f"{n:>5} schedules, {due if kind == 'fire' else 0:>5} due"
            print(
                f"{label}: median {wall:.3f} s, peak RSS {rss:.0f} MB "
                f"(runs: {', '.join(f'{w:.3f}' for w, _ in runs)})"
            )
    small, large = args.small, args.schedules
    print(
        f"idle: {large} / {small} schedules = "
        f"{medians[(large, small, 'idle')] / medians[(small, small, 'idle')]:.2f}x; "
        f"{small} due: {medians[(large, small, 'fire')] / medians[(small, small, 'fire')]:.2f}x"
    )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
