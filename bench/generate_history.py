"""A remediation repository with N completed requests in its audit, without running N actions.

    .venv/bin/python bench/generate_history.py DIR --completed 10000

The real runner runs one template batch (`remediate apply` on BATCH requests
of a no-op action, in a clone of a bare remote). Its commits, audit files and
claim refs are then replayed N / BATCH times with new request names, content
hashes, event ids, hash chains and times (each batch `--spacing` before the
next, the newest ending at the template's own time), and written with
`git fast-import` straight into the bare remote. What lands has the runner's
own shape: per batch a person's commit adding the request files (filed by month,
`remediations/YYYY/MM/`), then the
runner's commits (decide, claim, outcome), one JSON-Lines audit file each,
and one claim ref per request attempt. Because the events come from a real
run, the generator follows the audit format as it evolves, and `audit verify`
on the result checks the replay (chains, hashes, authorship).

DIR/remote.git is the bare remote.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.runner_support import (  # noqa: E402
    REQUESTER,
    action_yaml,
    clone,
    git,
    make_remote,
    remediate,
    request_yaml,
)

BATCH = 1  # requests per apply: one, as when every merge of a request triggers a run
# Request files are filed by month (remediations/YYYY/MM/), as a team with thousands of
# them would: a commit that adds one to a flat remediations/ of N files writes a new tree of
# N entries, so a flat history of N requests costs O(N²) to build (at 50,000: ~50 GB of
# trees for `git fast-import` to hash and deflate); by month, each commit writes a tree of
# at most a month's requests (~1,500 at the default spacing) and the generator is linear.
REQUESTS = "remediations/"
# Bumped when the generated history changes shape: a cache made by another version is rebuilt.
GENERATOR = "2: request files by month (remediations/YYYY/MM/)\n"
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@dataclass
class Commit:
    author: tuple[str, str, int]  # name, email, unix time
    committer: tuple[str, str, int]
    message: str
    files: dict[str, str]  # path → content, as added by the commit


def name_of(batch: int | None, j: int) -> str:
    return f"rem-tpl-{j}" if batch is None else f"rem-{batch:06d}-{j}"


def request_of(batch: int | None, j: int) -> str:
    return request_yaml(name_of(batch, j), service=f"svc-{j}")


def run_template(tmp: Path) -> tuple[Path, list[Commit], list[tuple[str, Commit]]]:
    """One real `apply` of BATCH no-op requests: the remote, its runner commits, its claims."""
    bare = make_remote(tmp, actions={"noop": action_yaml("noop", ["true"])})
    work = clone(tmp, bare, "template")
    base = git(work, "rev-parse", "HEAD")
    (work / "remediations").mkdir(exist_ok=True)
    for j in range(BATCH):
        (work / "remediations" / f"{name_of(None, j)}.yaml").write_text(request_of(None, j))
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "Add requests", email=REQUESTER)
    git(work, "push", "--quiet", "origin", "HEAD:main")
    done = remediate(work, "apply")
    if done.returncode != 0:
        raise SystemExit(f"template apply failed: {done.stderr}")
    git(work, "fetch", "--quiet", "origin", "+refs/claims/*:refs/claims/*")
    shas = git(work, "rev-list", "--reverse", f"{base}..origin/main").split()
    commits = [read_commit(work, sha) for sha in shas]
    listing = git(work, "for-each-ref", "--format=%(objectname) %(refname)", "refs/claims/")
    claims = [(ref, read_commit(work, sha)) for sha, ref in map(str.split, listing.splitlines())]
    return bare, commits, claims


def read_commit(repo: Path, sha: str) -> Commit:
    shown = git(repo, "show", "-s", "--format=%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B", sha)
    an, ae, at, cn, ce, ct, message = shown.split("\x00", 6)
    has_parent = len(git(repo, "rev-list", "--parents", "-n", "1", sha).split()) > 1
    listing = (
        git(repo, "diff-tree", "--no-commit-id", "-r", "--name-only", "--diff-filter=A", sha)
        if has_parent
        else git(repo, "ls-tree", "-r", "--name-only", sha)
    )
    files = {path: git(repo, "show", f"{sha}:{path}") + "\n" for path in listing.splitlines()}
    return Commit((an, ae, int(at)), (cn, ce, int(ct)), message.strip() + "\n", files)


class Replay:
    """The template's commits for one batch: renamed, re-hashed, re-chained, shifted in time."""

    def __init__(self, batch: int, shift: timedelta, hashes: dict[str, str], at: int) -> None:
        self.batch, self.shift, self.hashes = batch, shift, hashes
        self.last: dict[str, str] = {}  # request → hash of its last event
        # the month the batch's requests were filed in (`at`: the template's unix time)
        self.folder = f"{datetime.fromtimestamp(at - int(shift.total_seconds()), UTC):%Y/%m}/"

    def text(self, text: str) -> str:
        for j in range(BATCH):
            text = text.replace(name_of(None, j), name_of(self.batch, j))
        return text

    def moment(self, moment: datetime) -> datetime:
        return moment - self.shift

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            if value in self.hashes:
                return self.hashes[value]
            if _TIME.fullmatch(value):
                at = self.moment(datetime.fromisoformat(value.replace("Z", "+00:00")))
                return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            return self.text(value)
        return value

    def event(self, data: dict[str, Any]) -> dict[str, Any]:
        from remediate.core.audit import event_hash

        out = {k: self.value(v) for k, v in data.items()}
        out["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.batch}/{data['id']}"))
        out["prev"] = self.last.get(out["requestId"]) if data.get("prev") else None
        self.last[out["requestId"]] = event_hash(out)
        return out

    def file(self, path: str, text: str) -> tuple[str, str]:
        if path.startswith(REQUESTS):  # filed by month: no commit rewrites one huge tree
            return REQUESTS + self.folder + self.text(path).removeprefix(REQUESTS), self.text(text)
        if not path.startswith("audit/"):
            return self.text(path), self.text(text)
        events = [self.event(json.loads(line)) for line in text.splitlines() if line.strip()]
        at = self.moment(datetime.fromisoformat(events[0]["at"].replace("Z", "+00:00")))
        stamp = at.strftime("%Y%m%dT%H%M%S") + f"{at.microsecond // 1000:03d}Z"
        unique = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.batch}/{path}").hex[:12]
        lines = "".join(
            json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events
        )
        return f"audit/{at:%Y/%m/%d}/{stamp}-{unique}.jsonl", lines

    def commit(self, commit: Commit) -> Commit:
        seconds = int(self.shift.total_seconds())
        files = dict(self.file(path, text) for path, text in sorted(commit.files.items()))
        return Commit(
            (*commit.author[:2], commit.author[2] - seconds),
            (*commit.committer[:2], commit.committer[2] - seconds),
            self.text(commit.message),
            files,
        )


