"""REMEDIATE_NOW changes what `plan` evaluates, never what `apply` decides by or records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from remediate.core.times import iso, parse_time
from tests.runner_support import (
    action_yaml,
    cli_env,
    clone,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
)


def test_remediate_now_in_the_past_neither_bypasses_a_freeze_nor_back_dates_the_audit(
    tmp_path: Path,
) -> None:
    real = datetime.now(UTC)
    frozen_since = iso(real - timedelta(days=1))
    freeze = f"""\
apiVersion: remediate/v1
kind: GuardrailPolicy
metadata: {{name: freeze}}
spec:
  match: {{environments: [staging]}}
  rules:
    - name: freeze
      when: 'now >= timestamp("{frozen_since}")'
      effect: deny
      message: Change freeze
"""
    log = tmp_path / "log"
    bare = make_remote(
        tmp_path,
        actions={"noop": action_yaml("noop", ["/bin/sh", "-c", f"echo ran >> {log}"])},
        requests={"rem-f": request_yaml("rem-f")},
        policies={"freeze": freeze},
    )
    work = clone(tmp_path, bare, "runner")
    past = iso(real - timedelta(days=2)) or ""  # before the freeze began
    plan = remediate(work, "plan", "--format", "json", env=cli_env(past))
    assert json.loads(plan.stdout)["decisions"][0]["status"] == "QUEUED"  # plan: as of then
    before = datetime.now(UTC)
    done = remediate(work, "apply", "--format", "json", env=cli_env(past))
    after = datetime.now(UTC)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decided"] == [
        {"requestId": "rem-f", "status": "POLICY_VIOLATION"}
    ]
    assert not log.exists()  # the freeze holds at the runner's real clock
    events = remote_events(tmp_path, bare)
    assert events, "nothing was recorded"
    for event in events:  # recorded at the runner's real clock, not at REMEDIATE_NOW
        assert before - timedelta(seconds=1) <= parse_time(event["at"]) <= after
    assert remediate(work, "audit", "verify").returncode == 0
