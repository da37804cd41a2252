"""Benchmark certificate issuance against a real Pebble (the Debian package `pebble`).

    .venv/bin/python bench/bench_acme.py [--rounds 7] [--apply-rounds 3]

- the `acme` executor alone, HTTP-01 by webroot: a fresh certificate path each round, so
  each round orders, validates, finalizes and installs a certificate (the account is
  registered once, as in production);
- the same through `remediate apply` in a real git repository with a bare remote (one
  request per round; includes validation, claim, audit commits and pushes);
- the still-valid check of a re-run (no ACME traffic).

Pebble runs with its defaults (5 % of nonces rejected) and PEBBLE_VA_NOSLEEP=1 (without it
Pebble's validator waits up to 15 s on purpose). Prints medians; figures go to
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pebble_support import Pebble, pebble  # noqa: E402
from tests.runner_support import (  # noqa: E402
    action_yaml,
    clone,
    json_out,
    make_remote,
    remediate,
    request_yaml,
)
from tests.test_acme import acme_action, acme_lines  # noqa: E402
from tests.test_runner_executors import context  # noqa: E402

from remediate.executors.acme import AcmeExecutor  # noqa: E402


def direct(peer: Pebble, out: Path, account: Path) -> float:
    config = {
        "directory": peer.directory,
        "caBundle": str(peer.ca_bundle),
        "domains": ["bench.example.test"],
        "challenge": "http-01",
        "webroot": str(peer.webroot),
        "certificate": str(out / "cert.pem"),
        "key": str(out / "key.pem"),
        "accountKey": str(account),
    }
    start = time.perf_counter()
    result = AcmeExecutor().run(context("acme", config, timeout=60))
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"issuance failed: {result.error}")
    return elapsed


def through_apply(peer: Pebble, tmp: Path, noop: bool = False) -> float:
    """One `remediate apply` of one request: an acme issuance, or (`noop`) a command
    that does nothing, the runner's own cost in the same repository shape."""
    tmp.mkdir()
    out = tmp / "tls"
    lines = acme_lines(peer, out, ["apply.example.test"],
                       f"challenge: http-01\nwebroot: {peer.webroot}\n")  # fmt: skip
    action = acme_action("renew", lines)
    if noop:
        action = action_yaml("renew", ["true"], idempotent=True, retries=0)
    bare = make_remote(
        tmp,
        actions={"renew": action},
        requests={"rem-bench": request_yaml("rem-bench", action="renew")},
    )
    repo = clone(tmp, bare, "work")
    start = time.perf_counter()
    done = remediate(repo, "apply", "--format", "json")
    elapsed = time.perf_counter() - start
    if json_out(done)["executed"] != [{"requestId": "rem-bench", "status": "COMPLETED"}]:
        raise SystemExit(f"apply did not issue: {done.stdout[-800:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--apply-rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        with pebble(tmp / "pebble") as peer:
            account = tmp / "account.pem"
            direct(peer, tmp / "warm", account)  # registers the account once
            issue = [direct(peer, tmp / f"d{i}", account) for i in range(args.rounds)]
            still = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                direct(peer, tmp / "d0", account)
                still.append(time.perf_counter() - start)
            applied, baseline = [], []
            for i in range(args.apply_rounds):  # alternating, so load hits both
                applied.append(through_apply(peer, tmp / f"a{i}"))
                baseline.append(through_apply(peer, tmp / f"n{i}", noop=True))
    report = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "issue_executor_s": round(statistics.median(issue), 3),
        "issue_executor_all_s": [round(t, 3) for t in issue],
        "still_valid_s": round(statistics.median(still), 4),
        "issue_through_apply_s": round(statistics.median(applied), 3),
        "issue_through_apply_all_s": [round(t, 3) for t in applied],
        "noop_command_through_apply_s": round(statistics.median(baseline), 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