def content_hashes(batch: int) -> dict[str, str]:
    """Template content hash → this batch's, as the loader computes them."""
    from remediate.core.model import content_hash
    from remediate.documents.yamlstrict import parse

    hashes = {}
    for j in range(BATCH):
        old, new = parse(request_of(None, j))[0].data, parse(request_of(batch, j))[0].data
        hashes[content_hash(old["metadata"]["name"], old["spec"])] = content_hash(
            new["metadata"]["name"], new["spec"]
        )
    return hashes


class FastImport:
    """Writes commits and refs through one `git fast-import` process."""

    def __init__(self, bare: Path) -> None:
        self.proc = subprocess.Popen(
            ["git", "fast-import", "--quiet", "--force"], cwd=bare, stdin=subprocess.PIPE
        )
        self.mark = 0

    def _data(self, text: str) -> bytes:
        raw = text.encode()
        return b"data %d\n" % len(raw) + raw + b"\n"

    def commit(self, ref: str, commit: Commit, parent: int | None, from_sha: str = "") -> int:
        assert self.proc.stdin is not None
        self.mark += 1
        an, ae, at = commit.author
        cn, ce, ct = commit.committer
        out = [b"commit %s\nmark :%d\n" % (ref.encode(), self.mark)]
        out.append(f"author {an} <{ae}> {at} +0000\ncommitter {cn} <{ce}> {ct} +0000\n".encode())
        out.append(self._data(commit.message))
        if parent is not None:
            out.append(b"from :%d\n" % parent)
        elif from_sha:
            out.append(f"from {from_sha}\n".encode())
        for path, text in commit.files.items():
            out.append(f"M 100644 inline {path}\n".encode() + self._data(text))
        self.proc.stdin.write(b"".join(out) + b"\n")
        return self.mark

    def reset(self, ref: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"reset {ref}\n\n".encode())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        if self.proc.wait() != 0:
            raise SystemExit("git fast-import failed")


def generate(target: Path, completed: int, spacing: timedelta = timedelta(minutes=30)) -> Path:
    """DIR/remote.git with `completed` completed requests (a multiple of BATCH)."""
    batches = max(1, completed // BATCH)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bare, commits, claims = run_template(tmp)
        seed_sha = git(bare, "rev-list", "--max-parents=0", "main")
        importer = FastImport(bare)
        importer.reset("refs/heads/main")
        parent: int | None = None
        for b in range(batches):
            replay = Replay(b, spacing * (batches - 1 - b), content_hashes(b), commits[0].author[2])
            for commit in commits:  # the person's commit adding the requests, then the runner's
                parent = importer.commit(
                    "refs/heads/main", replay.commit(commit), parent, "" if parent else seed_sha
                )
            for ref, commit in claims:
                importer.reset(replay.text(ref))
                importer.commit(replay.text(ref), replay.commit(commit), None)
        importer.close()
        for ref in git(bare, "for-each-ref", "--format=%(refname)", "refs/claims/").split():
            if "rem-tpl-" in ref:
                git(bare, "update-ref", "-d", ref)
        git(bare, "update-ref", "-d", "refs/remediate/checkpoint")  # the template's
        out = target / "remote.git"
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(bare, out)  # kept even if the runner's first run below fails
    git(out, "gc", "--quiet")
    with tempfile.TemporaryDirectory() as tmp_name:
        checkpoint(Path(tmp_name), out)
    (target / "generator").write_text(GENERATOR)
    return out


def checkpoint(tmp: Path, bare: Path) -> None:
    """What the runner leaves after its last run: a no-op `apply` writes its checkpoint."""
    work = clone(tmp, bare, "checkpoint")
    # with no checkpoint yet it reads every event and request file: minutes at 50,000
    done = remediate(work, "apply", timeout=7200)
    if done.returncode != 0:
        raise SystemExit(f"checkpoint apply failed: {done.stderr}")
    shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--completed", type=int, default=10000)
    args = parser.parse_args()
    print(generate(args.target, args.completed))


if __name__ == "__main__":
    main()
