"""`make demo`: the whole remediate cycle on examples/quickstart, in a scratch repository.

It builds `.demo/` from scratch: a bare remote, a clone holding the quickstart
documents (committed by alice, the requester), then runs init, validate, plan,
apply, approve (as bob, an SRE), apply again, status and audit verify, printing
each command and what it said. Commands not yet built are skipped with a note.
No GitHub and no network are needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEMO = ROOT / ".demo"
REMEDIATE = [sys.executable, "-m", "remediate"]


def sh(*argv: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> int:
    shown = " ".join(a if a.startswith(("-", "/")) or " " not in a else repr(a) for a in argv)
    print(f"\n$ {shown}", flush=True)
    proc = subprocess.run(list(argv), cwd=cwd, env=env)
    if check and proc.returncode not in (0, 1):
        raise SystemExit(f"demo: {argv[0]} exited {proc.returncode}")
    return proc.returncode


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def available() -> set[str]:
    from remediate.cli import COMMANDS

    return set(COMMANDS)


def as_person(email: str) -> dict[str, str]:
    name = email.split("@")[0]
    return {
        **os.environ,
        "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email,
    }  # fmt: skip


def main() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    commands = available()
    remote, work = DEMO / "remote.git", DEMO / "work"
    git("init", "--bare", "--initial-branch=main", str(remote), cwd=DEMO)
    git("clone", str(remote), str(work), cwd=DEMO)
    git("config", "user.email", "alice@example.com", cwd=work)
    git("config", "user.name", "alice", cwd=work)

    print("== 1. init: scaffold a fresh remediation repository")
    sh(*REMEDIATE, "init", str(DEMO / "scaffold"), cwd=DEMO)
    sh(*REMEDIATE, "validate", "--repo", str(DEMO / "scaffold"), cwd=DEMO)

    print("\n== 2. the quickstart repository, committed by alice and pushed to a bare remote")
    shutil.copytree(HERE / "quickstart", work, dirs_exist_ok=True)
    git("add", "-A", cwd=work)
    git("commit", "-m", "Add quickstart remediation requests", cwd=work)
    git("push", "origin", "main", cwd=work)
    sh(*REMEDIATE, "validate", cwd=work)

    alice, bob, carol = (as_person(f"{n}@example.com") for n in ("alice", "bob", "carol"))
    steps: list[tuple[str, list[str], dict[str, str]]] = [
        ("plan", ["plan", "--now", "2026-11-23T10:00:00Z"], alice),
        ("apply", ["apply"], alice),
        ("status", ["status"], alice),
        ("approve", ["approve", "rem-2026-0042", "--reason", "rollback did not help"], bob),
        ("approve", ["approve", "rem-2026-0042"], carol),
        ("apply", ["apply"], alice),
        ("status", ["status"], alice),
        ("audit", ["audit", "verify"], alice),
    ]
    print(
        "\n== 3. the cycle: plan, apply, approve (bob and carol, two SREs), apply, status, audit verify"
    )
    for command, argv, env in steps:
        if command not in commands:
            print(f"\n(skipped `remediate {' '.join(argv)}`: not built yet)")
            continue
        # the acting identity is git's user.email, never a flag
        git("config", "user.email", env["GIT_AUTHOR_EMAIL"], cwd=work)
        sh(*REMEDIATE, *argv, cwd=work, env=env)
    git("config", "user.email", "alice@example.com", cwd=work)
    print("\n== done: the scratch repository is in .demo/work, its remote in .demo/remote.git")
    print("   git -C .demo/work log --format='%h %an / %cn: %s' shows the runner's commits")


if __name__ == "__main__":
    main()
