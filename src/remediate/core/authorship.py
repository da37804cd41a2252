"""Who wrote `audit/`: the guard's rules, judged on content, never on history's shape.

Every file under `audit/` at the tip must be byte for byte what a runner commit added,
and every file a runner commit added must still be there. A runner commit is a commit
with one parent whose committer is one of the runner's identities
(`Settings.spec.runner.identities`, and its current e-mail) and — when
`Settings.spec.runner.signing` lists allowed SSH keys — that carries a good signature by
one of them. Merge commits by people, reverts and rebases of people's branches change
nothing the rule looks at, so they pass; a file someone added, edited or deleted fails,
named with the commit that did it (a `git revert` of it is the way back).

`judge` is incremental: given a trusted base (the commit the runner's checkpoint
summarises, judged when it was written), it looks only at what changed since. Pure: the
store lists the commits and the tree diff (`service.verify` asks it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from remediate.core.commits import AuditCommit

REVERT = "git revert"


@dataclass(frozen=True)
class RunnerTrust:
    """What makes a commit the runner's: its identities, and the SSH keys that must sign."""

    identities: tuple[str, ...]  # e-mails, the current one first
    keys: tuple[str, ...] = ()  # allowed SSH public keys ("ssh-ed25519 AAAA… comment")
    since: str = ""  # runner.signingSince: this commit and its ancestors need no signature
    unsigned: frozenset[str] = frozenset()  # those of them that touched audit/ (`service`)

    @classmethod
    def of(
        cls, email: str, identities: Iterable[str] = (), keys: Iterable[str] = (), since: str = ""
    ) -> RunnerTrust:
        names = tuple(dict.fromkeys(e.casefold() for e in (email, *identities)))
        return cls(names, tuple(keys), since)

    @property
    def email(self) -> str:
        return self.identities[0]

    @property
    def signing(self) -> bool:
        return bool(self.keys)

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(f for f in (fingerprint(k) for k in self.keys) if f)

    def shown(self) -> str:
        """The identities as a message names them."""
        return ", ".join(self.identities)

    def refusal(self, commit: AuditCommit) -> str | None:
        """Why `commit` is not the runner's (None when it is)."""
        if commit.merge:
            return "a merge commit"
        if commit.committer.casefold() not in self.identities:
            return f"committed by {commit.committer}, not the runner ({self.shown()})"
        if not self.signing or commit.sha in self.unsigned:
            return None  # no signing, or made before it was turned on (`signingSince`)
        if commit.signature == "N" or not commit.key:
            return f"committed as {commit.committer} but not signed"
        if commit.signature != "G" or commit.key not in self.fingerprints:
            return (
                f"committed as {commit.committer} but signed by {commit.key or 'an unknown key'}, "
                "not by a key of Settings.spec.runner.signing"
            )
        return None

    def is_runner(self, commit: AuditCommit) -> bool:
        return self.refusal(commit) is None


def as_trust(runner: RunnerTrust | str) -> RunnerTrust:
    """A bare e-mail is a runner with that one identity and no keys."""
    return runner if isinstance(runner, RunnerTrust) else RunnerTrust.of(runner)


def fingerprint(public_key: str) -> str | None:
    """`SHA256:…` of an OpenSSH public key line (what `ssh-keygen -l` and git's %GK show)."""
    parts = public_key.split()
    if len(parts) < 2:
        return None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return None
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


@dataclass(frozen=True)
class Problem:
    """One audit file the runner did not write as it is, and the commit that made it so."""

    path: str
    what: str  # "added", "modified", "deleted"
    commit: AuditCommit | None = None  # the offending commit, when the history names one
    why: str = ""

    def __str__(self) -> str:
        if self.commit is None:
            return f"{self.path}: {self.what}; {self.why}"
        short = self.commit.sha[:12]
        undo = f"{REVERT} -m 1 {short}" if self.commit.merge else f"{REVERT} {short}"
        return f"{self.path}: {self.what} by commit {short} ({self.why}); `{undo}` undoes it"


def _digest(*parts: str) -> bytes:
    """128 bits of `parts`: what a set of 150,000 paths and blobs needs to hold of each."""
    joined = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(joined, digest_size=16).digest()


@dataclass
class Ledger:
    """What the runner's commits added, read once as they stream past: (path, blob) and
    path digests (49 bytes a file where the strings and tuples are ~250), and how many
    commits were looked at."""

    trust: RunnerTrust
    added: set[bytes] = field(default_factory=set)  # _digest(path, blob)
    paths: set[bytes] = field(default_factory=set)  # _digest(path)
    commits: int = 0

    @classmethod
    def of(cls, commits: Iterable[AuditCommit], trust: RunnerTrust) -> Ledger:
        ledger = cls(trust)
        for commit in commits:
            ledger.add(commit)
        return ledger

    def add(self, commit: AuditCommit) -> None:
        self.commits += 1
        if self.trust.is_runner(commit):
            for letter, path, blob in commit.changes:
                if letter == "A":
                    self.added.add(_digest(path, blob))
                    self.paths.add(_digest(path))

    def wrote(self, path: str, blob: str) -> bool:
        return _digest(path, blob) in self.added


