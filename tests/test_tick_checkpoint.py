"""The checkpoint's stream index (`core.checkpoint.StreamIndex`): each schedule's last fire
and the subjects that may still list a request, so that `tick` (and `runtime.load`'s
`with_fired`) read O(schedules) plus the events since the checkpoint, not every fire ever
recorded. What they read through it must be exactly what the full read gives: on generated
histories, at every split point (as `core.automation.advance` is tested), and built up one
checkpoint after another as the writer does. A checkpoint that is not the runner's, or
whose index is not of the buckets it holds, is not used (real git, the CLI as processes)."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from remediate.core import checkpoint as cp
from remediate.core import schedules as sch
from remediate.core import streams as st
from remediate.core.audit import RequestState
from remediate.core.lifecycle import COMPLETED, FAILED, NEW, QUEUED, REJECTED, SETTLED
from remediate.core.model import Repository, Settings
from remediate.core.snapshot import AuditSnapshot, LayeredStreams
from remediate.core.streams import Key, StreamEvent, StreamState
from remediate.core.times import iso
from tests.runner_support import RUNNER, clone, git, make_remote, remediate, remote_events

START = datetime(2026, 11, 1, tzinfo=UTC)


class _Base:
    """A checkpoint as `core.snapshot.Base` sees one: its stream states and its index."""

    active: tuple[str, ...] = ()

    def __init__(self, states: dict[Key, StreamState], index: dict[str, cp.StreamIndex]):
        self.states, self._index = states, index

    def state(self, request_id: str) -> RequestState | None:
        return None

    def every(self) -> dict[str, RequestState]:
        return {}

    def executions(self) -> list[Any]:
        return []

    def streams(self) -> dict[Key, StreamState]:
        return dict(self.states)

    def stream_state(self, key: Key) -> StreamState | None:
        return self.states.get(key)

    def stream_states(self, stream: str) -> dict[Key, StreamState]:
        return {k: s for k, s in self.states.items() if k[0] == stream}

    def index(self, stream: str) -> cp.StreamIndex | None:
        return self._index.get(stream)


def _history(seed: int) -> tuple[list[StreamEvent], list[dict[str, str]]]:
    """Chained `schedules` events of a few schedules (fires, misses, dones, and events the
    fold refuses: a second fire of a fire, a done of a miss), in the order they were
    recorded; and, after each event, every fired request's status then (a request moves
    on as `apply` would: settled statuses are never left, FAILED may be retried)."""
    rng = random.Random(seed)
    names = [f"s{i}" for i in range(4)]
    heads: dict[str, str | None] = {}
    events: list[StreamEvent] = []
    statuses: list[dict[str, str]] = []
    status: dict[str, str] = {}
    fired: list[tuple[str, str, bool]] = []  # subject, schedule, fired (not missed)
    for n in range(40):
        choice = rng.random()
        if fired and choice < 0.2:  # a done of an earlier fire (refused after a miss)
            subject, schedule, _ = rng.choice(fired)
            details: dict[str, Any] = {"schedule": schedule, "status": "success"}
            verb = sch.DONE
        elif fired and choice < 0.27:  # the same fire again: refused
            subject, schedule, _ = rng.choice(fired)
            details = {"schedule": schedule, "fireTime": "x", "job": "report"}
            verb = sch.FIRE
        else:
            schedule = rng.choice(names)
            # out of order now and then: a late runner's catch-up of an older fire
            moment = START + timedelta(hours=rng.randrange(0, 200), microseconds=rng.choice([0, 5]))
            subject = sch.fire_name(schedule, moment)
            if any(f[0] == subject for f in fired):
                continue
            verb = rng.choice([sch.FIRE, sch.FIRE, sch.MISS])
            job = rng.choice(["remediation", "report"])
            details = {
                "schedule": schedule,
                "file": f"schedules/{schedule}.yaml",
                "fireTime": moment.isoformat(),
                "job": job,
            }
            if job == "remediation":
                details["request"] = {"name": subject, "spec": {"action": {"type": "noop"}}}
                status[subject] = NEW
            fired.append((subject, schedule, verb == sch.FIRE))
        event = StreamEvent(
            id=f"e{seed}-{n}",
            at=iso(START + timedelta(minutes=n)) or "",
            stream=sch.STREAM,
            subject=subject,
            verb=verb,
            actor=RUNNER,
            details=details,
            prev=heads.get(subject),
        )
        heads[subject] = event.hash
        events.append(event)
        for name in list(status):  # requests move on
            if status[name] not in SETTLED and rng.random() < 0.15:
                status[name] = {NEW: QUEUED, QUEUED: rng.choice([COMPLETED, FAILED, REJECTED]),
                                FAILED: QUEUED}[status[name]]  # fmt: skip
        statuses.append(dict(status))
    return events, statuses


def _index(states: list[StreamState], status: dict[str, str], before: Any = None) -> Any:
    return cp.index_of(
        sch.STREAM, "b", states, lambda name: status.get(name, NEW) in SETTLED, before
    )


def _snapshot(
    events: list[StreamEvent], k: int, then: dict[str, str], status: dict[str, str]
) -> AuditSnapshot:
    """The snapshot after every event (request statuses `status`), resting on a checkpoint
    of the first `k` (indexed with the request statuses as of then, `then`)."""
    base = st.fold(events[:k])
    index = {sch.STREAM: _index(list(base.values()), then)}
    top = st.extend(lambda key: base.get(key) or st.start(*key), events[k:])
    assert top is not None
    states = {n: RequestState(n, s) for n, s in status.items()}
    layered = LayeredStreams(_Base(base, index), top)
    return AuditSnapshot("rev", [], [], 0, states, base="c", streams=layered)


def _full(events: list[StreamEvent], status: dict[str, str]) -> AuditSnapshot:
    states = {n: RequestState(n, s) for n, s in status.items()}
    return AuditSnapshot("rev", [], [], 0, states, streams=st.fold(events))


def _repository() -> Repository:
    return Repository(Settings(), {}, (), {}, (), ())


@pytest.mark.parametrize("seed", range(6))
def test_the_index_gives_what_the_full_read_gives_at_every_split_point(seed: int) -> None:
    events, statuses = _history(seed)
    for end in range(len(events) + 1):
        upto, status = events[:end], statuses[end - 1] if end else {}
        full = _full(upto, status)
        want_last = sch.last_fires(s.value for s in full.stream(sch.STREAM).values())
        want_fired = sch.with_fired(_repository(), full).requests
        for k in range(end + 1):
            snap = _snapshot(upto, k, statuses[k - 1] if k else {}, status)
            assert snap.indexed(sch.STREAM) is not None  # the index is what is read
            assert sch.recorded_last_fires(snap) == want_last, (seed, end, k)
            assert sch.with_fired(_repository(), snap).requests == want_fired, (seed, end, k)


@pytest.mark.parametrize("seed", range(6))
def test_an_index_built_checkpoint_after_checkpoint_is_the_one_built_from_scratch(
    seed: int,
) -> None:
    """As `service.checkpoint._index_file` builds it: from the previous index, the subjects
    changed since and the previous requesting ones re-read."""
    events, statuses = _history(seed)
    for k1 in range(len(events) + 1):
        before_states = st.fold(events[:k1])
        before = _index(list(before_states.values()), statuses[k1 - 1] if k1 else {})
        for k2 in range(k1, len(events) + 1):
            now = st.fold(events[:k2])
            status = statuses[k2 - 1] if k2 else {}
            changed = {e.subject for e in events[k1:k2]}
            again = [now[(sch.STREAM, s)] for s in before.requesting if s not in changed]
            mine = [now[(sch.STREAM, s)] for s in sorted(changed)]
            built = _index([*mine, *again], status, before)
            assert built == _index(list(now.values()), status), (seed, k1, k2)


def test_a_snapshot_behind_its_checkpoint_does_not_use_the_index() -> None:
    """Behind the checkpoint (`service.checkpoint.behind`) a request settled at the
    checkpoint may not be settled yet, and subjects may be gone: every subject is read."""
    events, statuses = _history(1)
    snap = _snapshot(events, len(events), statuses[-1], statuses[-1])
    assert snap.indexed(sch.STREAM) is not None
    behind = AuditSnapshot("rev", streams=snap.streams, ahead="later")  # base None
    assert behind.indexed(sch.STREAM) is None
    assert isinstance(snap.streams, LayeredStreams)
    gone = LayeredStreams(snap.streams.base, {}, frozenset({events[0].key}))
    assert AuditSnapshot("rev", base="c", streams=gone).indexed(sch.STREAM) is None


# -- on real git ---------------------------------------------------------------------------

HOURLY = """\
apiVersion: remediate/v1
kind: Schedule
metadata: {{name: {name}}}
spec:
  cron: "0 * * * *"
  timezone: UTC
  catchUp: latest
  job:
    {job}
