"""`remediate github` on a `pull_request` event against the fake GitHub: REST calls and
wall time, for a pull request adding 1 request and one adding 50.

    .venv/bin/python bench/bench_github.py [--repeat 5]

Each run is a fresh `remediate github` process (start-up included) on a real clone, the
fake GitHub (tests/fake_github.py, every answer checked against GitHub's OpenAPI) on
loopback in this process. The first run of a pull request creates the sticky comment,
later ones (synchronize) find and edit it. Targets (issue 10): at most 8 calls and
1.5 s for one request; at most 12 calls for 50 (no call per request).

Bytecode is compiled first (`compileall` of src/ and the venv's site-packages, as `pip
install` does for the composite action): the CLI's environment sets
PYTHONDONTWRITEBYTECODE, so on a fresh venv every run would otherwise compile the
modules it imports (~0.3 s measured). The import cost is measured separately: the
reference rows time `import github` (PyGithub), `import remediate.cli` and `remediate
plan` on the same repository.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest
from tests.fake_github import FakeGitHub
from tests.github_world import World, request
from tests.runner_support import cli_env


def run(world: World, number: int, action: str) -> tuple[int, float]:
    world.pull_event(number, action)
    env = cli_env(
        GITHUB_EVENT_NAME="pull_request",
        GITHUB_EVENT_PATH=os.environ["GITHUB_EVENT_PATH"],
        GITHUB_REPOSITORY=world.fake.repository,
        GITHUB_API_URL=world.fake.url,
        GITHUB_TOKEN="tok",
    )
    before = len(world.fake.calls)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "remediate", "github", "--repo", str(world.work)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"remediate github failed: {done.stdout}{done.stderr}")
    return len(world.fake.calls) - before, elapsed


def compile_bytecode() -> None:
    import compileall
    import site

    root = Path(__file__).resolve().parent.parent
    for where in [root / "src", *map(Path, site.getsitepackages())]:
        compileall.compile_dir(str(where), quiet=2, workers=2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    compile_bytecode()
    fake = FakeGitHub().start()
    patch = pytest.MonkeyPatch()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            world = World(Path(tmp), fake, patch, lambda *a: None)  # type: ignore[arg-type]
            world.open_pr(1, {"remediations/r1.yaml": request("rem-1")})
            many = {f"remediations/r{i}.yaml": request(f"rem-{i}") for i in range(50)}
            world.open_pr(2, many)
            for number, label in ((1, "1 request"), (2, "50 requests")):
                calls, times = [], []
                for i in range(args.repeat):
                    n, t = run(world, number, "opened" if i == 0 else "synchronize")
                    calls.append(n)
                    times.append(t)
                print(
                    f"{label}: REST calls first run {calls[0]}, later runs {max(calls[1:] or calls)};"
                    f" wall time median {statistics.median(times):.3f} s"
                    f" (min {min(times):.3f}, max {max(times):.3f}, n={len(times)})"
                )
            for label, argv in (
                (
                    "reference: python -c 'import github' (PyGithub's import)",
                    ["-c", "import github"],
                ),
                (
                    "reference: python -c 'import remediate.cli' (the CLI's own start-up)",
                    ["-c", "import remediate.cli"],
                ),
                (
                    "reference: remediate plan (the same repository)",
                    ["-m", "remediate", "plan", "--repo", str(world.work)],
                ),
            ):
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    subprocess.run(
                        [sys.executable, *argv], env=cli_env(), capture_output=True, check=True
                    )
                    times.append(time.perf_counter() - start)
                print(f"{label}: median {statistics.median(times):.3f} s (n={len(times)})")
            print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        patch.undo()
        fake.stop()
    if fake.invalid:
        raise SystemExit(f"the fake answered outside the OpenAPI description: {fake.invalid}")


if __name__ == "__main__":
    main()