def judge(
    changed: Iterable[tuple[str, str, str]],
    commits: Iterable[AuditCommit],
    trust: RunnerTrust,
    at_tip: Collection[str] | None = None,
    retired: Collection[str] = (),
) -> list[Problem]:
    """Every audit file that is not what a runner commit added, or that a runner commit
    added and is gone.

    `changed`: (A/M/D, path, blob at the tip) of every audit file that differs between
    the trusted base and the tip (every file at the tip when there is no base);
    `commits`: every commit after the base that touched `audit/`, newest first (a merge
    shown against its first parent); `at_tip`: the paths under `audit/` at the tip (None:
    those of `changed`, every file at the tip); `retired`: files a retention commit of the
    runner removed (`retention_paths`): their absence is no problem (its checkpoint events
    carry their state and hash), their return is.
    """
    history = list(commits)
    return judged(changed, Ledger.of(history, trust), at_tip, retired, lambda: history)


def judged(
    changed: Iterable[tuple[str, str, str]],
    ledger: Ledger,
    at_tip: Collection[str] | None,
    retired: Collection[str],
    history: Callable[[], list[AuditCommit]],
) -> list[Problem]:
    """`judge` on a `Ledger` of the commits, reading `changed` once: the commits
    themselves (`history()`, newest first) are asked for only when something is wrong,
    to name the commit that did it."""
    tip: set[bytes] | None = set() if at_tip is None else None
    wrong: list[tuple[str, str, str]] = []  # (A/M/D, path, blob): a problem, once named
    for letter, path, blob in changed:
        if tip is not None and letter != "D":
            tip.add(_digest(path))
        if path in retired and letter == "D":
            continue
        if path in retired or letter == "D" or not ledger.wrote(path, blob):
            wrong.append((letter, path, blob))
    present = tip if tip is not None else {_digest(path) for path in at_tip or ()}
    gone = ledger.paths - present
    if gone:
        gone -= {_digest(path) for path in (*retired, *(path for _, path, _ in wrong))}
    if not wrong and not gone:
        return []
    commits = history()
    problems: list[Problem] = []
    for letter, path, blob in wrong:
        if path in retired:  # put back after retention replaced it: not the runner's doing
            problems.append(_restored(path, blob, commits, ledger.trust))
        elif letter == "D":
            problems.append(_deleted(path, commits))
        else:
            problems.append(_foreign(path, blob, letter, commits, ledger.trust))
    lost = {
        path
        for commit in commits
        if ledger.trust.is_runner(commit)
        for letter, path, _ in commit.changes
        if letter == "A" and _digest(path) in gone
    }
    for path in sorted(lost):
        problems.append(_deleted(path, commits))
    return problems


def retention_paths(commit: AuditCommit, record: Mapping[str, Any] | None) -> frozenset[str]:
    """The audit files a retention commit retired: only a commit whose deletions are exactly
    those its retention record (`core.retention`: the `enforce` event it adds) counts and
    digests, which modifies nothing; anything else retires nothing (its deletions are
    tampering, judged as such). Whether it is the runner's is the caller's check."""
    from remediate.core.retention import removed_digest

    deleted = [path for letter, path, _ in commit.changes if letter == "D"]
    if not deleted or record is None or commit.merge:
        return frozenset()
    if any(letter not in "AD" for letter, _, _ in commit.changes):
        return frozenset()
    if record.get("files") != len(deleted) or record.get("removed") != removed_digest(deleted):
        return frozenset()
    return frozenset(deleted)


def _restored(path: str, blob: str, history: list[AuditCommit], trust: RunnerTrust) -> Problem:
    why = "retention replaced it; it may not come back"
    for commit in _ordered(history):
        for change, where, content in commit.changes:
            if where == path and content == blob and change in "AM":
                who = trust.refusal(commit)
                return Problem(path, "added", commit, f"{why}{'; ' + who if who else ''}")
    return Problem(path, "added", None, why)


def _ordered(history: list[AuditCommit]) -> list[AuditCommit]:
    """Newest first, commits before merges: a merge is named only when it did it itself."""
    return [c for c in history if not c.merge] + [c for c in history if c.merge]


def _foreign(
    path: str, blob: str, letter: str, history: list[AuditCommit], trust: RunnerTrust
) -> Problem:
    """A file at the tip that no runner commit added as it is: name who put it there."""
    for commit in _ordered(history):  # the last commit that gave it this content
        for change, where, content in commit.changes:
            if where == path and content == blob and change in "AM":
                why = trust.refusal(commit) or "audit files are only ever added"
                return Problem(path, "added" if change == "A" else "modified", commit, why)
    what = "modified" if letter == "M" else "added"
    return Problem(path, what, None, "no commit since the runner's checkpoint shows who did it")


def _deleted(path: str, history: list[AuditCommit]) -> Problem:
    why = "audit files are only ever added"
    for commit in _ordered(history):
        if any(where == path and change == "D" for change, where, _ in commit.changes):
            return Problem(path, "deleted", commit, why)
    return Problem(path, "deleted", None, why)
