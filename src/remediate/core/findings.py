"""Security findings: SARIF results as findings, their fingerprints, the `findings` stream's
fold, what an import changes, and the listings of `findings list` and `findings events`.
Pure: no I/O, no clock (`now` is an argument).

A finding is one subject of the audit's `findings` stream, its subject its `id` (`f` and
16 hex digits of a hash of repository, tool and fingerprint: stable, and usable in a
request name). Its events, each a change (`EVENT_TYPES`):

- `created` (details.finding: the whole record), `updated` (details.changes: location,
  message or severity moved), `resolved` (absent from a newer import of its tool and
  repository, or set so by a person), `reopened` (a resolved finding is reported again: a
  regression), `absent` / `returned` (an `ignored`, `false_positive` or resolved finding
  left or came back: its status stays as people set it), `status_changed`
  (`findings set-status`, with the backlog fields), `remediation_requested`
  (auto-remediation made request details.remediationId for it).

An import of one tool and repository is one more subject, `scan-<id>`, whose one event
(`scan`) holds the counts of `import sarif`. A finding the latest scan of its tool and
repository saw has that scan's `scanId` and time as `scanId` and `lastSeen` (no event
per unchanged finding: re-importing 10,000 unchanged results writes one event).

Every event's details carry `tool`, `repository`, `severity` and `status` (after it),
so the feed filters without the finding's record.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from remediate.core import streams
from remediate.core.times import iso

STREAM = "findings"
OPEN, RESOLVED, IGNORED, FALSE_POSITIVE, REVIEW = (
    "open",
    "resolved",
    "ignored",
    "false_positive",
    "needs_manual_review",
)
STATUSES = (OPEN, RESOLVED, IGNORED, FALSE_POSITIVE, REVIEW)
KEPT = (IGNORED, FALSE_POSITIVE)  # people's verdicts: an import never changes them
SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
EVENT_TYPES = (
    "created",
    "updated",
    "resolved",
    "reopened",
    "absent",
    "returned",
    "status_changed",
    "remediation_requested",
)
SCAN = "scan"
SCAN_PREFIX = "scan-"
BACKLOG = ("owner", "notes", "targetDate", "assetId")
MAX_TEXT = 2000  # characters of a message kept
MAX_PATH = 1000  # characters of a file path kept
ID_PATTERN = re.compile(r"^f[0-9a-f]{16}$")


@dataclass(frozen=True)
class Result:
    """One SARIF result as a finding would record it."""

    tool: str
    rule_id: str
    severity: str
    file: str
    line: int | None
    message: str
    fingerprint: str
    repository: str
    id: str = ""  # finding_id(repository, tool, fingerprint), set on creation

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", finding_id(self.repository, self.tool, self.fingerprint))


def finding_id(repository: str, tool: str, fingerprint: str) -> str:
    digest = hashlib.sha256(f"{repository}\0{tool}\0{fingerprint}".encode()).hexdigest()
    return "f" + digest[:16]


def _hash(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


_SPACE = re.compile(r"\s+")


def normalised(text: str) -> str:
    """A snippet or message as the fingerprint reads it: whitespace runs collapsed."""
    return _SPACE.sub(" ", text).strip()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def severity_of(result: Mapping[str, Any], rule: Mapping[str, Any]) -> str:
    """`security-severity` (result's, else its rule's: CVSS bands), else the SARIF level
    (the result's, else the rule's default, else `warning`): error HIGH, warning MEDIUM,
    note and none LOW."""
    for props in (_dict(result.get("properties")), _dict(rule.get("properties"))):
        raw = props.get("security-severity")
        try:
            score = float(raw) if isinstance(raw, str | int | float) else None
        except ValueError:
            score = None
        if score is not None and 0 <= score <= 10:
            if score >= 9:
                return "CRITICAL"
            if score >= 7:
                return "HIGH"
            if score >= 4:
                return "MEDIUM"
            return "LOW"
    level = result.get("level") or _dict(rule.get("defaultConfiguration")).get("level")
    return {"error": "HIGH", "warning": "MEDIUM"}.get(_text(level) or "warning", "LOW")


def _rules(run: Mapping[str, Any]) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    driver = _dict(_dict(run.get("tool")).get("driver"))
    listed = _list(driver.get("rules"))
    return listed, {r["id"]: r for r in listed if isinstance(r, dict) and "id" in r}


def _rule_of(
    result: Mapping[str, Any], listed: list[Any], by_id: dict[str, Any]
) -> tuple[str, Any]:
    rule_id = _text(result.get("ruleId")) or _text(_dict(result.get("rule")).get("id"))
    index = result.get("ruleIndex", _dict(result.get("rule")).get("index"))
    rule: Any = by_id.get(rule_id) if rule_id else None
    if rule is None and isinstance(index, int) and 0 <= index < len(listed):
        rule = listed[index]
        rule_id = rule_id or _text(_dict(rule).get("id"))
    return rule_id or "-", _dict(rule)


def _reported(result: Mapping[str, Any]) -> bool:
    """A result that reports a problem: kind fail (the default), open or review, and not
    suppressed (a suppression whose status is accepted, or has none)."""
    if result.get("kind", "fail") not in ("fail", "open", "review"):
        return False
    for suppression in _list(result.get("suppressions")):
        if _dict(suppression).get("status", "accepted") == "accepted":
            return False
    return True


def name(text: str, limit: int = 200) -> str:
    """A tool or repository name as recorded: control characters (line breaks among them:
    these names reach a commit message's subject) as `?`, at most `limit` characters."""
    return _cut("".join(ch if ch.isprintable() else "?" for ch in text), limit)


def tool_of(run: Mapping[str, Any]) -> str:
    return name(_text(_dict(_dict(run.get("tool")).get("driver")).get("name"))) or "unknown"


def repository_of(run: Mapping[str, Any]) -> str | None:
    for vcs in _list(run.get("versionControlProvenance")):
        uri = _text(_dict(vcs).get("repositoryUri"))
        if uri:
            return name(uri, MAX_PATH)
    return None


def _uri(text: str) -> str:
    text = text.removeprefix("file://")
    while text.startswith("./"):
        text = text[2:]
    return _cut(text, MAX_PATH)


def _physical(result: Mapping[str, Any]) -> dict[str, Any]:
    """The first location's physicalLocation (empty when there is none)."""
    locations = _list(result.get("locations"))
    return _dict(_dict(locations[0]).get("physicalLocation")) if locations else {}


def results_of(
    run: Mapping[str, Any], repository: str, redact: Callable[[str], str] = lambda t: t
) -> list[Result]:
    """The reported results of a (schema-valid) SARIF run, fingerprinted, deduplicated.

    The fingerprint is the result's `fingerprints`, else its `partialFingerprints` (each
    every key in order), else a hash of tool, rule, file and the normalised snippet (or,
    without one, the message) with the occurrence number of that same text in the file:
    never the line, so a finding that moves down its file keeps its fingerprint, and two
    identical lines stay two findings. Messages are redacted (`redact`) and cut."""
    tool = tool_of(run)
    listed, by_id = _rules(run)
    found: dict[str, Result] = {}
    seen: dict[tuple[str, str, str], int] = {}
    rows: list[tuple[Mapping[str, Any], str, dict[str, Any], str, int | None, str]] = []
    for raw in _list(run.get("results")):
        result = _dict(raw)
        if not _reported(result):
            continue
        rule_id, rule = _rule_of(result, listed, by_id)
        physical = _physical(result)
        file = _uri(_text(_dict(physical.get("artifactLocation")).get("uri")))
        region = _dict(physical.get("region"))
        line = region.get("startLine") if isinstance(region.get("startLine"), int) else None
        message = _dict(result.get("message"))
        text = _text(message.get("text")) or _text(message.get("markdown"))
        if not text and _text(message.get("id")):
            text = _text(_dict(_dict(rule.get("messageStrings")).get(message["id"])).get("text"))
        rows.append((result, rule_id, rule, file, line, text))
    # occurrences counted in file order (by line), so moving code down keeps each number
    order = sorted(range(len(rows)), key=lambda i: (rows[i][3], rows[i][4] or 0, i))
    for i in order:
        row, rule_id, rule, file, line, text = rows[i]
        result = dict(row)
        given = _dict(result.get("fingerprints")) or _dict(result.get("partialFingerprints"))
        if given:
            fingerprint = _hash(tool, rule_id, *(f"{k}={given[k]}" for k in sorted(given)))
        else:
            region = _dict(_physical(result).get("region"))
            snippet = normalised(_text(_dict(region.get("snippet")).get("text")))
            basis = snippet or normalised(text)
            key = (rule_id, file, basis)
            seen[key] = seen.get(key, 0) + 1
            fingerprint = _hash(tool, rule_id, file, basis, str(seen[key]))
        item = Result(
            tool=tool,
            rule_id=rule_id,
            severity=severity_of(result, rule),
            file=file,
            line=line,
            message=_cut(redact(text), MAX_TEXT),
            fingerprint=fingerprint,
            repository=repository,
        )
        found.setdefault(item.id, item)
    return list(found.values())


# ---------------------------------------------------------------- the record and its fold


def record(result: Result, status: str, now: datetime, scan_id: str) -> dict[str, Any]:
    """A new finding's record (what `created` carries)."""
    at = iso(now)
    return {
        "id": result.id,
        "fingerprint": result.fingerprint,
        "tool": result.tool,
        "ruleId": result.rule_id,
        "severity": result.severity,
        "status": status,
        "repository": result.repository,
        "location": {"file": result.file, "line": result.line},
        "message": result.message,
        "firstSeen": at,
        "lastSeen": at,
        "scanId": scan_id,
        "owner": None,
        "notes": None,
        "targetDate": None,
        "assetId": None,
        "remediationId": None,
        "present": True,
    }


def is_scan(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(SCAN), dict)


def is_finding(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("id"), str) and not is_scan(value)


def _start(subject: str) -> dict[str, Any] | None:
    return None


IMPORTED_BY = "importedBy"  # who imported the log the finding's values last came from
IMPORTS = ("reopened", "returned", "updated")  # (and "created"): an import changed them


def _step(value: dict[str, Any] | None, event: streams.StreamEvent) -> dict[str, Any]:
    d = event.details
    if event.verb == SCAN:
        return {SCAN: dict(d[SCAN])}
    if event.verb == "created":
        return {**d["finding"], IMPORTED_BY: event.actor}
    new = dict(value or {})
    if event.verb in IMPORTS:  # what a finding holds last came from this importer's log
        new[IMPORTED_BY] = event.actor
    new.update(d.get("changes") or {})
    if "status" in d:
        new["status"] = d["status"]
    if event.verb == "absent" or (event.verb == "resolved" and d.get("seen") is False):
        new["present"] = False  # gone from the latest scan of its tool and repository
    if event.verb in ("reopened", "returned"):
        new["present"] = True
    for key in ("scanId", "lastSeen"):
        if key in d:
            new[key] = d[key]
    if event.verb == "status_changed":
        for key in BACKLOG:
            if key in d:
                new[key] = d[key]
    if event.verb == "remediation_requested":
        new["remediationId"] = d["remediationId"]
        if isinstance(d.get("request"), dict):  # auto-remediation: the request itself
            new["requests"] = {**(new.get("requests") or {}), d["remediationId"]: d["request"]}
    return new


def _refuse(value: dict[str, Any] | None, event: streams.StreamEvent) -> str | None:
    """Why the stream's lifecycle forbids `event` (None: it may happen)."""
    d = event.details
    if event.verb == SCAN:
        if not event.subject.startswith(SCAN_PREFIX) or not isinstance(d.get(SCAN), dict):
            return "a scan event is the subject scan-<id> and carries details.scan"
        return None if value is None else "the scan is recorded already"
    if event.verb not in EVENT_TYPES:
        return f"{event.verb!r} is not a finding event ({', '.join((*EVENT_TYPES, SCAN))})"
    if "status" in d and d["status"] not in STATUSES:
        return f"a finding's status is one of {', '.join(STATUSES)}"
    if event.verb == "created":
        finding = d.get("finding")
        if value is not None:
            return "the finding exists already"
        if not isinstance(finding, dict) or finding.get("id") != event.subject:
            return "a created event carries its finding's record (details.finding) under its id"
        return None
    if not is_finding(value):
        return "a finding changes only after it was created"
    if event.verb == "remediation_requested":
        if not isinstance(d.get("remediationId"), str):
            return "a remediation_requested event names the request (details.remediationId)"
        request = d.get("request")
        if request is not None and (
            not isinstance(request, dict)
            or request.get("name") != d["remediationId"]
            or not isinstance(request.get("spec"), dict)
        ):
            return "a remediation_requested event's request is named remediationId, with its spec"
        if request is not None and d["remediationId"] in ((value or {}).get("requests") or {}):
            return "that request was made for this finding already"
    return None


def _requests(value: Any) -> list[Any]:
    """The requests auto-remediation recorded on a finding (no file): `with_fired`."""
    from remediate.core.autoremediation import FINDING_LABEL, RULE_LABEL
    from remediate.core.model import Request
    from remediate.core.schedules import REQUESTER_LABEL

    if not isinstance(value, dict) or not value.get("requests"):
        return []
    out = []
    for name, request in value["requests"].items():
        labels = {RULE_LABEL: str(request.get("rule")), FINDING_LABEL: str(value.get("id"))}
        if request.get("requester"):
            labels[REQUESTER_LABEL] = str(request["requester"])
        out.append(Request.from_spec(str(name), dict(request["spec"]), None, labels))
    return out


FOLD = streams.register(
    streams.Fold(STREAM, start=_start, step=_step, refuse=_refuse, requests=_requests)
)


# ---------------------------------------------------------------- what an import changes


@dataclass
class Scan:
    """One tool and repository of one import: the results it reported."""

    id: str
    tool: str
    repository: str
    results: list[Result]
    files: tuple[str, ...] = ()
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("created", "updated", "resolved", "reopened", "unchanged"), 0
        )
    )

    def as_json(self, imported_at: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool": self.tool,
            "repository": self.repository,
            "importedAt": iso(imported_at),
            **self.counts,
            "files": list(self.files),
        }


