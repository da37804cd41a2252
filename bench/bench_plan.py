"""Benchmark the policy engine: `plan` over 10,000 requests x 100 policies.

    .venv/bin/python bench/bench_plan.py [--rounds 5] [--requests 10000] [--policies 100]

Side by side in one run, on the synthetic repository of bench/generate.py:
- evaluation: decisions per second of `decide_all` (every request, a fresh
  `PolicySet` each round so no memo survives between rounds), after loading;
- the same decisions by equivalent Rego evaluated in-process by opa-eval
  (regorus): the policies written out as Rego rules (generated, one rule per
  policy rule: the usual style and the fastest here), with the input JSON
  prepared beforehand (Rego's best case) and with `json.dumps` per request,
  and a data-driven variant (bench/plan_policy.rego, policies as data);
  statuses and fired rules of the generated Rego are checked to agree with
  the engine for every request; Rego timings use a sample (--rego-sample);
- `remediate plan --base HEAD` end to end (a subprocess) after adding one
  request to the committed repository.
Prints medians and ratios; the figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402
from remediate.core.document import Document  # noqa: E402
from remediate.core.model import Repository, build_repository  # noqa: E402
from remediate.documents.repository import load_valid  # noqa: E402
from remediate.service.plan import History, compile_repository, decide_all  # noqa: E402

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, inside the Berlin windows
BIN = Path(sys.executable).parent


def translate(when: str | None) -> dict[str, Any]:
    """The generator's CEL condition forms as data for the Rego policy."""
    if when is None:
        return {"kind": "always"}
    m = re.fullmatch(r"request\.severity in \[(.*)\]", when)
    if m:
        return {"kind": "severity_in", "values": json.loads(f"[{m.group(1)}]")}
    m = re.fullmatch(r'request\.severity == "(\w+)"', when)
    if m:
        return {"kind": "severity_in", "values": [m.group(1)]}
    m = re.fullmatch(
        r"has\(request\.action\.parameters\.replicas\) && "
        r"request\.action\.parameters\.replicas > (\d+)",
        when,
    )
    if m:
        return {"kind": "replicas_gt", "value": int(m.group(1))}
    raise SystemExit(f"no Rego translation for condition {when!r}")


def rego_data(policies: tuple[Document, ...]) -> dict[str, Any]:
    out = []
    for doc in sorted(policies, key=lambda d: d.name):
        spec = doc.spec
        match = dict(spec.get("match", {}))
        for key in ("environments", "services"):
            if key in match:
                match[key] = [g.lower() for g in match[key]]
        out.append(
            {
                "name": doc.name,
                "match": match,
                "blocked": [e.lower() for e in spec.get("blockedEnvironments", [])],
                "rules": [
                    {"name": r["name"], "effect": r["effect"], "cond": translate(r.get("when"))}
                    for r in spec.get("rules", [])
                ],
            }
        )
    by_env: dict[str, list[int]] = {}
    env_any = []
    for i, p in enumerate(out):
        envs = p["match"].get("environments")
        if envs and not any(set(e) & set("*?[") for e in envs):
            for e in envs:
                by_env.setdefault(e, []).append(i)
        else:
            env_any.append(i)
    return {"policies": out, "by_env": by_env, "env_any": env_any}


def rego_input(spec: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "environment": spec["environment"],
        "actionType": spec["action"]["type"],
        "serviceName": spec["serviceName"],
        "severity": spec["severity"],
        "labels": labels,
    }
    replicas = spec["action"].get("parameters", {}).get("replicas")
    if replicas is not None:
        body["replicas"] = replicas
    return body


def bench_engine(repo: Repository, rounds: int) -> tuple[list[float], Any]:
    times, planned = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        policies = compile_repository(repo)  # fresh: no memo carries over between rounds
        planned = decide_all(repo, policies, NOW, History())
        times.append(time.perf_counter() - start)
    return times, planned


