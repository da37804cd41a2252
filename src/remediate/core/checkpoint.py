"""The runner's checkpoint: the folded audit as of one commit of the branch, in buckets.

A checkpoint is a parentless commit (`REF` on the remote; `CARRIER` beside it) whose tree
holds
- `checkpoint.json`: the commit of the branch it summarises, how many audit files that
  commit holds, and which requests are not final (`Manifest`);
- `requests/<xx>.json`: every request's folded state, 256 buckets by a hash of its id;
- `files/<xx>.json`: every request file (by a hash of its path) with who added it and,
  once its requests are settled, the blob the runner read and the requests it declares;
- `executions/<yyyy-mm>.json`: every execution start (what rate limits count), one file per
  month (UTC) of its start, sorted: a run rewrites only the months it adds to, and a rate
  limit reads only the months its window reaches;
- `automation.json`: which version of each automation file is in force as of that commit
  (`core.automation.Record`), so that a later run walks only the commits made since;
- `streams/<stream>/<xx>.json`: each other stream's subjects (`core.streams`), by a hash
  of the subject: chain head, event ids, the fold's value (its `dump`); a schedule's
  fire in `streams/schedules/<yyyymm>/<dd>/<hhmm>.json`, by its fire time (`stream_bucket`);
- `streams.json`: per stream, what a reader would otherwise fold every subject for
  (`StreamIndex`: the subjects that may still list a request; each schedule's last fire),
  with the digest of the stream's buckets it was made from.
A reader reads only the buckets it needs; a writer rewrites only the buckets whose
content changed and takes the rest (their blob ids) from the previous checkpoint.
Pure: encoding and decoding only; `service.checkpoint` reads and writes it.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from remediate.core.audit import RequestState
from remediate.core.decision import Approval, Execution
from remediate.core.streams import StreamState, fold_of
from remediate.core.times import iso, parse_time

# 2: a finding's value names who imported it (`core.findings.IMPORTED_BY`)
# 3: executions by month (`executions/<yyyy-mm>.json`; was one `executions.json`)
# 4: a schedule fire's subject is in the bucket of its fire time (`stream_bucket`), and
#    `streams.json` indexes the streams (a version 3 checkpoint had neither)
VERSION = 4
REF = "refs/remediate/checkpoint"
# A commit of the checkpoint's tree whose parent is the checkpoint it replaced (so that
# git's pack negotiation has an edge: a push or fetch of a new checkpoint sends only what
# changed). Written with each checkpoint, read by nothing: it keeps at most one earlier
# checkpoint's objects alive, and the checkpoint's own history stays one commit long.
CARRIER = "refs/remediate/carrier"
MANIFEST = "checkpoint.json"
EXECUTIONS = "executions/"  # one file per month: `execution_month`
AUTOMATION = "automation.json"  # `core.automation.Record` as of the commit it names
_TIMES = {"claimed_at", "deadline", "retry_at"}


def bucket(kind: str, key: str) -> str:
    """The file of `kind` ("requests", "files", or "streams/<stream>") that holds `key`."""
    return f"{kind}/{hashlib.sha256(key.encode()).hexdigest()[:2]}.json"


STREAMS_DIR = "streams/"


# A schedule fire's subject, `<schedule>-<yyyymmddThhmmZ>` (`core.schedules.fire_name`).
_FIRE = re.compile(r"-(\d{6})(\d\d)T(\d{4})Z\Z")
_SCHEDULES = "schedules"  # `core.schedules.STREAM`


def stream_bucket(stream: str, subject: str) -> str:
    """The bucket of one subject of a stream: by a hash of the subject, or, for a
    schedule's fire, by its fire time: a tick's fires (all of one fire time, or a few)
    land in one bucket, and the buckets of earlier fires are neither read nor written
    again, however long the history (by hash, 1,000 fires touched all 256 buckets, and
    with them every fire ever recorded)."""
    if stream == _SCHEDULES:
        found = _FIRE.search(subject)
        if found is not None:
            return f"{STREAMS_DIR}{stream}/{found[1]}/{found[2]}/{found[3]}.json"
    return bucket(STREAMS_DIR + stream, subject)


def stream_text(states: Mapping[str, StreamState]) -> str:
    """One bucket of a stream: subject → its state (sorted)."""
    return dumps({s: states[s].as_json(fold_of(states[s].stream)) for s in sorted(states)})


INDEX = "streams.json"
INDEX_VERSION = 1


@dataclass(frozen=True)
class StreamIndex:
    """What one stream's subjects hold that a reader asks of all of them, so that it reads
    this and the events since instead of every bucket (a schedule firing every 5 minutes
    has 100,000 fires in a year). `buckets`: `buckets_digest` of the stream's buckets it
    was made from: a reader uses it only while those are the stream's buckets (a writer
    that rewrote them without it, such as an older version, leaves it stale: ignored).
    `requesting`: the subjects whose value lists a request not settled then (SETTLED:
    left by no verb, so every other subject lists only requests that stay settled at
    every later commit). `last`: of the `schedules` stream, each schedule's latest fire
    time recorded (ISO 8601; a fire's schedule and time never change once recorded)."""

    buckets: str
    requesting: tuple[str, ...] = ()
    last: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "buckets": self.buckets,
            "requesting": list(self.requesting),
            "last": dict(self.last),
        }

    @classmethod
    def from_json(cls, data: Any) -> StreamIndex | None:
        """The entry, or None for anything of another shape."""
        if not isinstance(data, dict) or not isinstance(data.get("buckets"), str):
            return None
        requesting, last = data.get("requesting"), data.get("last")
        if not isinstance(requesting, list) or not all(isinstance(s, str) for s in requesting):
            return None
        if not isinstance(last, dict) or not all(isinstance(t, str) for t in last.values()):
            return None
        return cls(data["buckets"], tuple(requesting), tuple(sorted(last.items())))


