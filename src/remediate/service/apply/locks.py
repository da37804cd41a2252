"""Per-target locks across runners: one action per service and environment at a time.

A runner takes `refs/locks/<environment>/<service>` (created only if absent,
a compare-and-swap on the remote) before it claims requests on that target,
runs that target's actions one after another, and deletes the ref when done
(only if it still holds its own lock). A lock names its expiry: the sum of
the timeouts of the actions it covers plus the clock-skew allowance
(`Settings.spec.runner.clockSkew`); a runner that died leaves
a lock that another runner may take over once it has expired, again with a
compare-and-swap on the expired value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from remediate.core.commits import Person
from remediate.core.matching import normalize_name
from remediate.core.times import iso, later, parse_time
from remediate.service.claims import who_won
from remediate.service.ports import Store

LOCKS_PREFIX = "refs/locks/"
LOCK_FILE = "lock.json"
GRACE = timedelta(seconds=5)  # the default clock-skew allowance

Target = tuple[str, str]  # (environment, service), normalized: see `target`


def target(environment: str, service: str) -> Target:
    """A lock's key: names compare as policies compare them (NFC, case-folded)."""
    return (normalize_name(environment), normalize_name(service))


def lock_ref(target: Target) -> str:
    environment, service = target
    return f"{LOCKS_PREFIX}{_safe(environment)}/{_safe(service)}"


def _safe(name: str) -> str:
    return name.replace("%", "%25").replace(".", "%2E").replace("/", "%2F")


@dataclass
class Held:
    refs: dict[str, str] = field(default_factory=dict)  # ref → our lock commit


def acquire(
    store: Store,
    runner: Person,
    now: datetime,
    targets: dict[Target, timedelta],
    skew: timedelta = GRACE,
) -> tuple[set[Target], Held]:
    """Take the locks of `targets` (target → how long its actions may take), each lease
    allowing `skew` between runners' clocks and nothing more."""
    if not targets:
        return set(), Held()
    current = store.claim_refs(LOCKS_PREFIX) or {}
    expected: dict[str, str] = {}
    for target in targets:
        ref = lock_ref(target)
        if ref in current:
            if not _expired(store, ref, current[ref], now):
                continue
            expected[ref] = current[ref]  # take over a dead runner's lock
        else:
            expected[ref] = ""
    if not expected:
        return set(), Held()
    body = {
        "runner": runner.email,
        "at": iso(now),
        "expires": iso(later(now, sum(targets.values(), timedelta()) + skew)),
    }
    sha = store.make_commit(
        None, {LOCK_FILE: json.dumps(body) + "\n"}, "remediate lock\n", runner, runner
    )
    results = store.push_leases({ref: (sha, old) for ref, old in expected.items()})
    ours = who_won(store, results, dict.fromkeys(expected, sha))
    won = {t for t in targets if ours.get(lock_ref(t))}
    return won, Held({lock_ref(t): sha for t in won})


def release(store: Store, held: Held) -> None:
    """Delete our locks (each only if it is still ours)."""
    if held.refs:
        store.push_leases({ref: (None, sha) for ref, sha in held.refs.items()})


def _expired(store: Store, ref: str, sha: str, now: datetime) -> bool:
    store.fetch_refs([ref])
    text = store.show(sha, LOCK_FILE)
    try:
        body = json.loads(text or "")
        return now >= parse_time(str(body["expires"]))
    except (ValueError, KeyError, TypeError):
        return False  # an unreadable lock is not ours to break
