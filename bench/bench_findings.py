"""`import sarif` of a large SARIF file, and re-importing it, as whole processes.

    .venv/bin/python bench/bench_findings.py [--results 10000] [--repeat 3]

Each round starts from a fresh remote and clone (tests/runner_support) and times, as
processes (wall seconds, peak RSS from wait4):

- `import sarif` of a synthesised SARIF 2.1.0 log of N results (bandit-shaped: 500 files,
  20 rules, a region snippet each, levels mixed), every result a new finding;
- `import sarif` of the same file again (every finding unchanged: one scan event);
- `import sarif` of a changed file: 10 % of the results moved down their file, 5 % gone
  (resolved), 5 % new;
- `findings list --limit 100` and `findings events --limit 100` after them, then
  `findings events --since T` (T: just before the last import: a poller's next page) and
  `findings events` (every event); then the same three imports hours apart (in this
  process, the runner's clock set through the Clock port) and the feed's `--limit 100` and
  `--since` (the last import) on them.

Medians go to docs/performance.md (target: import and re-import of 10,000 results < 5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.runner_support import OPERATOR, cli_env, clone, make_remote  # noqa: E402
from tests.sessions import session  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from remediate.service.importer import import_sarif  # noqa: E402
from timing import remediate, timed  # noqa: E402

# The spread rounds: the same three imports, run in this process with the runner's clock
# at these times (the Clock port), so that the feed's files are hours apart.
SPREAD = ("2026-11-23T06:00:00.000Z", "2026-11-23T09:00:00.000Z", "2026-11-23T12:00:00.000Z")

RULES = [f"B{600 + i}" for i in range(20)]
LEVELS = ("error", "warning", "note")


def log(n: int, moved: float = 0.0, gone: float = 0.0, new: float = 0.0) -> dict[str, Any]:
    results = []
    shift_every = int(1 / moved) if moved else 0
    drop_every = int(1 / gone) if gone else 0
    for i in range(n):
        if drop_every and i % drop_every == 1:
            continue
        line = 10 + (i // 500) * 3 + (7 if shift_every and i % shift_every == 0 else 0)
        results.append(_result(i, line))
    for j in range(int(n * new)):
        results.append(_result(n + j, 5))
    return {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "Bandit",
                        "rules": [{"id": r, "name": f"rule {r}"} for r in RULES],
                    }
                },
                "results": results,
            }
        ],
    }


def _result(i: int, line: int) -> dict[str, Any]:
    rule = RULES[i % len(RULES)]
    return {
        "ruleId": rule,
        "ruleIndex": RULES.index(rule),
        "level": LEVELS[i % 3],
        "message": {"text": f"{rule}: possible issue in call number {i}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": f"src/pkg{i % 50}/module{i % 500}.py"},
                    "region": {
                        "startLine": line,
                        "endLine": line,
                        "snippet": {"text": f"    value_{i} = dangerous_call(arg_{i})\n"},
                    },
                }
            }
        ],
        "properties": {"issue_confidence": "HIGH", "issue_severity": "MEDIUM"},
    }


def run_timed(repo: Path, *args: str) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds of it and the git it waited for, peak RSS MiB, stdout) of `remediate ARGS --repo repo`."""
    done = timed(remediate(repo, *args), repo, cli_env())
    if done.code != 0:
        raise SystemExit(f"remediate {' '.join(args)} failed: {done.err}")
    return done.wall, done.cpu, done.rss, done.out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        first = tmp / "first.sarif"
        first.write_text(json.dumps(log(args.results)))
        changed = tmp / "changed.sarif"
        changed.write_text(json.dumps(log(args.results, moved=0.1, gone=0.05, new=0.05)))
        size = first.stat().st_size
        for round_ in range(args.repeat):
            base = tmp / f"round-{round_}"
            base.mkdir()
            bare = make_remote(base)
            repo = clone(base, bare, "ops", OPERATOR)
            steps = [
                ("import (new)", ("import", "sarif", str(first), "--format", "json")),
                ("re-import (unchanged)", ("import", "sarif", str(first), "--format", "json")),
                (
                    "import (10% moved, 5% gone, 5% new)",
                    ("import", "sarif", str(changed), "--format", "json"),
                ),
                (
                    "findings list --limit 100",
                    ("findings", "list", "--limit", "100", "--format", "json"),
                ),
                (
                    "findings events --limit 100",
                    ("findings", "events", "--limit", "100", "--format", "json"),
                ),
                (
                    "findings events --since (the last import)",
                    ("findings", "events", "--since", "@SINCE@", "--format", "json"),
                ),
                ("findings events (all)", ("findings", "events", "--format", "json")),
            ]
            since = ""
            for name, argv in steps:
                if name.startswith("import (10%"):
                    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                    time.sleep(0.01)
                argv = tuple(since if a == "@SINCE@" else a for a in argv)
                wall, cpu, rss, out = run_timed(repo, *argv)
                rows.setdefault(name, []).append((wall, cpu, rss))
                if name.startswith(("import", "re-import")):
                    print(
                        f"  {name}: {wall:.2f} s ({cpu:.2f} s CPU), {rss:.0f} MiB: {json.loads(out)['scans'][0]}"
                    )
        for round_ in range(args.repeat):  # the same imports, hours apart (the Clock port)
            base = tmp / f"spread-{round_}"
            base.mkdir()
            repo = clone(base, make_remote(base), "ops", OPERATOR)
            for at, path in ((SPREAD[0], first), (SPREAD[1], first), (SPREAD[2], changed)):
                import_sarif(session(repo, now=at), [path])
            for name, argv in (
                (
                    "hours apart: findings events --limit 100",
                    ("findings", "events", "--limit", "100", "--format", "json"),
                ),
                (
                    "hours apart: findings events --since (the last import)",
                    ("findings", "events", "--since", SPREAD[2], "--format", "json"),
                ),
            ):
                wall, cpu, rss, _ = run_timed(repo, *argv)
                rows.setdefault(name, []).append((wall, cpu, rss))
    print(f"\n{args.results} results ({size / 1e6:.1f} MB of SARIF), medians of {args.repeat}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print("| step | wall s (median) | CPU s (median) | peak RSS MiB |")
    print("|---|---|---|---|")
    for name, values in rows.items():
        wall, cpu, rss = (statistics.median(v[i] for v in values) for i in range(3))
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
