"""`audit verify`: every chain intact, and git history shows only the runner adding files.

A full check streams (`audit_log.stream`): files in commit order, one at a time, folded
by `core.folding.Folder`, which keeps one state per subject and never the events; it
then compares the runner's checkpoint with that fold. `--since REF` checks only what
was added after REF, against the state as of REF (`audit_log.read`: on the runner's
checkpoint when one of REF or an ancestor exists, else a streamed fold of REF).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from remediate.core import checkpoint as cp
from remediate.core.audit import AnyEvent, RequestState
from remediate.core.commits import AuditCommit
from remediate.core.folding import Folder
from remediate.core.lifecycle import FINAL
from remediate.core.model import build_repository
from remediate.core.snapshot import AUDIT_DIR, MAX_FILE_BYTES
from remediate.core.streams import StreamState
from remediate.errors import UserError
from remediate.service import audit_log, checkpoint
from remediate.service.ports import AuditReader
from remediate.service.session import Session


@dataclass
class VerifyReport:
    events: int = 0
    files: int = 0
    commits: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "files": self.files,
            "commits": self.commits,
            "problems": self.problems,
        }


def verify(session: Session, since: str | None = None) -> VerifyReport:
    """Every chain at HEAD (or only what came after `since`), and who changed `audit/`:
    the runner's identity comes from the settings, loaded fail closed (an invalid
    `remediate.yaml` is reported as such, never read as "no runner identity")."""
    runner = build_repository(session.documents.load_paths(())).settings.runner_email
    store = session.store
    rev = store.head()
    store.refresh()  # the remote's checkpoint, to compare (quietly: offline reads what it has)
    if since is not None:
        return verify_since(store, rev, since, runner)
    return verify_all(store, rev, runner)


def _guarded(report: VerifyReport, store: AuditReader, span: str, runner: str) -> set[str]:
    """The guard over every commit of `span` that touched `audit/`, streamed past (each
    counted); the paths some commit modified or deleted."""
    changed: set[str] = set()
    for commit in store.walk_history(span, AUDIT_DIR):
        report.commits += 1
        report.problems += foreign_changes([commit], runner)
        changed.update(path for letter, path in commit.changes if letter != "A")
    return changed


def _fold(
    report: VerifyReport, folder: Folder, store: AuditReader, files: Iterable[tuple[str, str]]
) -> None:
    for _, items in audit_log.stream(store, files):
        report.files += 1
        for item in items:
            if isinstance(item, str):
                report.problems.append(item)
            else:
                folder.add(item)


def verify_all(store: AuditReader, rev: str | None, runner: str) -> VerifyReport:
    """Every chain at `rev` and the guard over its whole history, streamed; then the
    runner's checkpoint compared with the full fold (as of the commit it summarises)."""
    report = VerifyReport()
    if rev is None:
        return report
    changed = _guarded(report, store, rev, runner)
    base = checkpoint.find(store, rev, runner)
    later: set[str] = set()
    if base is not None:
        later = {path for letter, path, _, _ in store.added(base.commit, rev, AUDIT_DIR)}
    after: list[tuple[str, str]] = []  # the files added since the checkpoint: few

    def first() -> Iterator[tuple[str, str]]:
        for path, name in audit_log.in_order(store, rev, changed):
            if path in later:
                after.append((path, name))
            else:
                yield path, name

    folder = Folder()
    _fold(report, folder, store, first())
    mismatches = compare(store, base, folder, report.files) if base is not None else []
    _fold(report, folder, store, after)
    if folder.irregular:  # read again just those chains' events: judged exactly
        folder.settle(_events_of(store, rev, changed, folder))
    report.events = folder.events
    report.problems += folder.report() + mismatches
    return report


def _events_of(
    store: AuditReader, rev: str, changed: set[str], folder: Folder
) -> Iterator[AnyEvent]:
    for _, items in audit_log.stream(store, audit_log.in_order(store, rev, changed)):
        for item in items:
            if not isinstance(item, str) and item.key in folder.irregular:
                yield item


def verify_since(store: AuditReader, rev: str | None, since: str, runner: str) -> VerifyReport:
    """What was added to `audit/` after `since`: the guard over those commits, and every
    new event checked against its chain as of `since` (one unbroken line from its head)."""
    base = store.resolve(since)
    if base is None:
        raise UserError(f"--since {since}: no such commit")
    if rev is None or not store.is_ancestor(base, rev):
        raise UserError(f"--since {since}: {base[:12]} is not in the history of HEAD")
    report = VerifyReport()
    changed = _guarded(report, store, f"{base}..{rev}", runner)
    known = state_at(store, base, runner)
    folder = Folder(known_request=known.request, known_stream=known.stream)
    _fold(report, folder, store, audit_log.in_order(store, rev, changed, base=base))
    report.events = folder.events
    report.problems += folder.report() + folder.unsettled()
    return report


@dataclass
class _Known:
    requests: Any
    streams: Any

    def request(self, name: str) -> RequestState:
        return self.requests.get(name) or RequestState(name)

    def stream(self, key: tuple[str, str]) -> StreamState:
        from remediate.core import streams as st

        return self.streams.get(key) or st.start(*key)


