"""How command cost grows with history: the same commands on audits of 100 … N completed requests.

    .venv/bin/python bench/bench_history.py [--sizes 100,1000,10000] [--repeat 3]

For each size, a bare remote with that many completed requests comes from
`bench/generate_history.py` (cached under bench/.data/history-N). Then, in
fresh clones, side by side and alternating over the sizes so that machine
noise hits all of them:
- `status` (all requests) and `status ID` (one), with `--format json`, and `status` in a
  checkout not pulled since the runner's next run (HEAD behind its checkpoint);
- `plan --base HEAD~1` after a commit that adds one request, and again once the runner
  has run since the branch was made (a pull request behind the runner's checkpoint);
- `apply` with one new request (pushed by a person first), in a full clone
  and in a shallow one (`git clone --depth 1`, the `actions/checkout` default);
- `audit verify`;
each timed as a whole process (wall seconds, and CPU seconds of it and the git it ran:
the machine is shared, and CPU time moves far less with its load) with its peak RSS
(wait4), plus
the number of refs on the remote. Prints medians; the figures go into
docs/performance.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from tests.runner_support import OPERATOR, REQUESTER, cli_env, git, request_yaml  # noqa: E402

from generate_history import GENERATOR, checkpoint, generate  # noqa: E402
from timing import remediate, timed  # noqa: E402

Sample = tuple[float, float, int]  # wall seconds, CPU seconds, peak RSS (MB)


def run(cwd: Path, *args: str, expect: tuple[int, ...] = (0,)) -> Sample:
    """Wall seconds, CPU seconds (user + system of the process and of every child it
    waited for: git) and peak RSS (MB) of one `remediate` process; NaN seconds if it
    failed with an exit code in `expect` other than 0 (shown as the failure it is)."""
    done = timed(remediate(cwd, *args), cwd, cli_env(), keep_out=False)
    if done.code not in expect:
        raise SystemExit(f"remediate {' '.join(args)} exited {done.code}: {done.err[-800:]}")
    if done.code != 0:
        print(f"    remediate {args[0]} exited {done.code}: {done.err.splitlines()[0][:160]}")
        return float("nan"), done.cpu, int(done.rss)
    return done.wall, done.cpu, int(done.rss)


def fresh_clone(tmp: Path, bare: Path, name: str, depth: int | None = None) -> Path:
    target = tmp / name
    extra = ["--depth", str(depth)] if depth else []
    source = bare.as_uri() if depth else str(bare)  # --depth needs a real transport
    git(tmp, "clone", "--quiet", *extra, source, str(target))
    git(target, "config", "user.email", OPERATOR)
    git(target, "config", "user.name", "ops")
    return target


def add_request(repo: Path, name: str, push: bool) -> None:
    (repo / "remediations" / f"{name}.yaml").write_text(request_yaml(name, service="svc-new"))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", f"Add {name}", email=REQUESTER)
    if push:
        git(repo, "push", "--quiet", "origin", "HEAD:main")


def one_round(pristine: Path, tmp: Path, size: int) -> dict[str, Sample]:
    """Every measured command once, on a copy of the pristine remote."""
    bare = tmp / f"remote-{size}.git"
    shutil.rmtree(bare, ignore_errors=True)
    shutil.copytree(pristine, bare)
    out: dict[str, Sample] = {}
    reader = fresh_clone(tmp, bare, f"read-{size}")
    behind = fresh_clone(tmp, bare, f"behind-{size}")  # not pulled after the runner's next run
    out["status"] = run(reader, "status", "--format", "json")
    out["status ID"] = run(reader, "status", "rem-000000-0", "--format", "json")
    out["audit verify"] = run(reader, "audit", "verify")
    add_request(reader, "rem-plan-1", push=False)
    out["plan --base"] = run(reader, "plan", "--base", "HEAD~1", "--format", "json")
    # a pull request branched before the runner's last run: HEAD is behind its checkpoint
    person = fresh_clone(tmp, bare, f"person-{size}")
    add_request(person, "rem-ahead-1", push=True)
    runner = fresh_clone(tmp, bare, f"runner-{size}")
    run(runner, "apply")
    out["plan --base (behind)"] = run(reader, "plan", "--base", "HEAD~1", "--format", "json")
    # a checkout whose HEAD is behind the runner's checkpoint (its commit is later than HEAD)
    out["status (behind)"] = run(behind, "status", "--format", "json")
    for done in (reader, person, runner, behind):
        shutil.rmtree(done)
    for kind, depth in (("apply (full clone)", None), ("apply (shallow clone)", 1)):
        shutil.rmtree(bare)
        shutil.copytree(pristine, bare)
        person = fresh_clone(tmp, bare, f"person-{size}")
        add_request(person, "rem-new-1", push=True)
        runner = fresh_clone(tmp, bare, f"runner-{size}", depth)
        out[kind] = run(runner, "apply", expect=(0, 1) if depth else (0,))
        shutil.rmtree(person)
        shutil.rmtree(runner)
    refs = git(bare, "for-each-ref", "--format=%(refname)").split()
    out["remote refs"] = (float(len(refs)), 0.0, 0)
    return out


# What a cached remote's last runner run left: the checkpoint this version writes (its
# format is the code that writes it, so the stamp holds that code's digest: a cache made
# by an older version is brought up to date before anything is measured, never paid for
# inside a measured command), claim refs pruned.
def _runner_state() -> str:
    src = HERE.parent / "src" / "remediate"
    digest = hashlib.sha256()
    for part in ("core/checkpoint.py", "service/checkpoint.py", "core/automation.py"):
        digest.update((src / part).read_bytes())
    return f"checkpoint of {digest.hexdigest()[:16]}; claim refs pruned\n"


RUNNER_STATE = _runner_state()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    remotes = {}
    for size in sizes:
        cached = HERE / ".data" / f"history-{size}"
        made_by = cached / "generator"
        if not made_by.is_file() or made_by.read_text() != GENERATOR:
            started = time.perf_counter()
            generate(cached, size)
            print(f"generated {size} completed requests in {time.perf_counter() - started:.1f} s")
            (cached / "runner-state").write_text(RUNNER_STATE)  # its last run: this version's
        remotes[size] = cached / "remote.git"
        stamp = cached / "runner-state"
        if not stamp.is_file() or stamp.read_text() != RUNNER_STATE:
            # cached by an older version: leave what this version's runner leaves after its
            # last run (a checkpoint recording settled request files, claim refs pruned)
            git(remotes[size], "update-ref", "-d", "refs/remediate/checkpoint")
            with tempfile.TemporaryDirectory() as tmp_name:
                checkpoint(Path(tmp_name), remotes[size])
            stamp.write_text(RUNNER_STATE)
    # The commands run with PYTHONDONTWRITEBYTECODE (cli_env): byte-compile the package
    # first, as an installed one is, or every module edited since the last compile is
    # compiled again in every measured process.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
    results: dict[int, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory() as tmp_name:
        for r in range(args.repeat):
            for size in sizes:
                for key, value in one_round(remotes[size], Path(tmp_name), size).items():
                    results[size][key].append(value)
                print(f"  round {r + 1}, {size}: done", flush=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(
        f"medians of {args.repeat} rounds: wall seconds, CPU seconds (user + system, with "
        "git's), peak RSS"
    )
    keys = list(results[sizes[0]])
    print("| command | " + " | ".join(f"{s:,} completed" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for key in keys:
        cells = []
        for size in sizes:
            samples = results[size][key]
            wall = statistics.median(w for w, _, _ in samples)
            cpu = statistics.median(c for _, c, _ in samples)
            rss = max(m for _, _, m in samples)
            if key == "remote refs":
                cells.append(f"{wall:.0f}")
            elif wall != wall:  # NaN: the command failed
                cells.append(f"fails (exit 1) ({rss} MB)")
            else:
                cells.append(f"{wall:.2f} s, {cpu:.2f} s CPU ({rss} MB)")
        print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
