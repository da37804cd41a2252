"""Findings from a real scanner: bandit (`bandit[sarif]`, from PyPI) run on a small
vulnerable sample, imported through the CLI into a real repository with a bare remote:
import, re-import, code moved down, one fixed, reintroduced, set-status across imports,
malformed SARIF, the events feed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.runner_support import (
    OPERATOR,
    REQUESTER,
    cli_env,
    clone,
    git,
    make_remote,
    remediate,
    remote_events,
    start,
)

SAMPLE = """\
import subprocess


def run(cmd):
    return subprocess.call(cmd, shell=True)


def first(x):
    return eval(x)


def second(y):
    return eval(y)
"""

pytest.importorskip("bandit")


def bandit(source: Path, out: Path) -> Path:
    """Run bandit on `source`'s directory, SARIF into `out` (exit 1 when it finds issues)."""
    done = subprocess.run(
        [sys.executable, "-m", "bandit", "-q", "-f", "sarif", "-o", str(out), "-r", "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    assert out.is_file(), done.stderr
    return out


def scan(tmp: Path, code: str, n: int) -> Path:
    src = tmp / "scanned"
    src.mkdir(exist_ok=True)
    (src / "app.py").write_text(code)
    return bandit(src, tmp / f"bandit-{n}.sarif")


def run(repo: Path, *args: str, **env: str) -> Any:
    done = remediate(repo, *args, "--format", "json", env=cli_env(**env) if env else None)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def import_(repo: Path, sarif: Path) -> dict[str, Any]:
    body = run(repo, "import", "sarif", str(sarif), "--repository", "payments")
    (found,) = body["scans"]
    return found


def counts(found: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return tuple(found[k] for k in ("created", "updated", "resolved", "reopened", "unchanged"))  # type: ignore[return-value]


def by_rule(repo: Path) -> dict[tuple[str, int | None], dict[str, Any]]:
    found = run(repo, "findings", "list")["findings"]
    return {(f["ruleId"], f["location"]["line"]): f for f in found}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    bare = make_remote(tmp_path)
    return clone(tmp_path, bare, "ops", OPERATOR)


def test_bandit_findings_import_dedupe_move_resolve_reopen(tmp_path: Path, repo: Path) -> None:
    first = import_(repo, scan(tmp_path, SAMPLE, 1))
    assert counts(first) == (4, 0, 0, 0, 0)
    assert first["tool"] == "Bandit" and first["repository"] == "payments"
    found = by_rule(repo)
    assert sorted(found) == [("B307", 9), ("B307", 13), ("B404", 1), ("B602", 5)]
    shell = found[("B602", 5)]
    assert shell["severity"] == "HIGH" and shell["status"] == "open"
    assert shell["location"] == {"file": "app.py", "line": 5}
    assert shell["scanId"] == first["id"] and shell["firstSeen"] == first["importedAt"]
    ids = {key: f["id"] for key, f in found.items()}

    # the same results again: no duplicate, nothing changes but lastSeen and scanId
    again = import_(repo, scan(tmp_path, SAMPLE, 2))
    assert counts(again) == (0, 0, 0, 0, 4)
    found = by_rule(repo)
    assert {k: f["id"] for k, f in found.items()} == ids
    assert found[("B602", 5)]["scanId"] == again["id"]
    assert found[("B602", 5)]["lastSeen"] == again["importedAt"]
    assert found[("B602", 5)]["firstSeen"] == first["importedAt"]

    # the code moves down the file: the same findings, at their new lines
    moved_code = "# a header\n\n\n\n" + SAMPLE
    moved = import_(repo, scan(tmp_path, moved_code, 3))
    assert counts(moved) == (0, 4, 0, 0, 0)
    found = by_rule(repo)
    assert sorted(found) == [("B307", 13), ("B307", 17), ("B404", 5), ("B602", 9)]
    assert found[("B602", 9)]["id"] == ids[("B602", 5)]
    assert found[("B307", 13)]["id"] == ids[("B307", 9)]
    assert found[("B307", 17)]["id"] == ids[("B307", 13)]

    # one is fixed: resolved, the others stay open
    fixed_code = moved_code.replace("subprocess.call(cmd, shell=True)", "cmd.split()")
    fixed = import_(repo, scan(tmp_path, fixed_code, 4))
    assert counts(fixed) == (0, 0, 1, 0, 3)
    gone = run(repo, "findings", "show", ids[("B602", 5)])
    assert gone["status"] == "resolved" and gone["present"] is False
    assert gone["lastSeen"] == moved["importedAt"]  # the last scan that saw it
    assert gone["resolvedBy"] == f"scan {fixed['id']}"
    assert [f["id"] for f in run(repo, "findings", "list", "--status", "resolved")["findings"]] == [
        ids[("B602", 5)]
    ]

    # reintroduced: the same finding, open again, with a regression event
    back = import_(repo, scan(tmp_path, moved_code, 5))
    assert counts(back) == (0, 0, 0, 1, 3)
    again_open = run(repo, "findings", "show", ids[("B602", 5)])
    assert again_open["status"] == "open" and again_open["present"] is True
    assert "resolvedBy" not in again_open
    reopened = run(repo, "findings", "events", "--event-type", "reopened")["events"]
    assert [(e["findingId"], e["details"]["regression"]) for e in reopened] == [
        (ids[("B602", 5)], True)
    ]
    assert len(run(repo, "findings", "list", "--limit", "100")["findings"]) == 4

    verify = remediate(repo, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_set_status_persists_across_imports_and_is_for_operators(
    tmp_path: Path, repo: Path
) -> None:
    import_(repo, scan(tmp_path, SAMPLE, 1))
    ids = {k: f["id"] for k, f in by_rule(repo).items()}
    fid = ids[("B307", 13)]
    set_ = run(
        repo,
        "findings",
        "set-status",
        fid,
        "ignored",
        "--owner",
        "carol@example.com",
        "--notes",
        "eval of a constant table",
        "--target-date",
        "2026-12-31",
        "--asset-id",
        "svc-payments",
    )
    assert set_["status"] == "ignored"
    assert (set_["owner"], set_["notes"], set_["targetDate"], set_["assetId"]) == (
        "carol@example.com",
        "eval of a constant table",
        "2026-12-31",
        "svc-payments",
    )
    # still reported: stays ignored
    assert counts(import_(repo, scan(tmp_path, SAMPLE, 2))) == (0, 0, 0, 0, 4)
    assert run(repo, "findings", "show", fid)["status"] == "ignored"
    # gone from the scan: stays ignored (not resolved), marked absent
    without = SAMPLE.replace("\n\ndef second(y):\n    return eval(y)\n", "\n")
    assert counts(import_(repo, scan(tmp_path, without, 3))) == (0, 0, 0, 0, 3)
    shown = run(repo, "findings", "show", fid)
    assert (shown["status"], shown["present"], shown["owner"]) == (
        "ignored",
        False,
        "carol@example.com",
    )
    # back again: still ignored, no regression
    assert counts(import_(repo, scan(tmp_path, SAMPLE, 4)))[3] == 0
    assert run(repo, "findings", "show", fid)["status"] == "ignored"
    types = [e["eventType"] for e in run(repo, "findings", "events", "--finding", fid)["events"]]
    assert types == ["returned", "absent", "status_changed", "created"]

    # setting the same status again records nothing
    before = len(remote_events(tmp_path, repo.parent / "remote.git"))
    run(repo, "findings", "set-status", fid, "ignored")
    assert len(remote_events(tmp_path, repo.parent / "remote.git")) == before

    # a non-operator may not
    dev = clone(tmp_path, repo.parent / "remote.git", "dev", REQUESTER)
    denied = remediate(dev, "findings", "set-status", fid, "open")
    assert denied.returncode == 1
    assert (
        f"{REQUESTER} is not an operator (Settings rbac) and cannot set the status of findings"
        in denied.stderr
    )
    bad = remediate(repo, "findings", "set-status", fid, "closed")
    assert bad.returncode == 2
    unknown = remediate(repo, "findings", "set-status", "f0000000000000000", "open")
    assert unknown.returncode == 1 and "no finding 'f0000000000000000'" in unknown.stderr
    date = remediate(repo, "findings", "set-status", fid, "open", "--target-date", "soon")
    assert date.returncode == 2 and "--target-date soon: not an ISO 8601 date" in date.stderr


def test_malformed_sarif_imports_nothing_from_any_file(tmp_path: Path, repo: Path) -> None:
    good = scan(tmp_path, SAMPLE, 1)
    data = json.loads(good.read_text())
    data["runs"][0]["results"][1]["level"] = "severe"
    bad = tmp_path / "bad.sarif"
    bad.write_text(json.dumps(data))
    broken = tmp_path / "broken.sarif"
    broken.write_text('{"version": "2.1.0", "runs": [')
    head = git(repo, "ls-remote", "origin", "refs/heads/main")

    done = remediate(repo, "import", "sarif", str(good), str(bad), str(broken))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == "remediate: nothing imported: files are not valid SARIF 2.1.0"
    assert lines[1].startswith(f"{bad}: runs[0].results[1].level: ")
    assert lines[2].startswith(f"{broken}: -: not JSON: ")
    assert git(repo, "ls-remote", "origin", "refs/heads/main") == head
    as_json = remediate(repo, "import", "sarif", str(bad), "--format", "json")
    assert as_json.returncode == 1
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == 1 and f"{bad}: runs[0].results[1].level: " in error["message"]
    assert run(repo, "findings", "list")["findings"] == []

    old = tmp_path / "old.sarif"
    old.write_text(json.dumps({"version": "2.0.0", "runs": []}))
    done = remediate(repo, "import", "sarif", str(old))
    assert done.returncode == 1
    assert f"{old}: version: SARIF '2.0.0' is not supported (only version 2.1.0)" in done.stderr
    missing = remediate(repo, "import", "sarif", str(tmp_path / "nope.sarif"))
    assert missing.returncode == 1 and f"{tmp_path / 'nope.sarif'}: -: not a file" in missing.stderr
    deep = tmp_path / "deep.sarif"
    deep.write_text(
        '{"version": "2.1.0", "runs": [], "properties": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"
    )
    done = remediate(repo, "import", "sarif", str(deep))
    assert done.returncode == 1 and f"{deep}: -: JSON nested too deeply to read" in done.stderr
    assert "Traceback" not in done.stderr


def test_events_feed_is_newest_first_with_stable_ids(tmp_path: Path, repo: Path) -> None:
    import_(repo, scan(tmp_path, SAMPLE, 1))
    fixed = import_(
        repo, scan(tmp_path, SAMPLE.replace("subprocess.call(cmd, shell=True)", "cmd.split()"), 2)
    )
    import_(repo, scan(tmp_path, SAMPLE, 3))
    feed = run(repo, "findings", "events")["events"]
    assert [e["eventType"] for e in feed] == ["reopened", "resolved", *["created"] * 4]
    assert len({e["id"] for e in feed}) == len(feed)
    assert feed == run(repo, "findings", "events")["events"]  # stable: the same ids again
    assert [e["at"] for e in feed] == sorted((e["at"] for e in feed), reverse=True)
    assert feed[1]["details"]["scanId"] == fixed["id"]
    # a poller that saw up to the `resolved` event gets only what came after it
    newer = run(repo, "findings", "events", "--after", feed[1]["id"])["events"]
    assert [e["id"] for e in newer] == [feed[0]["id"]]
    assert run(repo, "findings", "events", "--after", feed[0]["id"])["events"] == []
    assert [e["id"] for e in run(repo, "findings", "events", "--limit", "2")["events"]] == [
        e["id"] for e in feed[:2]
    ]
    high = run(repo, "findings", "events", "--severity", "HIGH")["events"]
    assert {e["findingId"] for e in high} == {feed[0]["findingId"]}
    since = run(repo, "findings", "events", "--since", feed[1]["at"])["events"]
    assert [e["id"] for e in since] == [e["id"] for e in feed[:2]]
    unknown = remediate(repo, "findings", "events", "--after", "nope")
    assert (
        unknown.returncode == 1 and "--after nope: no finding event has that id" in unknown.stderr
    )


def test_secrets_in_scanner_output_are_redacted(tmp_path: Path, repo: Path) -> None:
    secret = "hunter2-very-secret-value"
    log = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "gitleaks", "rules": [{"id": "generic-api-key"}]}},
                "results": [
                    {
                        "ruleId": "generic-api-key",
                        "level": "error",
                        "message": {"text": f"found {secret} in config.py"},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": "config.py"},
                                    "region": {
                                        "startLine": 3,
                                        "snippet": {"text": f"KEY='{secret}'"},
                                    },
                                }
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "leaks.sarif"
    path.write_text(json.dumps(log))
    env = {"DEPLOY_TOKEN": secret}
    run(repo, "import", "sarif", str(path), **env)
    (found,) = run(repo, "findings", "list", **env)["findings"]
    assert found["message"] == "found [REDACTED] in config.py"
    text = json.dumps(remote_events(tmp_path, repo.parent / "remote.git"))
    assert secret not in text
    assert git(repo, "log", "-p", "origin/main").count(secret) == 0


def test_two_imports_racing_never_duplicate_a_finding(tmp_path: Path, repo: Path) -> None:
    sarif = scan(tmp_path, SAMPLE, 1)
    other = clone(tmp_path, repo.parent / "remote.git", "ops2", OPERATOR)
    procs = [
        start(r, "import", "sarif", str(sarif), "--repository", "payments", "--format", "json")
        for r in (repo, other)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    created = sorted(json.loads(out)["scans"][0]["created"] for out, _ in outs)
    assert created == [0, 4]  # one saw the other's findings after a rejected push
    events = remote_events(tmp_path, repo.parent / "remote.git")
    subjects = [e["subject"] for e in events if e.get("verb") == "created"]
    assert len(subjects) == len(set(subjects)) == 4
    assert len(run(repo, "findings", "list")["findings"]) == 4
