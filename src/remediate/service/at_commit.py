"""The documents a state-changing command acts on: those of the fetched tip, never the
working tree, with the automation's own files as their admins last made them.

`documents(session, rev, skip)` loads every document of commit `rev` through the
`CommitDocuments` port (the same layers as `validate`, fail closed), holding back each
version of `remediate.yaml`, `actions/` and `policies/` that no admin made
(`core.automation`), and says in warnings what it ignored: files of the working tree that
differ from `rev`, and the versions held back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from remediate.core.automation import (
    AUTOMATION_PATHS,
    SETTINGS_FILES,
    AdminsOf,
    Record,
    Trusted,
    Version,
    Vouch,
    Voucher,
    admin_in,
    is_automation,
)
from remediate.core.identity import Directory
from remediate.core.model import Settings, build_repository
from remediate.documents.repository import Skip, ValidationReport
from remediate.service.ports import AuditReader, CommitDocuments


@dataclass(frozen=True)
class AtCommit:
    """What a command read at `rev`: the report (documents), the settings, the warnings."""

    rev: str
    report: ValidationReport
    trusted: Trusted
    local: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


Known = tuple[str, Record]  # (commit, the automation record as of it)


def trusted(
    commits: CommitDocuments,
    rev: str,
    known: Known | None = None,
    vouches: Sequence[Vouch] | None = None,
) -> Trusted:
    """For each automation file at `rev`, the version an admin made (`core.automation`):
    from `known` (a commit of `rev`'s first-parent line and its record) and the versions
    made since, when that can say; else from the whole history. `vouches`: the admins'
    approvals of merged pull requests the audit records (None: not read yet; then only
    those `known` was made with count)."""
    from remediate.core import automation

    admins_of = _admins(commits)
    found = advanced(commits, rev, known, admins_of, vouches) if known is not None else None
    if found is None:
        history = commits.automation_history(rev, AUTOMATION_PATHS)
        found = automation.record(history, admins_of, vouches or ())
    return found.trusted({p: b for p, b in commits.blobs(rev).items() if is_automation(p)})


def advanced(
    commits: CommitDocuments,
    rev: str,
    known: Known,
    admins_of: AdminsOf | None = None,
    vouches: Sequence[Vouch] | None = None,
) -> Record | None:
    """The record as of `rev` from `known` and the versions made since; None when only
    the whole history can say (`core.automation.advance`)."""
    from remediate.core.automation import advance

    commit, record = known
    if commit == rev:
        since: Sequence[Version] | None = []
    else:
        since = commits.automation_since(commit, rev, AUTOMATION_PATHS)
    if since is None:
        return None
    return advance(record, since, admins_of or _admins(commits), vouches)


def revouched(
    commits: CommitDocuments, rev: str, record: Record, vouches: Sequence[Vouch]
) -> Trusted:
    """`trusted` at `rev` given its `record` made with fewer vouches than `vouches`: from
    the versions back to the oldest commit a vouch the record did not see names (the push
    that merged the pull request, usually the last few commits), when that can say
    (`core.automation.revouch`); else from the whole history."""
    from remediate.core import automation

    admins_of = _admins(commits)
    named = [c for v in automation.unseen(record, vouches) for c in v.commits]
    since = commits.automation_from(named, rev, AUTOMATION_PATHS)
    found = automation.revouch(record, since, admins_of, vouches) if since is not None else None
    if found is None:
        history = commits.automation_history(rev, AUTOMATION_PATHS)
        found = automation.record(history, admins_of, vouches)
    return found.trusted({p: b for p, b in commits.blobs(rev).items() if is_automation(p)})


def _admins(commits: CommitDocuments) -> AdminsOf:
    cache: dict[str | None, Callable[[Voucher], bool]] = {}

    def admins_of(blob: str | None) -> Callable[[Voucher], bool]:
        if blob not in cache:
            cache[blob] = admin_in(Directory.from_settings(_settings(commits, blob)))
        return cache[blob]

    return admins_of


def recorded(store: AuditReader, commits: CommitDocuments, tip: str) -> Known | None:
    """The automation record of the runner's checkpoint (`checkpoint.automation`), when
    this process can trust it. The record names the settings in force, and so who the
    runner is: to break that circle, a runner holding a signing key trusts only a
    checkpoint signed by that very key (one whose public key it cannot read, none); one
    without a key, only a record whose settings sign nothing, committed by an identity
    that both those settings and the settings file at `tip` (which only a commit on the
    branch changes, never a pushed ref) name as the runner's."""
    from dataclasses import replace

    from remediate.service import checkpoint

    found = checkpoint.automation(store)
    if found is None:
        return None
    sha, commit, record = found
    if record.in_force is None:
        return None
    trust = _settings(commits, record.in_force.blob).runner_trust
    own = store.own_key()
    if own is not None:
        if not own or not trust.signing:
            return None
        return (
            (commit, record) if checkpoint.stored(store, replace(trust, keys=(own,)), sha) else None
        )
    if trust.signing:
        return None
    at_tip = settings_at(commits, tip, Trusted()).runner_trust
    if at_tip.signing or checkpoint.stored(store, at_tip, sha) is None:
        return None
    return (commit, record) if checkpoint.stored(store, trust, sha) is not None else None


def _settings(commits: CommitDocuments, blob: str | None) -> Settings:
    if blob is None:
        return Settings()
    documents = commits.documents_of(SETTINGS_FILES[0], blob)
    settings = [d for d in documents if d.kind == "Settings"]
    return build_repository(settings).settings if settings else Settings()


def settings_at(commits: CommitDocuments, rev: str, chosen: Trusted) -> Settings:
    """The settings in force at `rev` (defaults while they do not load: the full load then
    fails closed and says why)."""
    blobs = commits.blobs(rev)
    for path in SETTINGS_FILES:
        blob = chosen.use[path] if path in chosen.use else blobs.get(path)
        if blob is not None:
            return _settings(commits, blob)
    return Settings()


def documents(
    commits: CommitDocuments, rev: str, skip: Skip | None, chosen: Trusted | None = None
) -> AtCommit:
    """Every document at `rev` (fail closed), and warnings naming what was ignored."""
    chosen = chosen if chosen is not None else trusted(commits, rev)
    commits.begin_local_edits(rev)  # git looks at the work tree while the commit is read
    try:
        report = commits.load_report(rev, skip, chosen.use)
    finally:
        local = tuple(commits.local_edits(rev))
    warnings = []
    if local:
        warnings.append(
            f"ignoring {len(local)} file(s) of the working tree that differ from the fetched "
            f"tip {rev[:12]} (uncommitted, unpushed, or an older checkout): "
            f"{', '.join(local)}; every document is read from {rev[:12]}"
        )
    warnings += [f"holding back {h.sentence}" for h in chosen.held]
    return AtCommit(rev, report, chosen, local, tuple(warnings))
