"""Benchmark `remediate validate` against check-jsonschema, and CLI start-up.

    .venv/bin/python bench/bench_validate.py [--rounds 3] [--requests 10000]

Side by side in one run, alternating so that machine noise hits both:
- `remediate validate` on the synthetic repository (all layers: strict YAML,
  envelope, kind schema, parameters against ActionTypes, references);
- check-jsonschema validating the same request files against the same
  schema (`schemas/remediation-request.schema.json`), in one invocation;
- `remediate --help` start-up, against bare `python -c pass`.
Prints medians and ratios; the figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402


def timed(argv: list[str], expect: int = 0) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != expect:
        raise SystemExit(f"{argv[0]} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--startup-runs", type=int, default=20)
    args = parser.parse_args()

    repo = HERE / ".data" / f"repo{args.requests}"
    if not (repo / "remediations").is_dir():
        generate(repo, args.requests)
    requests = sorted(str(p) for p in (repo / "remediations").rglob("*.yaml"))
    schema = ROOT / "schemas" / "remediation-request.schema.json"
    remediate = [str(BIN / "remediate"), "validate", "--repo", str(repo)]
    # each schema file is self-contained: no --base-uri, no network
    checker = [str(BIN / "check-jsonschema"), "--schemafile", str(schema), *requests]

    ours, theirs = [], []
    for _ in range(args.rounds):
        ours.append(timed(remediate))
        theirs.append(timed(checker))
        print(
            f"  round: remediate {ours[-1]:.2f} s, check-jsonschema {theirs[-1]:.2f} s", flush=True
        )
    help_runs, bare_runs = [], []
    for _ in range(args.startup_runs):
        help_runs.append(timed([str(BIN / "remediate"), "--help"]))
        bare_runs.append(timed([sys.executable, "-c", "pass"]))

    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    m_help, m_bare = statistics.median(help_runs), statistics.median(bare_runs)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"files: {len(requests)} requests (+ {sum(1 for _ in repo.rglob('*.yaml')) - len(requests)} other documents)"
    )
    print(f"remediate validate      median {m_ours:.2f} s over {args.rounds} rounds")
    print(f"check-jsonschema        median {m_theirs:.2f} s over {args.rounds} rounds")
    print(f"ratio                   {m_theirs / m_ours:.1f}x faster (target: 8x)")
    print(
        f"remediate --help        median {m_help * 1000:.0f} ms (python -c pass: {m_bare * 1000:.0f} ms; target < 100 ms)"
    )


if __name__ == "__main__":
    main()
