"""`import sarif`: SARIF 2.1.0 files into findings on the audit's `findings` stream.

All or nothing: every file is read and validated before anything is written, and one
bad file means nothing is imported from any (an import is the whole set of a tool's
results; half of it would resolve the findings of the other half). The results of
one tool and repository, across every file given, are one scan: findings the scan does
not report and that the previous scans did are resolved (`core.findings.changes_of`).

One commit per import, pushed like every audit write (`audit_log.write`: rebuilt on
the fetched tip after a rejected push, so two imports racing never duplicate a
finding: the second sees the first's). The scan ids are fixed before the first
attempt, so a push whose reply was lost is recognised on the next fetch and not
written again.

`import_sarif(session, paths, repository=None) -> Imported` is the one entry
point: the CLI and the scheduled `import` job (`tick`) call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from remediate.core import findings as fd
from remediate.core import lifecycle as lc
from remediate.core.drafting import Batch, Chain, new_id
from remediate.core.snapshot import AuditSnapshot
from remediate.core.streams import StreamEvent
from remediate.core.times import iso
from remediate.documents import sarif
from remediate.errors import UserError
from remediate.service import audit_log
from remediate.service.runtime import Runtime, actor_or_none, load, person
from remediate.service.session import Session


@dataclass
class Imported:
    scans: list[fd.Scan]
    at: datetime
    warnings: tuple[str, ...] = ()
    events: int = 0  # written by this import

    def as_json(self) -> dict[str, Any]:
        return {"scans": [s.as_json(self.at) for s in self.scans]}


class SarifInvalid(UserError):
    """One or more files are not SARIF 2.1.0: nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "nothing imported: "
            + ("1 file is" if len({p.split(": ", 1)[0] for p in problems}) == 1 else "files are")
            + " not valid SARIF 2.1.0\n"
            + "\n".join(problems)
        )
        self.lines = problems


def read(paths: Sequence[Path]) -> list[tuple[str, dict[str, Any]]]:
    """Every file as a validated SARIF log (name, log); SarifInvalid naming each problem."""
    problems: list[str] = []
    logs: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        name = str(path)
        try:
            if not path.is_file():
                problems.append(f"{name}: -: not a file")
                continue
            size = path.stat().st_size
            if size > sarif.MAX_BYTES:
                problems.append(
                    f"{name}: -: {size} bytes is more than the limit of {sarif.MAX_BYTES} bytes"
                )
                continue
            raw = path.read_bytes()
        except OSError as exc:
            problems.append(f"{name}: -: cannot read it: {exc.strerror or exc}")
            continue
        data, found = sarif.parse(name, raw)
        problems += found
        if data is not None:
            logs.append((name, data))
    if problems:
        raise SarifInvalid(problems)
    return logs


def scans_of(
    logs: Sequence[tuple[str, dict[str, Any]]],
    repository: str | None,
    default_repository: str,
    redact: Any,
) -> list[fd.Scan]:
    """One scan per (tool, repository) of every run of every log, in order of appearance."""
    by_key: dict[tuple[str, str], fd.Scan] = {}
    for name, log in logs:
        for run in log.get("runs") or []:
            repo = fd.name(repository or "", fd.MAX_PATH) or fd.repository_of(run)
            repo = repo or default_repository
            tool = fd.tool_of(run)
            scan = by_key.get((tool, repo))
            if scan is None:
                scan = by_key[(tool, repo)] = fd.Scan(new_id(), tool, repo, [])
            if name not in scan.files:
                scan.files = (*scan.files, name)
            known = {r.id for r in scan.results}
            scan.results += [r for r in fd.results_of(run, repo, redact) if r.id not in known]
    return list(by_key.values())


def existing(snap: AuditSnapshot) -> dict[str, dict[str, Any]]:
    """Every finding of the audit: id → record."""
    return {s: st.value for s, st in snap.stream(fd.STREAM).items() if fd.is_finding(st.value)}


def import_sarif(
    session: Session,
    paths: Sequence[Path],
    repository: str | None = None,
) -> Imported:
    """Import SARIF files (all or nothing) as findings; commit and push their events.

    `repository`: the findings' repository (default: each run's
    `versionControlProvenance[0].repositoryUri`, else `Settings.metadata.name`). Events
    carry the runner's clock."""
    if not paths:
        raise UserError("import sarif: name at least one SARIF file")
    logs = read(paths)  # before anything is fetched: a bad file costs nothing
    rt = load(session)
    return record(session, rt, logs, repository)


def record(
    session: Session,
    rt: Runtime,
    logs: Sequence[tuple[str, dict[str, Any]]],
    repository: str | None,
) -> Imported:
    from remediate.executors.base import ambient_secrets
    from remediate.executors.redaction import Redactor

    settings = rt.repository.settings
    moment = session.clock.now()
    redact = Redactor(ambient_secrets(session.env.variables()))
    scans = scans_of(logs, repository, settings.name, redact)
    actor = actor_or_none(session) or settings.runner_email
    result = Imported(scans, moment, rt.warnings)

    def build(snap: AuditSnapshot) -> Batch | None:
        chain = Chain(snap)
        if any(snap.subject(fd.STREAM, fd.SCAN_PREFIX + s.id).ids for s in scans):
            return None  # landed already (a push whose reply was lost)
        found = existing(snap)

        def completed(request_id: str) -> bool:
            return snap.state(request_id).status == lc.COMPLETED

        result.events = 0
        for scan in scans:
            scan.counts = dict.fromkeys(scan.counts, 0)
            changes = fd.changes_of(scan, found, moment, completed)
            changes.append(fd.scan_change(scan, moment))
            for change in changes:
                chain.add_to(_event(change, moment, actor))
            result.events += len(changes)
            for change in changes:  # a later scan of this import sees this one's findings
                state = chain.subject(fd.STREAM, change.subject)
                if fd.is_finding(state.value):
                    found[change.subject] = state.value
        names = ", ".join(f"{s.tool} {s.repository}" for s in scans) or "no runs"
        return chain.batch(f"remediate import sarif: {names}")

    audit_log.write(session, build, moment, person(actor, rt.store), rt.runner)
    audit_log.save_checkpoint(session, rt.runner)
    return result


def _event(change: fd.Change, now: datetime, actor: str) -> StreamEvent:
    return StreamEvent(
        id=new_id(),
        at=iso(now) or "",
        stream=fd.STREAM,
        subject=change.subject,
        verb=change.verb,
        actor=actor,
        details=change.details,
    )
