"""`make demo`: the whole remediate cycle on examples/quickstart, in a scratch repository.

It builds `.demo/` (or `--dir DIR`) from scratch: a bare remote, a clone holding the
quickstart documents (committed by alice, the requester), then runs init, validate,
plan, explain, apply, approve (as bob and carol, the two SREs), apply again, status and
audit verify, printing each command, who runs it, and what it said. No GitHub and no
network are needed.

`plan` and `explain` run as of a pinned time (REMEDIATE_NOW, a Monday morning in office
hours); `apply` and the approvals use the real clock, as a runner always does (an override
of the clock changes previews only). So that the story is the same whatever today's date,
the demo's copy of the quickstart has its holiday freeze moved to the end of 2099: from
2026-12-20 the real freeze would otherwise turn the SREs' approvals into overrides. Any
exit code other than the one a step expects stops the demo.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NOW = "2026-11-23T10:00:00Z"  # a Monday, 11:00 in Berlin
REMEDIATE = [sys.executable, "-m", "remediate"]  # shown as `remediate`
ROLES = {
    "alice@example.com": "requester, admin",
    "bob@example.com": "operator: team:sre",
    "carol@example.com": "operator: team:sre",
}


def environment(who: str) -> dict[str, str]:
    """The caller's environment without anything that would change the story (an ambient
    clock, GitHub or git identity variables), acting as `who` at the pinned time."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_", "REMEDIATE_"))
    }
    name = who.split("@")[0]
    env.update(
        REMEDIATE_NOW=NOW,
        GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=who,
        GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=who,
    )  # fmt: skip
    return env


def step(argv: list[str], cwd: Path, who: str, expect: int = 0) -> None:
    """Run `remediate ARGV` in `cwd` as `who`; stop the demo on any other exit code."""
    shown = shlex.join(["remediate", *argv])
    print(f"\n$ {shown}    # as {who} ({ROLES.get(who, 'nobody in particular')})", flush=True)
    if (cwd / ".git").exists():  # the acting identity is git's user.email, never a flag
        git("config", "user.email", who, cwd=cwd)
    code = subprocess.run([*REMEDIATE, *argv], cwd=cwd, env=environment(who)).returncode
    if code != expect:
        raise SystemExit(f"demo: `{shown}` exited {code}, expected {expect}")


def git(*args: str, cwd: Path, who: str = "alice@example.com") -> None:
    subprocess.run(
        ["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, env=environment(who)
    )


# The quickstart's end-of-year freeze (its policy and the policy test of it), moved to
# 2099 in the demo's copy: apply reads the real clock, and the story must not change with it.
FREEZE_FILES = ("policies/holiday-freeze.yaml", "policies/tests/baseline.yaml")
FREEZE_DATES = {"2026-12-2": "2099-12-2", "2027-01-04": "2100-01-04"}


def freeze_ahead(work: Path) -> None:
    for name in FREEZE_FILES:
        path = work / name
        text = moved = path.read_text()
        for old, new in FREEZE_DATES.items():
            moved = moved.replace(old, new)
        if moved == text:
            raise SystemExit(f"demo: {name} holds none of the freeze's dates: update FREEZE_DATES")
        path.write_text(moved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo", help="scratch directory")
    demo = parser.parse_args().dir.resolve()
    shutil.rmtree(demo, ignore_errors=True)
    demo.mkdir(parents=True)
    remote, work = demo / "remote.git", demo / "work"
    alice, bob, carol = (f"{n}@example.com" for n in ("alice", "bob", "carol"))
    print(
        f"plan and explain run as of {NOW} (REMEDIATE_NOW); apply and approve use the real "
        "clock, and this copy of the quickstart has its holiday freeze moved to 2099, so the "
        "story is the same whatever today's date."
    )

    print("\n== 1. init: scaffold a fresh remediation repository")
    step(["init", "scaffold"], cwd=demo, who=alice)
    step(["validate", "--repo", "scaffold"], cwd=demo, who=alice)

    print("\n== 2. the quickstart repository, committed by alice and pushed to a bare remote")
    git("init", "--quiet", "--bare", "--initial-branch=main", str(remote), cwd=demo)
    git("init", "--quiet", "--initial-branch=main", str(work), cwd=demo)
    git("remote", "add", "origin", str(remote), cwd=work)
    git("config", "user.name", "alice", cwd=work)
    shutil.copytree(HERE / "quickstart", work, dirs_exist_ok=True)
    freeze_ahead(work)
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", "Add quickstart remediation requests", cwd=work)
    git("push", "--quiet", "--set-upstream", "origin", "main", cwd=work)
    step(["validate"], cwd=work, who=alice)

    print("\n== 3. what would happen, and who must approve")
    step(["plan"], cwd=work, who=alice)
    step(["explain", "rem-2026-0042"], cwd=work, who=alice)

    print("\n== 4. apply: record the decisions, run what is allowed (the staging request)")
    step(["apply"], cwd=work, who=alice)
    step(["status"], cwd=work, who=alice)

    print("\n== 5. the two SREs approve the production request; the next apply runs it")
    step(["approve", "rem-2026-0042"], cwd=work, who=bob)
    step(["approve", "rem-2026-0042"], cwd=work, who=carol)
    step(["apply"], cwd=work, who=alice)
    step(["status"], cwd=work, who=alice)
    step(["audit", "verify"], cwd=work, who=alice)

    git("config", "user.email", alice, cwd=work)
    shown = demo.relative_to(ROOT) if demo.is_relative_to(ROOT) else demo
    print(f"\n== done: the scratch repository is in {shown}/work, its remote in {shown}/remote.git")
    print(f"   git -C {shown}/work log --format='%h %an / %cn: %s' shows the runner's commits")


if __name__ == "__main__":
    main()
