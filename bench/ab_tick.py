"""`tick` with every schedule due, two source trees side by side (A/B), alternating.

    .venv/bin/python bench/ab_tick.py --trees /tmp/base/src,src [--schedules 1000]
        [--history 0,1,50] [--rounds 5]

Each fixture is built once, as `bench_tick.py` builds it (N hourly remediations in
Europe/Berlin, all due at its NOW; with a history, H missed fires per schedule recorded
first by real ticks), with a clone beside it. Each round copies the fixture (remote and
clone) for each tree in turn and times, as whole processes, the tick where all N fire
and the idle tick after it: wall seconds and CPU seconds (user + system of `remediate`
and of every git process it waited for, from `wait4`). A tree is a directory holding
the `remediate` package (e.g. `git archive` of another commit's `src`), put first on
PYTHONPATH; compile both (`python -m compileall -q`) before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from tests.runner_support import cli_env, clone  # noqa: E402

from bench_tick import NOW, history_remote, remote  # noqa: E402
from timing import remediate, timed  # noqa: E402


def fixture(where: Path, n: int, history: int) -> Path:
    """A bare remote (`remote.git`) and a clone of it (`runner`) under `where`."""
    where.mkdir(parents=True)
    bare = history_remote(where, n, history) if history else remote(where, n, n)
    clone(where, bare, "runner")
    return where


def run(tree: str, pristine: Path, work: Path) -> list[tuple[float, float, int]]:
    """(wall, CPU, fires) of the all-due tick and of the idle tick after it."""
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(pristine, work, symlinks=True)
    runner = work / "runner"
    for args in (["remote", "set-url", "origin", str(work / "remote.git")],
                 ["update-index", "-q", "--refresh"]):  # fmt: skip
        subprocess.run(["git", *args], cwd=runner, check=True)  # a copy's stat data differ
    found = []
    for _ in ("fire", "idle"):
        env = {**cli_env(NOW), "PYTHONPATH": tree}
        done = timed(remediate(runner, "tick", "--format", "json"), runner, env)
        if done.code != 0:
            raise SystemExit(f"tick failed ({tree}): {done.err}")
        found.append((done.wall, done.cpu, len(json.loads(done.out)["fires"])))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trees", required=True, help="A,B: directories holding remediate")
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--history", default="0,1,50", help="fires recorded per schedule")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    trees = [str(Path(t).resolve()) for t in args.trees.split(",")]
    keep = Path(tempfile.mkdtemp(prefix="ab-tick-"))
    try:
        cases = {h: fixture(keep / f"history-{h}", args.schedules, h)
                 for h in (int(h) for h in args.history.split(","))}  # fmt: skip
        runs: dict[tuple[int, str, str], list[tuple[float, float, int]]] = {}
        for r in range(args.rounds):
            for h, pristine in cases.items():
                for tree in trees:
                    for kind, got in zip(("fire", "idle"), run(tree, pristine, keep / "work"),
                                         strict=True):  # fmt: skip
                        runs.setdefault((h, kind, tree), []).append(got)
            print(f"round {r + 1}: load {os.getloadavg()[0]:.2f}", flush=True)
        print(
            f"{'history':>7} {'tick':>4} {'fires':>5}  {'wall':>7} {'CPU':>7}  tree; runs wall/CPU"
        )
        for (h, kind, tree), got in runs.items():
            wall = statistics.median(w for w, _, _ in got)
            cpu = statistics.median(c for _, c, _ in got)
            each = " ".join(f"{w:.2f}/{c:.2f}" for w, c, _ in got)
            print(f"{h:>7} {kind:>4} {got[0][2]:>5}  {wall:6.3f}s {cpu:6.3f}s  {tree}; {each}")
    finally:
        shutil.rmtree(keep, ignore_errors=True)


if __name__ == "__main__":
    main()
