"""One `remediate` command in one checkout, two source trees side by side, alternating.

    .venv/bin/python bench/ab_command.py --trees /tmp/old/src,src --repo CLONE \
        [--rounds 10] -- status --format json

Each round runs the command once with each tree first on PYTHONPATH (a tree is a
directory holding the `remediate` package, e.g. a `git worktree` of another commit's
`src`), so that machine noise hits both alike; both are byte-compiled first. Prints the
median wall and CPU seconds (with the git it waited for) and the fastest wall of each.
The command must not change the checkout (a read command).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from tests.runner_support import cli_env  # noqa: E402

from timing import remediate, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trees", required=True, help="A,B: directories holding remediate")
    parser.add_argument("--repo", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    trees = [str(Path(t).resolve()) for t in args.trees.split(",")]
    for tree in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", tree], check=True)
    found: dict[str, list[tuple[float, float]]] = {tree: [] for tree in trees}
    for _ in range(args.rounds):
        for tree in trees:
            env = {**cli_env(), "PYTHONPATH": tree}
            done = timed(remediate(args.repo, *args.command), args.repo, env, keep_out=False)
            if done.code != 0:
                raise SystemExit(f"{tree}: exit {done.code}: {done.err[-800:]}")
            found[tree].append((done.wall, done.cpu))
    for tree, runs in found.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(
            f"{tree}: wall {wall:.3f} s, CPU {cpu:.3f} s, fastest {min(w for w, _ in runs):.3f} s"
        )


if __name__ == "__main__":
    main()