def buckets_digest(blobs: Mapping[str, str], stream: str) -> str:
    """A digest of the buckets of `stream` in a checkpoint's tree (path → blob)."""
    prefix = f"{STREAMS_DIR}{stream}/"
    listing = "".join(f"{p} {blobs[p]}\n" for p in sorted(blobs) if p.startswith(prefix))
    return hashlib.sha256(listing.encode()).hexdigest()


def index_of(
    stream: str,
    buckets: str,
    states: Iterable[StreamState],
    settled: Callable[[str], bool],
    before: StreamIndex | None = None,
) -> StreamIndex:
    """The index of `stream` from the states of all its subjects; with `before` (the
    index of an earlier checkpoint of the same branch), from the states of the subjects
    changed since and of those `before` lists as requesting. `settled(name)`: is that
    request settled (`core.lifecycle.SETTLED`) as of the commit indexed?"""
    from remediate.core.schedules import STREAM as SCHEDULES
    from remediate.core.schedules import last_fires

    states = list(states)
    fold = fold_of(stream)
    requesting = set()
    for state in states:
        if fold is not None and any(not settled(n) for n in fold.request_names(state.value)):
            requesting.add(state.subject)
    last: tuple[tuple[str, str], ...] = ()
    if stream == SCHEDULES:
        found = {name: parse_time(text) for name, text in (before.last if before else ())}
        for name, moment in last_fires(s.value for s in states).items():
            if name not in found or moment > found[name]:
                found[name] = moment
        last = tuple(sorted((n, t.isoformat(timespec="microseconds")) for n, t in found.items()))
    return StreamIndex(buckets, tuple(sorted(requesting)), last)


def index_text(entries: Mapping[str, StreamIndex]) -> str:
    body = {stream: entries[stream].as_json() for stream in sorted(entries)}
    return dumps({"version": INDEX_VERSION, "streams": body})


