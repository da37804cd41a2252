"""Generate a synthetic remediation repository for benchmarks.

    python bench/generate.py DIR [--requests 10000] [--action-types 50] [--policies 100]

Deterministic (seeded): the same arguments give the same files. Requests are
~35-line block-style documents like a person would write; policies mix match
keys, CEL conditions, change windows and rate limits.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
from pathlib import Path

ENVIRONMENTS = ["production", "staging", "dev", "qa", "prod-eu", "prod-us", "sandbox", "perf"]
SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
TEAMS = ["sre", "platform", "security", "dba", "network"]

SETTINGS = """apiVersion: remediate/v1
kind: Settings
metadata:
  name: bench-org
spec:
  organization: Bench Org
  forge: {type: local}
  defaultDecision: require_approval
  rbac:
    admins: [admin@example.com]
    operators: ["team:sre"]
    viewers: ["*"]
  teams:
@TEAMS@
  retentionDays: 30
"""


def action_type(i: int) -> str:
    return f"""apiVersion: remediate/v1
kind: ActionType
metadata:
  name: action-{i:02d}
spec:
  description: Synthetic action {i}
  parameters:
    type: object
    required: [service]
    properties:
      service: {{type: string, pattern: "^[a-z0-9-]+$"}}
      replicas: {{type: integer, minimum: 0, maximum: 100}}
      reason: {{type: string, maxLength: 200}}
    additionalProperties: false
  executor:
    command:
      argv: ["true", "{{{{ parameters.service }}}}"]
  timeout: 60s
  idempotent: {"true" if i % 2 else "false"}
  retries: {{max: 1, backoff: 10s}}
"""


def policy(i: int, rng: random.Random) -> str:
    env = ENVIRONMENTS[i % len(ENVIRONMENTS)]
    lines = [
        "apiVersion: remediate/v1",
        "kind: GuardrailPolicy",
        "metadata:",
        f"  name: policy-{i:03d}",
        "spec:",
        f"  description: Synthetic policy {i}",
        "  match:",
        f"    environments: [{env}]",
    ]
    if i % 3 == 0:
        lines.append(f"    actionTypes: [action-{i % 50:02d}, action-{(i + 7) % 50:02d}]")
    if i % 5 == 1:
        lines.append(f"    services: [svc-{i % 40:03d}*]")
    lines.append("  rules:")
    severities = '["HIGH", "CRITICAL"]' if i % 2 else '["CRITICAL"]'
    team = TEAMS[i % len(TEAMS)]
    lines += [
        f"    - name: severe-needs-{team}",
        f"      when: 'request.severity in {severities}'",
        "      effect: require_approval",
        f'      approvals: {{min: {1 + i % 2}, from: ["team:{team}"]}}',
    ]
    if i % 4 == 0:
        lines += [
            "    - name: no-big-scale",
            "      when: 'has(request.action.parameters.replicas) && request.action.parameters.replicas > 50'",
            "      effect: deny",
            "      message: Scaling above 50 replicas needs a change request",
        ]
    if i % 7 == 0:
        lines += [
            "    - name: low-is-fine",
            "      when: 'request.severity == \"LOW\"'",
            "      effect: allow",
        ]
    if i % 10 == 0:
        lines += [
            "  changeWindows:",
            '    - {cron: "0 8 * * 1-5", duration: 10h, timezone: Europe/Berlin}',
        ]
    if i % 6 == 0:
        lines += ["  rateLimit: {max: 5, per: 1h, by: [serviceName]}"]
    if i % 25 == 0:
        lines += ["  blockedEnvironments: [prod-legacy]"]
    return "\n".join(lines) + "\n"


def request(i: int, rng: random.Random) -> str:
    env = rng.choice(ENVIRONMENTS)
    svc = f"svc-{rng.randrange(400):03d}"
    return f"""apiVersion: remediate/v1
kind: RemediationRequest
metadata:
  name: rem-{i:05d}
  labels:
    team: {rng.choice(TEAMS)}
    source: synthetic
spec:
  action:
    type: action-{rng.randrange(50):02d}
    parameters:
      service: {svc}
      replicas: {rng.randrange(100)}
      reason: synthetic load for the benchmark
  serviceName: {svc}
  environment: {env}
  severity: {rng.choice(SEVERITIES)}
  incidentId: a0000000-0000-4000-8000-{i:012d}
  findingId: null
  assetId: asset-{rng.randrange(10000):05d}
  owner: owner{rng.randrange(50)}@example.com
  notes: >
    Synthetic request number {i}. The service {svc} misbehaved in {env};
    the on-call engineer asked for this remediation after the first
    rollback did not help. This paragraph makes the document as long as
    a real request with some context written by a person.
  targetDate: 2026-12-{1 + i % 28:02d}
"""


def generate(
    root: Path, requests: int = 10000, action_types: int = 50, policies: int = 100
) -> Path:
    rng = random.Random(42)
    if root.exists():
        shutil.rmtree(root)
    for sub in ("actions", "policies", "remediations"):
        (root / sub).mkdir(parents=True)
    # every team a policy names is defined (validate refuses an unknown team:<slug>)
    teams = "\n".join(f"    {t}: [{t}1@example.com, {t}2@example.com]" for t in TEAMS)
    (root / "remediate.yaml").write_text(SETTINGS.replace("@TEAMS@", teams))
    for i in range(action_types):
        (root / "actions" / f"action-{i:02d}.yaml").write_text(action_type(i))
    for i in range(policies):
        (root / "policies" / f"policy-{i:03d}.yaml").write_text(policy(i, rng))
    for i in range(requests):
        shard = root / "remediations" / f"{i // 1000:02d}"
        shard.mkdir(exist_ok=True)
        (shard / f"rem-{i:05d}.yaml").write_text(request(i, rng))
    # a remediation repository is a git work tree (commands refuse any other directory)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--action-types", type=int, default=50)
    parser.add_argument("--policies", type=int, default=100)
    args = parser.parse_args()
    generate(args.directory, args.requests, args.action_types, args.policies)
    print(f"generated {args.requests} requests, {args.action_types} action types, "
          f"{args.policies} policies in {args.directory}")  # fmt: skip


if __name__ == "__main__":
    main()