@dataclass(frozen=True)
class Change:
    """One event an import (or a person) makes: its subject, type and details."""

    subject: str
    verb: str
    details: dict[str, Any]


def _common(value: Mapping[str, Any], status: str) -> dict[str, Any]:
    return {
        "tool": value["tool"],
        "repository": value["repository"],
        "severity": value["severity"],
        "status": status,
    }


def changes_of(
    scan: Scan,
    existing: Mapping[str, Mapping[str, Any]],
    now: datetime,
    completed: Callable[[str], bool] = lambda request_id: False,
) -> list[Change]:
    """The events that importing `scan` makes on the findings `existing` (id → record),
    counting them into `scan.counts`. `completed(request)`: did that request complete (a
    finding whose request completed and that is gone is resolved naming it)."""
    at = iso(now)
    out: list[Change] = []
    present: set[str] = set()
    for result in scan.results:
        present.add(result.id)
        old = existing.get(result.id)
        if old is None:
            new = record(result, OPEN, now, scan.id)
            out.append(Change(result.id, "created", {"finding": new, **_common(new, OPEN)}))
            scan.counts["created"] += 1
            continue
        moved: dict[str, Any] = {}
        location = {"file": result.file, "line": result.line}
        if old.get("location") != location:
            moved["location"] = location
        if old.get("message") != result.message:
            moved["message"] = result.message
        if old.get("severity") != result.severity:
            moved["severity"] = result.severity
        seen = {"scanId": scan.id, "lastSeen": at}
        base = {**old, **moved}
        if old["status"] == RESOLVED:
            changes = {**moved, "resolvedBy": None}
            body = {**_common(base, OPEN), **seen, "changes": changes, "regression": True}
            if old.get("resolvedBy"):
                body["previouslyResolvedBy"] = old["resolvedBy"]
            out.append(Change(result.id, "reopened", body))
            scan.counts["reopened"] += 1
        elif not old.get("present", True):
            body = {**_common(base, old["status"]), **seen, "changes": moved}
            out.append(Change(result.id, "returned", body))
            scan.counts["updated"] += 1
        elif moved:
            body = {**_common(base, old["status"]), **seen, "changes": moved}
            out.append(Change(result.id, "updated", body))
            scan.counts["updated"] += 1
        else:
            scan.counts["unchanged"] += 1
    for fid, old in existing.items():
        if (
            fid in present
            or old.get("tool") != scan.tool
            or old.get("repository") != scan.repository
            or not old.get("present", True)
        ):
            continue
        status = old["status"]
        if status in KEPT or status == RESOLVED:
            body = {**_common(old, status), "scanId": scan.id}
            out.append(Change(fid, "absent", body))
            continue
        body = {**_common(old, RESOLVED), "scanId": scan.id, "seen": False}
        body["changes"] = {"resolvedBy": f"scan {scan.id}"}
        made = [old.get("remediationId"), *(old.get("requests") or {})]
        remediation = next((r for r in made if isinstance(r, str) and completed(r)), None)
        if remediation is not None:
            body["remediationId"] = remediation
            body["changes"] = {"resolvedBy": f"request {remediation}"}
        out.append(Change(fid, "resolved", body))
        scan.counts["resolved"] += 1
    return out