def read_index(text: str) -> dict[str, StreamIndex]:
    """The entries of `streams.json` ({} for another version or shape)."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
        return {}
    streams = data.get("streams")
    if not isinstance(streams, dict):
        return {}
    found = {stream: StreamIndex.from_json(entry) for stream, entry in streams.items()}
    return {stream: entry for stream, entry in found.items() if entry is not None}


def read_stream(path: str, text: str) -> dict[str, StreamState]:
    stream = path.removeprefix(STREAMS_DIR).partition("/")[0]
    fold = fold_of(stream)
    return {
        subject: StreamState.from_json(stream, subject, data, fold)
        for subject, data in json.loads(text).items()
    }


@dataclass(frozen=True)
class Manifest:
    commit: str  # the commit of the branch whose audit this summarises
    files: int  # audit files at that commit
    active: tuple[str, ...]  # requests not final (COMPLETED, FAILED, REJECTED, CANCELLED)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "commit": self.commit,
            "files": self.files,
            "active": list(self.active),
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest | None:
        """The manifest, or None for anything this version does not read."""
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return None
        commit, files, active = data.get("commit"), data.get("files"), data.get("active")
        if not isinstance(commit, str) or not isinstance(files, int):
            return None
        if not isinstance(active, list) or not all(isinstance(a, str) for a in active):
            return None
        return cls(commit, files, tuple(active))


def encode(value: Any) -> Any:
    """JSON for a state, approval or execution (datetimes as RFC 3339)."""
    if isinstance(value, datetime):
        return {"$t": iso(value)}
    if isinstance(value, RequestState | Approval | Execution):
        return {f.name: encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    return value


def _time(value: Any) -> datetime | None:
    if not isinstance(value, dict):
        return None
    text = value["$t"]
    if isinstance(text, str) and text.endswith("Z"):  # as `iso` writes it: UTC, in range
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return parse_time(text)


def decode_state(data: dict[str, Any]) -> RequestState:
    values = dict(data)
    for name in _TIMES:
        values[name] = _time(values.get(name))
    values["approvals"] = tuple(
        Approval(**{**a, "at": _time(a.get("at")), "lifts": tuple(a["lifts"])})
        for a in values["approvals"]
    )
    values["executions"] = tuple(decode_execution(x) for x in values["executions"])
    values["ids"] = tuple(values["ids"])
    return RequestState(**values)


def decode_execution(data: dict[str, Any]) -> Execution:
    values = {k: _shared(v) if k in _REPEATED else v for k, v in data.items()}
    values["at"] = _time(data["at"])
    return Execution(**values)


# fields that repeat across executions: one string each for all (sys.intern)
_REPEATED = frozenset({"service_name", "environment", "action_type", "incident_id", "severity"})


def _shared(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value


def dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def states_text(states: Mapping[str, RequestState]) -> str:
    return dumps({name: encode(states[name]) for name in states})


def read_states(text: str) -> dict[str, RequestState]:
    return {name: decode_state(data) for name, data in json.loads(text).items()}


# Per request bucket, what `stats`, `signal`, `export csv` and `report` read of its states
# (`core.stats.Summary` rows), written with the bucket: a fraction of the bucket's JSON to
# decode. It names the blob of the bucket it summarises; a reader uses it only while that
# is the bucket's blob (a checkpoint written before, or by a version without, summaries:
# the bucket itself is read).
SUMMARIES = "summaries/"
SUMMARY_VERSION = 1
SUMMARY_ROW = 14  # fields of a row: `core.stats.Summary`'s 13 scalars, then its overrides


def summary_path(bucket_path: str) -> str:
    """`summaries/<xx>.json` of `requests/<xx>.json`."""
    return SUMMARIES + bucket_path.removeprefix("requests/")


def blob_id(text: str) -> str:
    """Git's id of a blob holding `text` (UTF-8)."""
    data = text.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def summary_text(bucket_text: str, states: Mapping[str, RequestState]) -> str:
    from remediate.core.stats import Summary

    rows = [Summary.of(states[name]).row() for name in sorted(states)]
    body = {"version": SUMMARY_VERSION, "bucket": blob_id(bucket_text), "rows": rows}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n"


