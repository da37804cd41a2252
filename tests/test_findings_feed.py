"""`findings events` reads only what it lists: the findings stream's events (files of
other streams are not parsed), newest audit files first, and no further back than
`--since`, `--after` or `--limit` need. Real git (a bare remote, a clone); imports hours
apart through the Clock port; what the store reads counted at the port (`Wrapped`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from remediate.core.times import parse_time
from remediate.service import findings
from remediate.service.apply import apply
from remediate.service.importer import import_sarif
from tests.runner_support import OPERATOR, action_yaml, clone, make_remote, request_yaml
from tests.sessions import Wrapped, session

TIMES = ["2026-11-23T06:00:00Z", "2026-11-23T09:00:00Z", "2026-11-23T12:00:00Z"]


def sarif(tmp: Path, n: int) -> Path:
    results = [
        {
            "ruleId": f"R{n}",
            "level": "error",
            "message": {"text": f"finding {n}.{i}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f"app/f{n}.py"},
                        "region": {"startLine": i + 1, "snippet": {"text": f"x{n}.{i}"}},
                    }
                }
            ],
        }
        for i in range(3)
    ]
    log = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": f"tool{n}"}}, "results": results}],
    }
    path = tmp / f"scan-{n}.sarif"
    path.write_text(json.dumps(log))
    return path


class Counting(Wrapped):
    """The real store; counts the audit files whose text it is asked for."""

    read: list[str]

    def texts(self, names: Any, limit: int) -> Any:
        for found in self.inner.texts(names, limit):
            if found[2] is not None:
                type(self).read.append(found[0])
            yield found


def feed(repo: Path, **options: Any) -> tuple[list[dict[str, Any]], int]:
    Counting.read = []
    built = session(repo, store=Counting)
    rows = findings.events(built, **options)
    return rows, len(Counting.read)


def test_the_feed_reads_only_as_far_back_as_since_limit_or_after_need(tmp_path: Path) -> None:
    noop = {"noop": action_yaml("noop", ["/bin/true"])}
    bare = make_remote(tmp_path, actions=noop, requests={"rem-1": request_yaml("rem-1")})
    repo = clone(tmp_path, bare, "ops", OPERATOR)
    ran = apply(session(repo, now="2026-11-23T05:00:00Z"), OPERATOR)  # request events
    assert ran.executed == [("rem-1", "COMPLETED")]
    for n, at in enumerate(TIMES):
        import_sarif(session(repo, now=at), [sarif(tmp_path, n)])
    every, files = feed(repo)
    assert len(every) == 9 and files == 6  # 3 imports, 3 files of apply (not parsed)
    assert [e["at"][:13] for e in every] == ["2026-11-23T12"] * 3 + ["2026-11-23T09"] * 3 + [
        "2026-11-23T06"
    ] * 3
    assert all(e["eventType"] == "created" for e in every)
    since, files = feed(repo, since=parse_time("2026-11-23T11:00:00Z"))
    assert since == every[:3] and files == 1  # the newest import's file alone
    newest, files = feed(repo, limit=2)
    assert newest == every[:2] and files == 1
    later, files = feed(repo, after=every[4]["id"])
    assert later == every[:4] and files == 2
    # the margin: a file up to a minute older than --since may hold an event after it
    near, files = feed(repo, since=parse_time("2026-11-23T09:00:30Z"))
    assert near == every[:3] and files == 2
    far, files = feed(repo, since=parse_time("2026-11-23T09:01:30Z"))
    assert far == every[:3] and files == 1
    # exactly what reading everything gives, whatever the options
    assert feed(repo, limit=5)[0] == every[:5]
    assert feed(repo, event_type="created", limit=7)[0] == every[:7]
