"""Per-target locks across runners: one action per service and environment at a time.

A runner takes `refs/locks/<environment>/<service>` (created only if absent,
a compare-and-swap on the remote) before it claims requests on that target,
runs that target's actions one after another, and deletes the ref when done
(only if it still holds its own lock). A lock names its expiry: the sum of
the timeouts of the actions it covers plus the clock-skew allowance
(`Settings.spec.runner.clockSkew`); a runner that died leaves
a lock that another runner may take over once it has expired, again with a
compare-and-swap on the expired value.

Anyone who may push can push a ref there too. A commit at a lock ref that is no
runner's lock (not made by the runner: `checkpoint.by_runner`, or no readable lock in
it), or a ref where the lock's path goes (`refs/locks/staging` for
`refs/locks/staging/api`: git keeps refs as paths), is never taken for another runner's
lock, and never broken either (a runner before signing was set up made unsigned locks):
the target waits, and the reason names the ref and the command that deletes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from remediate.core.authorship import RunnerTrust
from remediate.core.commits import Person
from remediate.core.matching import normalize_name
from remediate.core.times import iso, later, parse_time
from remediate.service.checkpoint import by_runner
from remediate.service.claims import in_the_way, who_won
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
    # target → why a ref that is no runner's lock stops it (with how to delete that ref)
    stuck: dict[Target, str] = field(default_factory=dict)


def acquire(
    store: Store,
    runner: Person,
    now: datetime,
    targets: dict[Target, timedelta],
    skew: timedelta = GRACE,
    trust: RunnerTrust | None = None,
) -> tuple[set[Target], Held]:
    """Take the locks of `targets` (target → how long its actions may take), each lease
    allowing `skew` between runners' clocks and nothing more. `trust`: whose commits are
    locks (default: `runner`'s alone)."""
    if not targets:
        return set(), Held()
    trust = trust or RunnerTrust.of(runner.email)
    current = store.claim_refs(LOCKS_PREFIX) or {}
    expected: dict[str, str] = {}
    stuck: dict[Target, str] = {}
    for target in targets:
        ref = lock_ref(target)
        if ref in current:
            state = _state(store, trust, ref, current[ref], now)
            if state == "held":
                continue
            if state != "expired":
                stuck[target] = f"{ref} {state}: delete it with `git push origin :{ref}`"
                continue
            expected[ref] = current[ref]  # take over a dead runner's lock
        else:
            expected[ref] = ""
    if not expected:
        return set(), Held(stuck=stuck)
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
    for target in targets:
        ref = lock_ref(target)
        if expected.get(ref) == "" and not ours.get(ref):
            other = in_the_way(store, ref, current)
            if other is not None:  # not another runner's lock: nothing can create it
                stuck[target] = (
                    f"{other} stands where the lock {ref} goes and is no runner's lock: "
                    f"delete it with `git push origin :{other}`"
                )
    return won, Held({lock_ref(t): sha for t in won}, stuck)


def release(store: Store, held: Held) -> None:
    """Delete our locks (each only if it is still ours)."""
    if held.refs:
        store.push_leases({ref: (None, sha) for ref, sha in held.refs.items()})


def _state(store: Store, trust: RunnerTrust, ref: str, sha: str, now: datetime) -> str:
    """ "held" (a runner's lock, not expired), "expired", or what else the commit is."""
    store.fetch_refs([ref])
    if store.resolve(sha) is None:
        if store.refs_named([ref]).get(ref) != sha:
            return "held"  # not fetched (the ref moved or went meanwhile): read it next run
        return f"holds {sha[:12]}, which is no commit and no lock"
    if not by_runner(store, sha, trust, LOCK_FILE):
        return f"holds commit {sha[:12]}, which is no runner's lock (this runner did not make it)"
    text = store.show(sha, LOCK_FILE)
    try:
        body = json.loads(text or "")
        return "expired" if now >= parse_time(str(body["expires"])) else "held"
    except (ValueError, KeyError, TypeError, RecursionError):
        return f"holds commit {sha[:12]}, which holds no readable {LOCK_FILE}"
