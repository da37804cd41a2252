"""Values of the git world that use cases handle: people, audit commits, push outcomes.

They live here, not in the git adapter, so that `service/` names them without importing
an adapter (`service.ports` says what a store does with them).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True, slots=True)  # slots: `audit verify` holds one per audit commit
class AuditCommit:
    sha: str
    committer: str  # e-mail
    author: str  # e-mail
    changes: tuple[tuple[str, str, str], ...]  # (status letter, path, blob after it)
    merge: bool = False  # more than one parent (its changes: against the first)
    signature: str = "N"  # git's %G?: G good by an allowed key, N none, U/B/E/X/Y/R other
    key: str = ""  # the signing key's fingerprint (%GK), when signed


class PushOutcome:
    OK = "ok"
    REJECTED = "rejected"  # the remote moved on: fetch, rebuild, retry
    AMBIGUOUS = "ambiguous"  # the reply was lost: the ref may have moved


# A compare-and-swap ref push, per ref: "won", "lost" or "unknown" (the reply was lost).
WON, LOST, UNKNOWN = "won", "lost", "unknown"
# the expected value of a ref deletion that holds whatever the ref holds (`Refs.push_leases`)
ANY_VALUE = "*"