def state_at(store: AuditReader, rev: str, runner: str) -> _Known:
    """The folded state as of `rev`: on the runner's checkpoint of `rev` or an ancestor
    (only the files added since are read), else every file of `rev`, streamed."""
    base = checkpoint.find(store, rev, runner)
    snap = checkpoint.since(store, rev, base) if base is not None else None
    if snap is not None:
        return _Known(snap.states, snap.streams)
    folder = Folder()
    ignored = VerifyReport()
    changed = _guarded(ignored, store, rev, runner)
    _fold(ignored, folder, store, audit_log.in_order(store, rev, changed))
    if folder.irregular:
        folder.settle(_events_of(store, rev, changed, folder))
    return _Known(folder.states, folder.streams)


def compare(store: AuditReader, base: checkpoint.Stored, folder: Folder, files: int) -> list[str]:
    """Where the runner's checkpoint disagrees with the full fold as of its commit (the
    states of every stream, the executions, the requesters, the manifest); chains the
    audit itself calls broken are left to their own problems."""
    found: list[str] = []
    skip = set(folder.irregular)
    seen: set[str] = set()
    buckets = sorted(p for p in base.blobs if p.startswith("requests/"))
    for path, _, text in store.texts((base.blobs[p] for p in buckets), MAX_FILE_BYTES * 4):
        for name, state in cp.read_states(text or "{}").items():
            seen.add(name)
            if ("requests", name) in skip:
                continue
            full = folder.states.get(name)
            if full is None:
                found.append(f"request {name}: in the checkpoint, not in the audit")
            elif full != state:
                found.append(
                    f"request {name}: the checkpoint says {state.status} after "
                    f"{state.events} event(s), the audit folds to {full.status} after "
                    f"{full.events}"
                    + (
                        " (and more differs)"
                        if full.status == state.status and full.events == state.events
                        else ""
                    )
                )
        del path
    for name in folder.states:
        if name not in seen and ("requests", name) not in skip:
            found.append(f"request {name}: in the audit, not in the checkpoint")
    seen_keys: set[tuple[str, str]] = set()
    for path in sorted(p for p in base.blobs if p.startswith(cp.STREAMS_DIR)):
        for other in base.stream_bucket(path).values():
            key = (other.stream, other.subject)
            seen_keys.add(key)
            if key not in skip and folder.streams.get(key) != other:
                found.append(f"{key[0]} {key[1]}: the checkpoint's state is not the audit's")
    for key in folder.streams:
        if key not in seen_keys and key not in skip:
            found.append(f"{key[0]} {key[1]}: in the audit, not in the checkpoint")
    if not skip:
        rows = sorted(cp.dumps(cp.encode(x)) for s in folder.states.values() for x in s.executions)
        if sorted(base.executions_text().splitlines(keepends=True)) != rows:
            found.append("the checkpoint's executions are not those the audit records")
    active = sorted(n for n, s in folder.states.items() if s.status not in FINAL)
    if not skip and tuple(active) != base.manifest.active:
        found.append("the checkpoint's list of requests that are not final is not the audit's")
    if base.manifest.files != files:
        found.append(
            f"the checkpoint counts {base.manifest.files} audit file(s), "
            f"the commit it summarises holds {files}"
        )
    who = store.requesters(checkpoint.REQUESTS, rev=base.commit)
    for path, entry in base.every_file():
        if path in who and who.pop(path) != entry.requesters:
            found.append(f"{path}: the checkpoint's requesters are not who added it")
    found += [f"{path}: added, not in the checkpoint" for path in sorted(who)]
    if not found:
        return []
    head = f"checkpoint {base.sha[:12]} (of {base.commit[:12]}) does not match the audit: "
    shown = [head + text for text in found[:20]]
    if len(found) > 20:
        shown.append(head + f"… and {len(found) - 20} more")
    return shown


def foreign_changes(history: list[AuditCommit], runner: str) -> list[str]:
    """Audit changes the runner did not make: another committer, or a file modified or deleted."""
    problems = []
    for commit in history:
        if commit.committer.casefold() != runner.casefold():
            problems.append(
                f"commit {commit.sha[:12]} changed {AUDIT_DIR}/ but was committed by "
                f"{commit.committer}, not the runner ({runner})"
            )
        for letter, path in commit.changes:
            if letter != "A":
                verb = {"D": "deleted", "M": "modified"}.get(letter, f"changed ({letter})")
                problems.append(
                    f"commit {commit.sha[:12]} {verb} {path}: audit files are only ever added"
                )
    return problems


def require_runner_only(
    store: AuditReader, rev: str | None, runner: str, since: str | None = None
) -> None:
    """Refuse to act on an audit log that holds changes the runner did not make.

    State is a fold over the events; an event someone else committed (a forged
    approval, an edited status) must never queue or run anything. With `since` (the
    commit of the runner's checkpoint the state rests on), only the commits after it
    are judged: those before were judged when the runner wrote the checkpoint.
    """
    span = f"{since}..{rev}" if since and rev else rev
    found = foreign_changes(store.audit_history(span, AUDIT_DIR), runner)
    if found:
        shown = "\n  ".join(found[:10]) + (
            f"\n  … and {len(found) - 10} more" if len(found) > 10 else ""
        )
        raise UserError(
            "the audit log holds changes the runner did not make; nothing was done "
            f"(`remediate audit verify` lists them):\n  {shown}"
        )


def foreign_changes_since(store: AuditReader, base: str, runner: str) -> list[str]:
    """`foreign_changes` in the commits after `base` (what a pull request would bring)."""
    return foreign_changes(store.audit_history(f"{base}..HEAD", AUDIT_DIR), runner)