def read_summaries(text: str, bucket_blob: str) -> list[Any] | None:
    """The rows of a summary bucket, or None unless it summarises blob `bucket_blob`."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("version") != SUMMARY_VERSION:
        return None
    if data.get("bucket") != bucket_blob or not isinstance(data.get("rows"), list):
        return None
    rows: list[Any] = data["rows"]
    return rows


@dataclass(frozen=True)
class FileEntry:
    """A request file: who added it and, once every request it declares is settled
    (COMPLETED, REJECTED or CANCELLED: statuses nothing leaves), the blob the runner read
    then with the (name, line) of each of those requests. A reader need not parse the
    file again while it still has that blob (`service.checkpoint.settled`)."""

    requesters: tuple[str, ...]
    blob: str | None = None
    names: tuple[tuple[str, int], ...] = ()

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"requesters": list(self.requesters)}
        if self.blob is not None:
            body["blob"], body["names"] = self.blob, [list(n) for n in self.names]
        return body


def read_files(text: str) -> dict[str, FileEntry]:
    return {path: _file_entry(e) for path, e in json.loads(text).items()}


def read_settled(text: str) -> dict[str, tuple[str, tuple[tuple[str, int], ...]]]:
    """path → (blob, names) of each entry of a files bucket to which `read_files` would
    give a blob and names (the same checks as `_file_entries`), without building entries:
    at 10,000 settled requests this runs 10,000 times per load, so the usual entry (one
    request) is checked inline."""
    found: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {}
    for path, data in json.loads(text).items():
        blob, names = data.get("blob"), data.get("names")
        if not isinstance(blob, str) or not isinstance(names, list) or not names:
            continue
        if len(names) == 1:
            n = names[0]
            if (
                isinstance(n, list)
                and len(n) == 2
                and isinstance(n[0], str)
                and isinstance(n[1], int)
            ):
                found[path] = (blob, ((n[0], n[1]),))
        elif all(_name_pair(n) for n in names):
            found[path] = (blob, tuple((n[0], n[1]) for n in names))
    return found


def _name_pair(n: Any) -> bool:
    return isinstance(n, list) and len(n) == 2 and isinstance(n[0], str) and isinstance(n[1], int)


def _file_entry(data: dict[str, Any]) -> FileEntry:
    blob, names = data.get("blob"), data.get("names") or ()
    if not isinstance(blob, str) or not all(_name_pair(n) for n in names):
        return FileEntry(tuple(data["requesters"]))
    return FileEntry(tuple(data["requesters"]), blob, tuple((n[0], n[1]) for n in names))


def files_text(entries: Mapping[str, FileEntry]) -> str:
    return dumps({path: entries[path].as_json() for path in entries})


def executions_text(executions: Iterable[Execution]) -> str:
    rows = sorted(executions, key=lambda x: (x.at, x.request_id))
    return "".join(dumps(encode(x)) for x in rows)


def execution_month(at: datetime) -> str:
    """The file of `EXECUTIONS` that holds an execution started at `at`."""
    return f"{EXECUTIONS}{at.astimezone(UTC):%Y-%m}.json"


def months_since(paths: Iterable[str], since: datetime | None) -> list[str]:
    """The month files among `paths` that may hold a start later than `since` (all of
    them for None), oldest first."""
    first = execution_month(since) if since is not None else ""
    return sorted(p for p in paths if p.startswith(EXECUTIONS) and p >= first)


def execution_months(executions: Iterable[Execution]) -> dict[str, str]:
    """The month files holding `executions` (path → text)."""
    by_month: dict[str, list[Execution]] = {}
    for execution in executions:
        by_month.setdefault(execution_month(execution.at), []).append(execution)
    return {path: executions_text(rows) for path, rows in sorted(by_month.items())}


def read_executions(text: str) -> list[Execution]:
    """Every line of `executions.json` (one JSON array parse: 10,000 lines in one call)."""
    rows = json.loads("[" + ",".join(line for line in text.splitlines() if line.strip()) + "]")
    return [decode_execution(row) for row in rows]
