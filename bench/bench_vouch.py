"""What a new vouch costs the run that first reads it (`runtime._vouched`), on a branch
with a long history: the whole history walked again (before: `at_commit.trusted` from
the tip's own record, which cannot place a vouch for a commit older than the tip), or
only the versions back to the oldest commit the vouch names (`at_commit.revouched`).

    .venv/bin/python bench/bench_vouch.py [--commits 20000] [--repeat 5]

A real repository (settings and a policy by an admin, `--commits` commits of other files
made with `git fast-import`, then a merge commit changing the policy) and one vouch for
that merge; both ways are timed alternately in this one process, wall and CPU time (this
process and its git children), and their answers compared.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.runner_support import git
from tests.test_automation_from import ADMIN, DEV, SETTINGS, commit

from remediate.adapters.git_tree import GitTree
from remediate.core.automation import Trusted, Vouch, Voucher
from remediate.documents.commit import AtCommit
from remediate.service import at_commit


def filler(repo: Path, count: int) -> None:
    """`count` commits on main, each changing notes/<n % 100>.txt (no automation file)."""
    lines = []
    for n in range(count):
        data = f"note {n}\n"
        lines.append(f"commit refs/heads/main\ncommitter Dave <{DEV}> {1_700_000_000 + n} +0000\n")
        lines.append("data 1\nn\n" + ("from refs/heads/main^0\n" if n == 0 else ""))
        lines.append(f"M 100644 inline notes/{n % 100}.txt\ndata {len(data)}\n{data}\n")
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo, input="".join(lines).encode(), check=True
    )
    git(repo, "reset", "--quiet", "--hard", "main")


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], Trusted]) -> tuple[Trusted, float, float]:
    wall, used = time.perf_counter(), cpu()
    found = fn()
    return found, time.perf_counter() - wall, cpu() - used


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        git(Path(tmp), "init", "--quiet", "-b", "main", str(repo))
        commit(repo, {"remediate.yaml": SETTINGS, "policies/p.yaml": "# 0\n"}, ADMIN)
        filler(repo, args.commits)
        git(repo, "checkout", "--quiet", "-b", "pr")
        commit(repo, {"policies/p.yaml": "# reviewed\n"}, DEV)
        git(repo, "checkout", "--quiet", "main")
        git(repo, "merge", "--quiet", "--no-ff", "-m", "Merge pull request #8", "pr", email=DEV)
        tip = git(repo, "rev-parse", "HEAD")
        commits = AtCommit(repo, GitTree(repo))
        blob = git(repo, "rev-parse", f"{tip}:policies/p.yaml")
        vouch = Vouch("v1", 8, tip, (tip,), {"policies/p.yaml": blob}, (Voucher(ADMIN),))
        record = at_commit.trusted(commits, tip).record  # the tip's record, without it
        assert record is not None

        def before() -> Trusted:  # runtime._vouched as it was
            return at_commit.trusted(commits, tip, (tip, record), [vouch])

        def after() -> Trusted:
            return at_commit.revouched(commits, tip, record, [vouch])

        rows: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
        answers = set()
        for _ in range(args.repeat):
            for name, fn in (("before", before), ("after", after)):
                found, wall, used = timed(fn)
                answers.add(repr(found))
                rows[name].append((wall, used))
        assert len(answers) == 1, "the two ways answered differently"
        assert "policies/p.yaml" not in before().use  # the vouched version counts
        assert "policies/p.yaml" in at_commit.trusted(commits, tip).use  # held back without
        print(f"history: {args.commits + 3} commits; one vouch for the merge at the tip")
        for name, found_rows in rows.items():
            walls = [w for w, _ in found_rows]
            cpus = [c for _, c in found_rows]
            print(
                f"{name}: wall median {statistics.median(walls) * 1000:.1f} ms"
                f" (min {min(walls) * 1000:.1f}, max {max(walls) * 1000:.1f}),"
                f" CPU median {statistics.median(cpus) * 1000:.1f} ms, n={len(walls)}"
            )
        print(f"same answer both ways: yes; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
