"""A run whose last bookkeeping commit cannot land still reports what it ran: apply's
refill (the auto-remediation requests for slots its outcomes freed) is refused by the
remote here, after the actions ran and their outcomes were recorded. Found by an
adversarial review: apply exited 1, printed nothing it ran, and left its locks, claim and
starts refs, and checkpoint for the next run. Real git with a pre-receive hook."""

from __future__ import annotations

import json
from pathlib import Path

from tests.runner_support import OPERATOR2, clone, git, remediate
from tests.test_autoremediation import apply_json, import_, made, result, sarif, setup

HOOK = """#!/bin/sh
while read old new ref; do
  if [ "$ref" = refs/heads/main ] && git log -1 --format=%s "$new" | grep -q "request(s) made"; then
    echo "refusing the refill commit" >&2; exit 1
  fi
done
exit 0
"""


def test_a_refused_refill_leaves_a_warning_and_the_runs_report(tmp_path: Path) -> None:
    bare, repo, _log = setup(tmp_path, "require_approval", 2)
    found = [
        result("py.eval", f"app/m{i}.py", "error", f"eval {i}", f"eval({i})") for i in (1, 2, 3)
    ]
    import_(repo, sarif(tmp_path, 1, *found))
    chosen = made(apply_json(repo))[0]
    assert remediate(clone(tmp_path, bare, "ops2", OPERATOR2), "approve", chosen).returncode == 0
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(HOOK)
    hook.chmod(0o755)
    done = remediate(repo, "apply", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert {"requestId": chosen, "status": "COMPLETED"} in body["executed"]
    assert any(
        w.startswith("the requests for the slots this run freed were not recorded (")
        and w.endswith("the next apply makes them")
        for w in body["warnings"]
    ), body["warnings"]
    left = git(bare, "for-each-ref", "--format=%(refname)", "refs/locks/", "refs/claims/")
    assert left.strip() == ""  # the run's last push still went
    hook.unlink()
    assert made(apply_json(repo))  # the next apply makes the request for the freed slot
