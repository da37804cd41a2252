"""Rate limits hold under races: 8 runner processes, real clones of one bare remote.

A request arrives before each runner starts, so each runner's view holds one more
request than the one before it, and each picks a different one; a `pre-receive` hook in
the bare remote holds every claim push until all eight runners have counted and
claimed. Without a count taken on the snapshot the claim commit lands on, every runner
counts what it saw and all of them start.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.runner_support import (
    action_yaml,
    clone,
    git,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
    start,
    write_requests,
)

RUNNERS = 8

LIMIT = """\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {name: noop-rate}
spec:
  match: {actionTypes: [noop]}
  rateLimit: {max: 3, per: 1h}
"""

# Holds a push that updates a claim ref while `gate` is closed; says so in `waiting/`.
HOOK = """\
#!/bin/sh
claims=0
while read old new ref; do
  case "$ref" in refs/claims/*) claims=1 ;; esac
done
if [ "$claims" = 1 ] && [ -e @GATE@/closed ]; then
  touch "@GATE@/waiting/$$"
  n=0
  while [ -e @GATE@/closed ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done
fi
exit 0
"""


def _waiting(gate: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(list((gate / "waiting").iterdir())) < count:
        assert time.monotonic() < deadline, f"fewer than {count} runners reached their claim"
        time.sleep(0.05)


@pytest.mark.parametrize(("already", "more"), [(2, 1), (0, 3)])
def test_racing_runners_start_at_most_max_executions_in_the_window(
    tmp_path: Path, already: int, more: int
) -> None:
    log = tmp_path / "executions.log"
    action = ["/bin/sh", "-c", f'echo "$1" >> {log}', "sh", "{{ request.name }}"]
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", action)},
        policies={"noop-rate": LIMIT},
        requests={f"old-{i}": request_yaml(f"old-{i}", service=f"old-{i}") for i in range(already)},
    )
    gate = tmp_path / "gate"
    (gate / "waiting").mkdir(parents=True)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(HOOK.replace("@GATE@", str(gate)))
    hook.chmod(0o755)
    author = clone(tmp_path, bare, "author")
    if already:
        assert remediate(author, "apply").returncode == 0
        assert sorted(log.read_text().split()) == [f"old-{i}" for i in range(already)]
    (gate / "closed").touch()
    runners = []
    # each runner sees one more request, earlier in name order: each picks another one
    for i in reversed(range(RUNNERS)):
        git(author, "pull", "--quiet", "--ff-only")
        write_requests(author, {f"rem-{i}": request_yaml(f"rem-{i}", service=f"svc-{i}")})
        git(author, "add", "-A")
        git(author, "commit", "--quiet", "-m", f"rem-{i}")
        git(author, "push", "--quiet", "origin", "HEAD:main")
        runners.append(start(clone(tmp_path, bare, f"runner-{i}"), "apply", "--format", "json"))
        _waiting(gate, len(runners))
    (gate / "closed").unlink()
    outputs = [p.communicate(timeout=120) for p in runners]
    for proc, (out, err) in zip(runners, outputs, strict=True):
        assert proc.returncode == 0, err
        json.loads(out)
    started = Counter(log.read_text().split())
    new = [name for name in started if name.startswith("rem-")]
    assert len(new) == more, started
    assert all(n == 1 for n in started.values()), started
    executing = Counter(
        e["requestId"] for e in remote_events(tmp_path, bare) if e["to"] == "EXECUTING"
    )
    assert sum(executing.values()) == already + more
    # every request that did not start was decided again (before its claim, or when a
    # runner saw its own batch use the limit up): POLICY_VIOLATION naming the limit
    refused = {
        e["requestId"]: str(e["details"].get("reason", ""))
        for e in remote_events(tmp_path, bare)
        if e["to"] == "POLICY_VIOLATION"
    }
    assert sorted(refused) == sorted(f"rem-{i}" for i in range(RUNNERS) if f"rem-{i}" not in new)
    assert all("Rate limit reached: 3 of 3" in why for why in refused.values()), refused
    check = clone(tmp_path, bare, "check")
    assert remediate(check, "audit", "verify").returncode == 0
