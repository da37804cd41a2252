"""`stats`, `signal`, `export csv` and `report` over a large audit, as whole processes.

    .venv/bin/python bench/bench_stats.py [--requests 250000] [--repeat 3]

The runner reads folded state from its checkpoint (`refs/remediate/checkpoint`, written
after every `apply`), so what these commands cost at scale is reading that checkpoint.
The bench writes one with the runner's own code (`service.checkpoint.save`) for N
synthesised request states of 4 events each (decide, claim, outcome, plus one more:
N = 250,000 is an audit of 1,000,000 events), mixed statuses over 8 environments and 60
days, on a real remote; then, in a fresh clone, times each command as a process (wall
seconds, peak RSS from wait4). Medians go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.runner_support import RUNNER, cli_env, clone, make_remote  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timed  # noqa: E402

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)
STATUSES = ("COMPLETED",) * 6 + ("FAILED", "PENDING_APPROVAL", "QUEUED", "REJECTED")


def states(n: int) -> dict[str, object]:
    from remediate.core.audit import RequestState
    from remediate.core.decision import Execution
    from remediate.core.times import iso

    out: dict[str, object] = {}
    for i in range(n):
        name = f"rem-{i:07d}"
        status = STATUSES[i % len(STATUSES)]
        at = NOW - timedelta(minutes=(i * 7) % (60 * 24 * 60))
        env = f"env-{i % 8}"
        failed = status == "FAILED"
        started = status in ("COMPLETED", "FAILED")
        out[name] = RequestState(
            name,
            status,
            content_hash="sha256:" + uuid.uuid5(uuid.NAMESPACE_URL, name).hex * 2,
            attempt=1,
            executions=(Execution(at, name, f"svc-{i % 50}", env, "noop", None, "LOW"),)
            if started
            else (),
            failures=int(failed),
            head="sha256:" + uuid.uuid4().hex * 2,
            created_at=iso(at - timedelta(minutes=5)),
            updated_at=iso(at),
            action_type="noop",
            environment=env,
            service_name=f"svc-{i % 50}",
            detail="Allowed by default."
            if status != "PENDING_APPROVAL"
            else "Needs 1 more approval from team:sre.",
            error="exited with status 1" if failed else None,
            performed_by=RUNNER,
            requester="dev@example.com",
            events=4,
            last_failure="exited with status 1" if failed else None,
            last_failed_at=iso(at) if failed else None,
            ids=tuple(str(uuid.uuid4()) for _ in range(4)),
        )
    return out


def build(tmp: Path, n: int) -> Path:
    from remediate.adapters.git_store import GitStore
    from remediate.core.commits import Person
    from remediate.core.snapshot import AuditSnapshot
    from remediate.service import checkpoint

    bare = make_remote(tmp)
    work = clone(tmp, bare, "writer")
    store = GitStore(work)
    head = store.fetch()
    snap = AuditSnapshot(head, [], [], 0, states(n))  # type: ignore[arg-type]
    started = time.perf_counter()
    assert checkpoint.save(store, snap, Person("remediate-bot", RUNNER), {})
    print(f"  checkpoint of {n} states written in {time.perf_counter() - started:.1f} s")
    return bare


# The command's own peak RSS (RUSAGE_SELF, printed last on stderr): wait4's figure for
# the process also counts the git processes it waited for (`cat-file --batch` maps the
# pack files, several hundred MB at this size), which are not the command's memory.
SELF = (
    "import resource, sys\n"
    "from remediate.cli import main\n"
    "try:\n    main(sys.argv[1:])\n"
    "finally:\n"
    "    print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def run(cwd: Path, *args: str) -> tuple[float, int, int]:
    """Wall seconds, the command's own peak RSS and that of the whole tree (MB)."""
    done = timed([sys.executable, "-c", SELF, *args, "--repo", str(cwd)], cwd, cli_env(), False)
    if done.code != 0:
        raise SystemExit(f"remediate {' '.join(args)} failed: {done.err[-800:]}")
    own = int(done.err.rsplit("maxrss", 1)[1].split()[0])
    return done.wall, own // 1024, int(done.rss)


COMMANDS = {
    "stats": ("stats", "--format", "json"),
    "signal": ("signal", "--format", "json"),
    "export csv (500)": ("export", "csv"),
    "export csv (all)": ("export", "csv", "--limit", "10000000"),
    "report (7d)": ("report", "--period", "7d"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    cache = HERE / ".data" / f"stats-v2-{args.requests}"  # v2: with summaries/
    if not (cache / "remote.git").exists():
        cache.mkdir(parents=True, exist_ok=True)
        build(cache, args.requests)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        work = clone(tmp, cache / "remote.git", "reader")
        run(work, "stats")  # fetches the checkpoint once, as any first command would
        results: dict[str, list[tuple[float, int, int]]] = {name: [] for name in COMMANDS}
        for _ in range(args.repeat):
            for name, argv in COMMANDS.items():
                results[name].append(run(work, *argv))
        print(f"{args.requests} requests ({args.requests * 4} events), median of {args.repeat}:")
        for name, found in results.items():
            wall = statistics.median(w for w, _, _ in found)
            own, tree = max(r for _, r, _ in found), max(t for *_, t in found)
            print(f"  {name:<18} {wall:6.2f} s   peak RSS {own} MB (with git: {tree} MB)")


if __name__ == "__main__":
    main()
