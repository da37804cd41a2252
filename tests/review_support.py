"""What the review's reproductions share: a remote whose one action logs the requests it
ran, a person adding a request, and the log read back."""

from __future__ import annotations

from pathlib import Path

from tests.runner_support import action_yaml, git, make_remote, request_yaml, write_requests


def add_request(work: Path, name: str) -> None:
    git(work, "pull", "--quiet", "--rebase")
    write_requests(work, {name: request_yaml(name, service=f"svc-{name}")})
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", f"Add {name}")
    git(work, "push", "--quiet", "origin", "HEAD:main")


def ran(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def logging_remote(tmp: Path, log: Path) -> Path:
    argv = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    return make_remote(
        tmp, actions={"noop": action_yaml("noop", argv)}, requests={"r1": request_yaml("r1")}
    )