def bench_rego(
    repo: Repository, rounds: int, sample: int, workdir: Path
) -> tuple[dict[str, list[float]], list[Any]]:
    """Seconds per decision of each Rego variant, and the generated variant's full results."""
    import opa_eval

    data = rego_data(repo.policies)
    generated = workdir / "generated.rego"
    generated.write_text(generated_rego(data))
    by_rules = opa_eval.OpaEval(str(generated), query="data.remediate.decision")
    by_data = opa_eval.OpaEval(
        str(HERE / "plan_policy.rego"), data_json=json.dumps(data), query="data.remediate.decision"
    )
    requests = sorted(repo.requests.values(), key=lambda r: r.name)
    inputs = [rego_input(r.spec, {**r.labels, **r.spec.get("labels", {})}) for r in requests]
    prepared = [json.dumps(i) for i in inputs]
    results = [by_rules.evaluate_parsed(text) for text in prepared]  # every request, checked
    picked = prepared[:: max(1, len(prepared) // sample)][:sample]
    picked_inputs = inputs[:: max(1, len(inputs) // sample)][:sample]
    per: dict[str, list[float]] = {"rules": [], "rules+dumps": [], "data": []}
    for _ in range(rounds):
        start = time.perf_counter()
        for text in picked:
            by_rules.evaluate_parsed(text)
        per["rules"].append((time.perf_counter() - start) / len(picked))
        start = time.perf_counter()
        for i in picked_inputs:
            by_rules.evaluate_parsed(json.dumps(i))
        per["rules+dumps"].append((time.perf_counter() - start) / len(picked))
        small = picked[: max(1, len(picked) // 4)]
        start = time.perf_counter()
        for text in small:
            by_data.evaluate_parsed(text)
        per["data"].append((time.perf_counter() - start) / len(small))
    return per, results


def check_agreement(planned: Any, rego: list[Any]) -> int:
    disagreements = 0
    for entry, theirs in zip(planned, rego, strict=True):
        d = entry.decision
        ours = {r for r in d.rules if not r.startswith("settings/")}
        fired = {x.rsplit("/", 1)[0] for x in theirs["fired"]} | set(theirs["blocked"])
        if d.status != theirs["status"] or ours != fired:
            disagreements += 1
            if disagreements <= 3:
                print(f"  disagree on {d.request_id}: {d.status} {sorted(ours)} vs {theirs}")
    return disagreements


def git(root: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    subprocess.run(["git", "-C", str(root), *args], check=True, env=env, capture_output=True)


def bench_plan_base(root: Path, rounds: int) -> list[float]:
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "synthetic repository")
    source = root / "remediations" / "00" / "rem-00000.yaml"
    added = root / "remediations" / "00" / "rem-new.yaml"
    added.write_text(source.read_text().replace("name: rem-00000", "name: rem-new"))
    argv = [str(BIN / "remediate"), "plan", "--repo", str(root), "--base", "HEAD"]
    argv += ["--now", "2026-11-23T10:00:00Z", "--format", "json"]
    times = []
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"plan --base failed: {proc.stderr[-500:]}")
            (decision,) = json.loads(proc.stdout)["decisions"]
            assert decision["requestId"] == "rem-new", decision
    finally:
        added.unlink()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--repo", type=Path, default=None, help="reuse/generate the repo here")
    parser.add_argument("--rego-sample", type=int, default=2000, help="requests per Rego round")
    args = parser.parse_args()
    root = args.repo or Path(tempfile.mkdtemp(prefix="bench-plan-")) / "repo"
    marker = root / ".bench-generated"
    wanted = f"{args.requests}x{args.policies}"
    if not marker.exists() or marker.read_text() != wanted:
        generate(root, args.requests, 50, args.policies)
        marker.write_text(wanted)
        (root / ".gitignore").write_text(".bench-generated\n")

    start = time.perf_counter()
    repo = build_repository(load_valid(root))
    loading = time.perf_counter() - start
    n = len(repo.requests)
    print(
        f"machine: nproc={os.cpu_count()} python={platform.python_version()} {platform.machine()}"
    )
    print(f"repo: {n} requests x {len(repo.policies)} policies; loading took {loading:.2f} s")

    engine, planned = bench_engine(repo, args.rounds)
    rego, results = bench_rego(repo, min(args.rounds, 3), args.rego_sample, root.parent)
    disagreements = check_agreement(planned, results)
    ours = n / statistics.median(engine)
    statuses: dict[str, int] = {}
    for entry in planned:
        statuses[entry.decision.status] = statuses.get(entry.decision.status, 0) + 1
    print(f"decisions: {statuses}; Rego disagreements on all {n}: {disagreements}")
    print(f"engine (decide_all, fresh PolicySet each round): {ours:,.0f} decisions/s "
          f"(median {statistics.median(engine) * 1000:.0f} ms for {n}; "
          f"rounds {', '.join(f'{t * 1000:.0f}' for t in engine)} ms)")  # fmt: skip
    labels = {
        "rules": "Rego, generated rules, input JSON prepared",
        "rules+dumps": "Rego, generated rules, json.dumps per request",
        "data": "Rego, policies as data, input JSON prepared",
    }
    for key, label in labels.items():
        rate = 1 / statistics.median(rego[key])
        print(f"{label}: {rate:,.0f} decisions/s; engine is {ours / rate:.0f}x")
    base = bench_plan_base(root, args.rounds)
    print(f"plan --base HEAD, one request added, end to end: median {statistics.median(base):.3f} s "
          f"(min {min(base):.3f}, max {max(base):.3f})")  # fmt: skip
    if disagreements:
        raise SystemExit(1)


def generated_rego(data: dict[str, Any]) -> str:
    """The same policies written out as Rego rules, one per policy rule (Rego's usual style)."""
    lines = ["package remediate", "", "import rego.v1", "", "env := lower(input.environment)", ""]
    lines += ["svc := lower(input.serviceName)", ""]
    for p in data["policies"]:
        m = p["match"]
        body = []
        for key, value in (
            ("environments", "env"),
            ("actionTypes", "input.actionType"),
            ("services", "svc"),
            ("severities", "input.severity"),
        ):
            if key in m:
                globs = [g for g in m[key] if set(g) & set("*?[")]
                literals = [g for g in m[key] if g not in globs]
                alternatives = [f"{value} in {json.dumps(sorted(literals))}"] if literals else []
                alternatives += [f"glob.match({json.dumps(g)}, [], {value})" for g in globs]
                if len(alternatives) > 1:
                    raise SystemExit(f"{p['name']}: mixed globs and literals are not generated")
                body.append(alternatives[0])
        name = p["name"].replace("-", "_")
        lines.append(f"match_{name} if {{")
        lines += [f"\t{b}" for b in body] or ["\ttrue"]
        lines += ["}", ""]
        if p["blocked"]:
            lines += [f'blocked contains "{p["name"]}/blockedEnvironments" if {{']
            lines += [f"\tmatch_{name}", f"\tenv in {json.dumps(p['blocked'])}", "}", ""]
        for r in p["rules"]:
            c = r["cond"]
            test = {
                "always": "true",
                "severity_in": f"input.severity in {json.dumps(c.get('values'))}",
                "replicas_gt": f"input.replicas > {c.get('value')}",
            }[c["kind"]]
            lines += [f'fired contains "{p["name"]}/{r["name"]}/{r["effect"]}" if {{']
            lines += [f"\tmatch_{name}", f"\t{test}", "}", ""]
    lines += [
        "default blocked := set()",
        "",
        'denies := {x | some x in fired; endswith(x, "/deny")}',
        "",
        'approvals := {x | some x in fired; endswith(x, "/require_approval")}',
        "",
        'status := "POLICY_VIOLATION" if {',
        "\tcount(denies) + count(blocked) > 0",
        '} else := "PENDING_APPROVAL" if {',
        "\tcount(approvals) > 0",
        '} else := "PENDING_APPROVAL" if {',
        "\tcount(fired) == 0",
        '} else := "QUEUED"',
        "",
        'decision := {"status": status, "fired": fired, "blocked": blocked}',
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
