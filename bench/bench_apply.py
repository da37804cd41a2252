"""Runner benchmarks: `apply` overhead per no-op action, and racing runners on one remote.

    .venv/bin/python bench/bench_apply.py [--actions 1000] [--race-actions 500] [--runners 8]
                                         [--repeat 3] [--race-repeat 1]

Scenario 1 runs `apply` in-process on N queued requests whose action is the
`command` executor running `true`; the time spent inside executors is
measured and subtracted, so "overhead per action" is what the runner itself
costs (loading documents, deciding, claiming, committing, pushing). Two parts of
it are timed on their own: deciding each request again at claim time
(`decide.before_claim`, in `select` and in the claim batch), and reading the
documents from the fetched commit rather than the working tree (the commit load
of `runtime.load`, compared with the working-tree loader on the same checkout).
Scenario 2 starts R `remediate apply` processes at once, each in its own
clone of one bare remote holding M requests, then checks that every action
ran exactly once, that every event is on the remote, and that `audit verify`
passes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.runner_support import (
    NOW,
    action_yaml,
    clone,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
    start,
)


def overhead(actions: int) -> dict[str, float]:
    from remediate import wiring
    from remediate.service.apply import apply

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        requests = {
            f"rem-{i:05d}": request_yaml(f"rem-{i:05d}", service=f"svc-{i % 50}")
            for i in range(actions)
        }
        bare = make_remote(tmp, actions={"noop": action_yaml("noop", ["true"])}, requests=requests)
        repo = clone(tmp, bare, "runner")
        inside = [0.0]
        session = wiring.session(repo, {**os.environ, "REMEDIATE_NOW": NOW})
        real = session.backend

        class Timed:
            """The real execution backend, timed: what executors cost is not overhead."""

            def run(self, context: object) -> object:
                started = time.perf_counter()
                try:
                    return real.run(context)  # type: ignore[arg-type]
                finally:
                    inside[0] += time.perf_counter() - started

        session.backend = Timed()  # type: ignore[assignment]
        timers = _timed_parts()
        started = time.perf_counter()
        report = apply(session, "bench@example.com", concurrency=1)
        wall = time.perf_counter() - started
        _untime(timers)
        assert len(report.executed) == actions, report.skipped[:3]
        tree = _work_tree_load(session)
        commit = sum(float(timers[n][1]) for n in ("documents", "trusted", "settings_at"))  # type: ignore[arg-type]
        return {
            "wall_s": wall,
            "executor_s": inside[0],
            "overhead_ms_per_action": (wall - inside[0]) / actions * 1000,
            "redecide_at_claim_ms_per_action": timers["before_claim"][1] / actions * 1000,
            "commit_load_s": commit,
            "work_tree_load_s": tree,
            "commit_read_extra_ms_per_action": (commit - tree) / actions * 1000,
            "commits": report.stats.commits,
            "pushes": report.stats.pushes,
        }


def _timed_parts() -> dict[str, list[object]]:
    """Wrap the claim-time re-decision and the commit load with timers (module attributes,
    so every caller of them is timed); `_untime` puts the originals back."""
    from remediate.service import at_commit
    from remediate.service.apply import pipeline, select

    found: dict[str, list[object]] = {}
    parts = [("before_claim", (pipeline, select))]
    parts += [(name, (at_commit,)) for name in ("documents", "trusted", "settings_at")]
    for name, modules in parts:
        original = getattr(modules[0], name)
        found[name] = [original, 0.0, modules]

        def timed(*args: object, _name: str = name, _f: object = original) -> object:
            started = time.perf_counter()
            try:
                return _f(*args)  # type: ignore[operator]
            finally:
                found[_name][1] = float(found[_name][1]) + time.perf_counter() - started  # type: ignore[arg-type]

        for module in modules:
            setattr(module, name, timed)
    return found


def _untime(found: dict[str, list[object]]) -> None:
    for name, (original, _, modules) in found.items():
        for module in modules:  # type: ignore[attr-defined]
            setattr(module, name, original)


def _work_tree_load(session: object) -> float:
    """What `runtime.load` cost when it read the working tree: settings, then every
    document (the same checkout, nothing skipped: the checkpoint is new at this point)."""
    from remediate.core.model import build_repository

    started = time.perf_counter()
    build_repository(session.documents.load_paths(()))  # type: ignore[attr-defined]
    session.documents.load_report()  # type: ignore[attr-defined]
    return time.perf_counter() - started


def race(actions: int, runners: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "executions.log"
        argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
        names = [f"rem-{i:05d}" for i in range(actions)]
        bare = make_remote(
            tmp,
            actions={"noop": action_yaml("noop", argv)},
            requests={n: request_yaml(n, service=f"svc-{i % 50}") for i, n in enumerate(names)},
        )
        clones = [clone(tmp, bare, f"runner-{i}") for i in range(runners)]
        started = time.perf_counter()
        procs = [start(c, "apply", "--format", "json") for c in clones]
        outs = [p.communicate(timeout=1800) for p in procs]
        wall = time.perf_counter() - started
        reports = [json.loads(out) for out, _ in outs]
        counts = Counter(log.read_text().split())
        events = remote_events(tmp, bare)
        verify = remediate(clone(tmp, bare, "verify"), "audit", "verify")
        missing = [n for n in names if counts[n] == 0]
        completed = Counter(e["requestId"] for e in events if e["to"] == "COMPLETED")
        return {
            "wall_s": wall,
            "rejected_pushes": sum(r["rejectedPushes"] for r in reports),
            "pushes": sum(r["pushes"] for r in reports),
            "duplicates": sum(c - 1 for c in counts.values() if c > 1),
            "not_executed": len(missing),
            "lost_events": sum(1 for n in names if completed[n] != 1),
            "events": len(events),
            "verify_clean": float(verify.returncode == 0),
            "exit_codes_ok": float(all(p.returncode == 0 for p in procs)),
        }


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=1000)
    parser.add_argument("--race-actions", type=int, default=500)
    parser.add_argument("--runners", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--race-repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if args.actions:
        runs = [overhead(args.actions) for _ in range(args.repeat)]
        print(f"apply, {args.actions} queued no-op actions, {args.repeat} runs, medians:")
        print(json.dumps(medians(runs), indent=2))
    if args.race_actions:
        runs = [race(args.race_actions, args.runners) for _ in range(args.race_repeat)]
        print(
            f"{args.runners} racing runners, {args.race_actions} queued actions, "
            f"{args.race_repeat} run(s), medians:"
        )
        print(json.dumps(medians(runs), indent=2))


if __name__ == "__main__":
    main()