def remediation_change(
    value: Mapping[str, Any], name: str, rule: str, spec: Mapping[str, Any], requester: str
) -> Change:
    """Auto-remediation made request `name` for a finding: the event carries the request
    (no file), which the fold keeps until the request ends (`core.schedules.with_fired`)."""
    request = {"name": name, "rule": rule, "spec": dict(spec), "requester": requester}
    body = {**_common(value, value["status"]), "remediationId": name, "rule": rule}
    return Change(value["id"], "remediation_requested", {**body, "request": request})


def scan_change(scan: Scan, now: datetime) -> Change:
    return Change(SCAN_PREFIX + scan.id, SCAN, {SCAN: scan.as_json(now)})


def status_change(
    value: Mapping[str, Any], status: str, backlog: Mapping[str, str | None]
) -> Change | None:
    """`findings set-status`: None when nothing would change."""
    fields = {k: v for k, v in backlog.items() if v is not None and value.get(k) != v}
    if status == value["status"] and not fields:
        return None
    body: dict[str, Any] = {**_common(value, status), "from": value["status"], **fields}
    if status == RESOLVED and value["status"] != RESOLVED:
        body["changes"] = {"resolvedBy": "set-status"}
    elif status != RESOLVED and value.get("resolvedBy"):
        body["changes"] = {"resolvedBy": None}
    return Change(value["id"], "status_changed", body)