"""
REMEDIATION = (
    "remediation: {action: {type: noop, parameters: {}}, serviceName: api, "
    "environment: staging, severity: LOW}"
)


def _remote(tmp: Path) -> tuple[Path, Path]:
    from tests.runner_support import action_yaml

    bare = make_remote(tmp, actions={"noop": action_yaml("noop", ["true"])})
    seed = tmp / "schedules-seed"
    git(tmp, "clone", "--quiet", str(bare), str(seed))
    (seed / "schedules").mkdir()
    for name, job in (("fix", REMEDIATION), ("rep", "report: {}")):
        (seed / "schedules" / f"{name}.yaml").write_text(HOURLY.format(name=name, job=job))
    env = {"GIT_COMMITTER_DATE": "2026-11-23T06:30:00Z", "GIT_AUTHOR_DATE": "2026-11-23T06:30:00Z"}
    for args in (
        ["add", "-A"],
        ["commit", "-qm", "schedules"],
        ["push", "-q", "origin", "HEAD:main"],
    ):
        subprocess.run(["git", *args], cwd=seed, env={**_env("dev@example.com"), **env}, check=True)
    return bare, clone(tmp, bare, "runner")


def _env(email: str) -> dict[str, str]:
    import os

    name = email.split("@")[0]
    return {**os.environ, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}  # fmt: skip


def _tick(repo: Path, now: str) -> dict[str, Any]:
    done = remediate(repo, "tick", "--format", "json", now=now)
    assert done.returncode == 0, done.stdout + done.stderr
    body: dict[str, Any] = json.loads(done.stdout)
    return body


def _index_of_remote(bare: Path) -> dict[str, Any]:
    text = git(bare, "show", f"{cp.REF}:{cp.INDEX}")
    body: dict[str, Any] = json.loads(text)["streams"]
    return body


def test_the_runners_checkpoint_indexes_every_fire_it_recorded(tmp_path: Path) -> None:
    """Tick after tick (and an apply that settles a fired request): the index on the remote
    is what the whole audit says, and each tick fires what is due since the last fire."""
    bare, repo = _remote(tmp_path)
    for hour in (8, 9, 12):
        body = _tick(repo, f"2026-11-23T{hour:02d}:05:00Z")
        assert sorted(f["fire"] for f in body["fires"]) == [
            f"fix-20261123T{hour:02d}00Z",
            f"rep-20261123T{hour:02d}00Z",
        ]
        index = _index_of_remote(bare)[sch.STREAM]
        events = [e for e in remote_events(tmp_path, bare) if e.get("stream") == sch.STREAM]
        last: dict[str, str] = {}
        for e in events:
            if e["verb"] in (sch.FIRE, sch.MISS):
                last[e["details"]["schedule"]] = max(
                    last.get(e["details"]["schedule"], ""), e["details"]["fireTime"]
                )
        assert {n: iso(datetime.fromisoformat(t)) for n, t in index["last"].items()} == last
        if hour == 9:
            done = remediate(repo, "apply", now=f"2026-11-23T{hour:02d}:06:00Z")
            assert done.returncode == 0, done.stdout + done.stderr
            assert index["requesting"] == ["fix-20261123T0800Z", "fix-20261123T0900Z"]
    # the apply after 09:00 completed the 08:00 and 09:00 fires: only 12:00's is left
    assert _index_of_remote(bare)[sch.STREAM]["requesting"] == ["fix-20261123T1200Z"]
    # nothing more is due at 12:30, whatever the checkpoint
    assert _tick(repo, "2026-11-23T12:30:00Z")["fires"] == []


def _forged_checkpoint(tmp: Path, bare: Path, committer: str, touch_bucket: bool) -> None:
    """The runner's checkpoint with its index saying `fix` last fired far ahead (so that
    nothing would fire), re-committed as `committer` and pushed over the checkpoint ref;
    `touch_bucket`: one schedules bucket is rewritten too (what a writer that does not
    know the index leaves: an index that is not of the buckets)."""
    work = clone(tmp, bare, f"forger-{len(list(tmp.iterdir()))}", committer)
    git(work, "fetch", "-q", "origin", f"{cp.REF}:{cp.REF}")
    env = _env(committer)

    def g(*args: str, given: str = "") -> str:
        done = subprocess.run(["git", "-C", str(work), *args], input=given, env=env,
                              capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout

    listing = g("ls-tree", "-r", cp.REF).splitlines()
    entries = {}
    for line in listing:
        meta, path = line.split("\t")
        entries[path] = meta.split()[2]
    index = json.loads(g("cat-file", "blob", entries[cp.INDEX]))
    index["streams"][sch.STREAM]["last"]["fix"] = "2027-06-01T00:00:00.000000+00:00"
    entries[cp.INDEX] = g("hash-object", "-w", "--stdin", given=cp.dumps(index)).strip()
    if touch_bucket:
        path = sorted(p for p in entries if p.startswith(f"streams/{sch.STREAM}/"))[0]
        text = g("cat-file", "blob", entries[path])
        again = json.dumps(json.loads(text), indent=1) + "\n"  # the same states, other bytes
        entries[path] = g("hash-object", "-w", "--stdin", given=again).strip()
    tree = _mktree(g, entries)
    sha = g("commit-tree", tree, "-m", "remediate checkpoint").strip()
    g("push", "-q", "-f", "origin", f"{sha}:{cp.REF}")


def _mktree(g: Any, entries: dict[str, str]) -> str:
    """A tree of `entries` (path → blob), sub-trees made first."""
    here: dict[str, str] = {}
    subs: dict[str, dict[str, str]] = {}
    for path, blob in entries.items():
        head, _, rest = path.partition("/")
        if rest:
            subs.setdefault(head, {})[rest] = blob
        else:
            here[head] = f"100644 blob {blob}\t{head}\n"
    for name, inner in subs.items():
        here[name] = f"040000 tree {_mktree(g, inner)}\t{name}\n"
    return str(g("mktree", given="".join(here[n] for n in sorted(here))).strip())


@pytest.mark.parametrize(
    ("committer", "touch_bucket", "fires"),
    [
        # not the runner's: the whole checkpoint is not read (`checkpoint.stored`)
        ("mallory@example.com", False, True),
        # the runner's, but its index is not of the buckets it holds: the buckets are read
        (RUNNER, True, True),
        # the runner's, its index of the buckets it holds: trusted as its buckets are (an
        # unsigned runner's checkpoint is what anyone who can push as the runner says;
        # `runner.signingKeys` closes that, `docs/guarantees.md`)
        (RUNNER, False, False),
    ],
)
def test_a_forged_index_counts_only_as_the_checkpoint_trust_rules_allow(
    tmp_path: Path, committer: str, touch_bucket: bool, fires: bool
) -> None:
    bare, repo = _remote(tmp_path)
    _tick(repo, "2026-11-23T08:05:00Z")
    _forged_checkpoint(tmp_path, bare, committer, touch_bucket)
    body = _tick(repo, "2026-11-23T09:05:00Z")
    fired = sorted(f["fire"] for f in body["fires"])
    assert ("fix-20261123T0900Z" in fired) is fires
    assert "rep-20261123T0900Z" in fired


def test_a_ticks_fires_are_written_in_the_bucket_of_their_fire_time_alone(
    tmp_path: Path,
) -> None:
    """The checkpoint after a tick rewrites the bucket of that tick's fire time, and no
    bucket of an earlier fire (by hash, every fire ever recorded was rewritten)."""
    bare, repo = _remote(tmp_path)

    def buckets() -> dict[str, str]:
        listing = git(bare, "ls-tree", "-r", cp.REF, f"streams/{sch.STREAM}/").splitlines()
        return {line.split("\t")[1]: line.split()[2] for line in listing}

    _tick(repo, "2026-11-23T08:05:00Z")
    before = buckets()
    assert list(before) == [f"streams/{sch.STREAM}/202611/23/0800.json"]
    _tick(repo, "2026-11-23T09:05:00Z")
    after = buckets()
    assert sorted(after) == [
        f"streams/{sch.STREAM}/202611/23/0800.json",
        f"streams/{sch.STREAM}/202611/23/0900.json",
    ]
    assert (
        after[f"streams/{sch.STREAM}/202611/23/0800.json"]
        == before[f"streams/{sch.STREAM}/202611/23/0800.json"]
    )