# ---------------------------------------------------------------- reading


def latest_scans(values: Iterable[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The latest scan of each (tool, repository), by importedAt (then id)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for value in values:
        if not is_scan(value):
            continue
        scan = value[SCAN]
        key = (scan["tool"], scan["repository"])
        old = found.get(key)
        if old is None or (scan["importedAt"], scan["id"]) > (old["importedAt"], old["id"]):
            found[key] = scan
    return found


def view(
    value: Mapping[str, Any], latest: Mapping[tuple[str, str], Mapping[str, Any]]
) -> dict[str, Any]:
    """A finding as `findings list` and `show` give it (the contract's fields)."""
    hidden = ("present", "resolvedBy", "requests", IMPORTED_BY)
    out = {k: v for k, v in value.items() if k not in hidden}
    out["location"] = dict(value.get("location") or {})
    if value.get("present", True):
        scan = latest.get((value["tool"], value["repository"]))
        if scan is not None and scan["importedAt"] >= (value.get("lastSeen") or ""):
            out["scanId"], out["lastSeen"] = scan["id"], scan["importedAt"]
    out["present"] = bool(value.get("present", True))
    if value.get("resolvedBy"):
        out["resolvedBy"] = value["resolvedBy"]
    return out


_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def select(
    findings: Iterable[Mapping[str, Any]],
    status: str | None = None,
    severity: str | None = None,
    tool: str | None = None,
    repository: str | None = None,
    limit: int | None = None,
) -> list[Mapping[str, Any]]:
    """Most severe first, then newest `lastSeen`, then id."""
    chosen = [
        f
        for f in findings
        if (status is None or f["status"] == status)
        and (severity is None or f["severity"] == severity)
        and (tool is None or f["tool"] == tool)
        and (repository is None or f["repository"] == repository)
    ]
    chosen.sort(key=lambda f: f["id"])
    chosen.sort(key=lambda f: f.get("lastSeen") or "", reverse=True)
    chosen.sort(key=lambda f: _RANK.get(f["severity"], -1), reverse=True)
    return chosen if limit is None else chosen[:limit]


def feed_event(event: streams.StreamEvent) -> dict[str, Any] | None:
    """A finding event as `findings events` gives it (None: a scan, not a finding's)."""
    if event.verb == SCAN or event.verb not in EVENT_TYPES:
        return None
    d = dict(event.details)
    out: dict[str, Any] = {
        "id": event.id,
        "eventType": event.verb,
        "findingId": event.subject,
        "at": event.at,
        "actor": event.actor,
        "tool": d.pop("tool", None),
        "repository": d.pop("repository", None),
        "severity": d.pop("severity", None),
        "status": d.pop("status", None),
    }
    if event.verb == "created":
        finding = d.pop("finding", {})
        d["ruleId"] = finding.get("ruleId")
        d["location"] = finding.get("location")
        d["scanId"] = finding.get("scanId")
    d.pop("seen", None)
    out["details"] = d
    return out


def feed(
    events: Iterable[streams.StreamEvent],
    finding: str | None = None,
    severity: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: str | None = None,
    limit: int | None = None,
    item_of: Callable[[streams.StreamEvent], dict[str, Any] | None] = feed_event,
) -> list[dict[str, Any]]:
    """The feed, newest first (by time, then the order the audit recorded them); `since`
    and `until` bound `at` inclusive; `after`: only events newer than that event id.
    `item_of` is `feed_event`, or a reader's memo of it (items it made already)."""
    rows: list[tuple[str, int, dict[str, Any]]] = []
    lo, hi = iso(since), iso(until)
    for n, event in enumerate(events):
        item = item_of(event)
        if item is None:
            continue
        rows.append((item["at"], n, item))
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    ordered = [r[2] for r in rows]
    if after is not None:
        ids = [r["id"] for r in ordered]
        if after not in ids:
            raise KeyError(after)
        ordered = ordered[: ids.index(after)]
    chosen = [e for e in ordered if matches(e, finding, severity, event_type, lo, hi)]
    return chosen if limit is None else chosen[:limit]


def matches(
    item: dict[str, Any],
    finding: str | None,
    severity: str | None,
    event_type: str | None,
    lo: str | None,
    hi: str | None,
) -> bool:
    """Does a feed item (`feed_event`) pass the feed's filters (`lo`/`hi`: ISO times,
    inclusive)?"""
    return (
        (finding is None or item["findingId"] == finding)
        and (severity is None or item["severity"] == severity)
        and (event_type is None or item["eventType"] == event_type)
        and (lo is None or item["at"] >= lo)
        and (hi is None or item["at"] <= hi)
    )


def ordered_events(events: Sequence[streams.StreamEvent]) -> list[streams.StreamEvent]:
    """The findings stream's events (of the audit, in the order it was read)."""
    return [e for e in events if e.stream == STREAM]
