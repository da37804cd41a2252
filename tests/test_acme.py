"""The `acme` executor against a real ACME server: Pebble and pebble-challtestsrv on
127.0.0.1 (`tests.pebble_support`), its listener certificate made by openssl and trusted
through `caBundle` (verification is never off).

End to end through `remediate apply` on a real git repository with a bare remote:
HTTP-01 by webroot, DNS-01 (a wildcard too) by a hook that sets the TXT record, the
certificate then passing `cert_check` against Pebble's root, a re-run that issues
nothing, and a runner killed after the order was created whose re-run finishes that
order instead of ordering again. Key material never reaches the audit or the output."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from remediate.executors.acme import AcmeExecutor
from tests.pebble_support import Pebble, pebble
from tests.runner_support import (
    OPERATOR,
    apply_at,
    clone,
    git,
    json_out,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
    start,
)
from tests.test_runner_executors import context

LATER = timedelta(hours=2)  # the runner's clock, injected: past the claim's deadline
MUCH_LATER = timedelta(hours=8)
UNAUTHORIZED = "urn:ietf:params:acme:error:unauthorized"


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:
    with pebble(tmp_path_factory.mktemp("pebble")) as server:
        yield server


def acme_action(name: str, lines: str, *, timeout: str = "30s", retries: int = 0) -> str:
    return (
        f"apiVersion: remediate/v1\nkind: ActionType\nmetadata: {{name: {name}}}\n"
        "spec:\n  parameters: {type: object}\n  executor:\n    acme:\n"
        + "".join(f"      {line}\n" for line in lines.strip().splitlines())
        + f"  timeout: {timeout}\n  idempotent: true\n"
        f"  retries: {{max: {retries}, backoff: 1s}}\n"
    )


def acme_lines(peer: Pebble, out: Path, domains: list[str], extra: str) -> str:
    return (
        f"directory: {peer.directory}\n"
        f"caBundle: {peer.ca_bundle}\n"
        f"domains: {json.dumps(domains)}\n"
        f"certificate: {out / 'cert.pem'}\n"
        f"key: {out / 'key.pem'}\n"
        f"accountKey: {out / 'account.pem'}\n" + extra
    )


def check_action(peer: Pebble, out: Path, names: list[str]) -> str:
    root = out / "pebble-root.pem"
    root.write_text(peer.root_pem())
    return (
        "apiVersion: remediate/v1\nkind: ActionType\nmetadata: {name: check-cert}\nspec:\n"
        "  parameters: {type: object}\n  executor:\n    cert_check:\n"
        f"      source: {{file: {out / 'cert.pem'}, caBundle: {root}}}\n"
        f"      policy: {{minDaysRemaining: 30, keyTypes: [EC-P256], "
        f"requiredNames: {json.dumps(names)}, allowedIssuers: ['CN=Pebble Intermediate CA *'], "
        "verifyChain: true}\n"
        "  timeout: 30s\n"
    )


def outcomes(tmp: Path, bare: Path, request: str) -> list[dict[str, Any]]:
    return [
        e
        for e in remote_events(tmp, bare)
        if e["requestId"] == request and e["from"] == "EXECUTING"
    ]


def secret_forms(*paths: Path) -> list[str]:
    """Each private key's PEM, its base64 body (one line), and that body base64-encoded."""
    forms = []
    for path in paths:
        text = path.read_text()
        body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
        forms += [text.strip(), body, body[:40], base64.b64encode(text.encode()).decode()[:60]]
    return forms


def assert_no_key_material(bare: Path, outputs: str, *keys: Path) -> None:
    """Nothing the remote holds (every commit and ref, the audit in it) nor the output
    shows a private key, in PEM, as its base64 body, or base64-encoded again."""
    blob = git(bare, "log", "-p", "--all", "--format=%H %s%n%b") + outputs
    assert '"issued":' in blob and '"serial":' in blob  # the audit is there
    for form in secret_forms(*keys):
        assert form not in blob
    assert "PRIVATE KEY" not in blob


def test_http01_webroot_issues_through_apply_passes_cert_check_and_a_rerun_issues_nothing(
    peer: Pebble, tmp_path: Path
) -> None:
    out = tmp_path / "tls"
    lines = acme_lines(peer, out, ["www.example.test", "example.test"],
                       f"challenge: http-01\nwebroot: {peer.webroot}\n")  # fmt: skip
    bare = make_remote(
        tmp_path,
        actions={"renew-cert": acme_action("renew-cert", lines)},
        requests={"rem-cert-1": request_yaml("rem-cert-1", action="renew-cert")},
    )
    repo = clone(tmp_path, bare, "work")
    before, issued = peer.new_orders(), peer.issued()
    done = remediate(repo, "apply", "--format", "json")
    assert json_out(done)["executed"] == [{"requestId": "rem-cert-1", "status": "COMPLETED"}]
    assert (peer.new_orders(), peer.issued()) == (before + 1, issued + 1)
    (outcome,) = outcomes(tmp_path, bare, "rem-cert-1")
    result = outcome["details"]
    leaf = x509.load_pem_x509_certificates((out / "cert.pem").read_bytes())[0]
    assert result["issued"] is True
    assert result["serial"] == f"{leaf.serial_number:X}".zfill(len(result["serial"]))
    assert result["notAfter"] == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result["issuer"].startswith("CN=Pebble Intermediate CA")
    assert result["orderUrl"].startswith(peer.directory.removesuffix("/dir") + "/my-order/")
    assert stat.S_IMODE((out / "key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "account.pem").stat().st_mode) == 0o600
    assert not (out / "cert.pem.order.json").exists()
    assert list(peer.webroot.rglob("*")) in ([], [peer.webroot / ".well-known"],
        [peer.webroot / ".well-known", peer.webroot / ".well-known" / "acme-challenge"])  # fmt: skip
    outputs = done.stdout + done.stderr

    # the certificate passes cert_check against Pebble's root (through apply too)
    (repo / "actions").mkdir(exist_ok=True)
    (repo / "actions" / "check-cert.yaml").write_text(
        check_action(peer, out, ["www.example.test", "example.test"])
    )
    (repo / "remediations" / "rem-check-1.yaml").write_text(
        request_yaml("rem-check-1", action="check-cert")
    )
    # a second request of the same action: the certificate is still valid, nothing is ordered
    (repo / "remediations" / "rem-cert-2.yaml").write_text(
        request_yaml("rem-cert-2", action="renew-cert")
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "check and renew again", email="admin@example.com")
    git(repo, "push", "-q", "origin", "HEAD:main", email="admin@example.com")
    done = remediate(repo, "apply", "--format", "json")
    assert sorted(json_out(done)["executed"], key=str) == [
        {"requestId": "rem-cert-2", "status": "COMPLETED"},
        {"requestId": "rem-check-1", "status": "COMPLETED"},
    ]
    assert (peer.new_orders(), peer.issued()) == (before + 1, issued + 1)
    (check,) = outcomes(tmp_path, bare, "rem-check-1")
    assert [c["check"] for c in check["details"]["checks"] if c["ok"]] == [
        "minDaysRemaining", "keyTypes", "requiredNames", "allowedIssuers", "verifyChain"
    ]  # fmt: skip
    (again,) = outcomes(tmp_path, bare, "rem-cert-2")
    assert again["details"]["issued"] is False
    assert again["details"]["serial"] == result["serial"]
    assert again["details"]["message"].startswith(
        f"still valid until {result['notAfter']} (renewal due "
    )
    assert_no_key_material(bare, outputs + done.stdout + done.stderr,
                           out / "key.pem", out / "account.pem")  # fmt: skip


DNS_HOOK = """\
import json, os, sys, urllib.request
base = sys.argv[1]
if os.environ["ACME_PHASE"] == "publish":
    body = {"host": os.environ["ACME_RECORD_NAME"] + ".", "value": os.environ["ACME_VALIDATION"]}
    urllib.request.urlopen(base + "/set-txt", json.dumps(body).encode()).read()
else:
    body = {"host": os.environ["ACME_RECORD_NAME"] + "."}
    urllib.request.urlopen(base + "/clear-txt", json.dumps(body).encode()).read()
print("txt", os.environ["ACME_PHASE"], os.environ["ACME_RECORD_NAME"])
"""


def test_dns01_hook_issues_a_wildcard_through_apply(peer: Pebble, tmp_path: Path) -> None:
    out = tmp_path / "tls"
    hook = {"argv": [sys.executable, "hooks/dns.py", peer.challtestsrv]}
    lines = acme_lines(peer, out, ["*.apps.example.test", "apps.example.test"],
                       f"challenge: dns-01\nhook: {json.dumps(hook)}\n")  # fmt: skip
    bare = make_remote(
        tmp_path,
        actions={"renew-wild": acme_action("renew-wild", lines)},
        requests={"rem-wild": request_yaml("rem-wild", action="renew-wild")},
    )
    seed = clone(tmp_path, bare, "admin", email="admin@example.com")
    (seed / "hooks").mkdir()
    (seed / "hooks" / "dns.py").write_text(DNS_HOOK)
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "hook", email="admin@example.com")
    git(seed, "push", "-q", "origin", "HEAD:main", email="admin@example.com")
    repo = clone(tmp_path, bare, "work")
    done = remediate(repo, "apply", "--format", "json")
    assert json_out(done)["executed"] == [{"requestId": "rem-wild", "status": "COMPLETED"}], (
        done.stdout
    )
    (outcome,) = outcomes(tmp_path, bare, "rem-wild")
    result = outcome["details"]
    assert result["names"] == ["*.apps.example.test", "apps.example.test"]
    assert [(h["phase"], h["exitCode"]) for h in result["hooks"]] == [
        ("publish", 0), ("cleanup", 0), ("publish", 0), ("cleanup", 0)
    ]  # fmt: skip
    assert result["hooks"][0]["stdout"] == "txt publish _acme-challenge.apps.example.test\n"
    assert_no_key_material(bare, done.stdout + done.stderr, out / "key.pem", out / "account.pem")


CRASH_HOOK = """\
import os, pathlib, signal, sys
marker, webroot = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
if os.environ["ACME_PHASE"] == "publish":
    target = webroot / ".well-known" / "acme-challenge" / os.environ["ACME_TOKEN"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(os.environ["ACME_KEY_AUTHORIZATION"])
    if not marker.exists():
        marker.write_text("crashed once")
        os.kill(os.getppid(), signal.SIGKILL)  # the runner dies mid-action
        signal.pause()
"""


def test_a_runner_killed_after_the_order_finishes_that_order_on_the_rerun(
    peer: Pebble, tmp_path: Path
) -> None:
    out = tmp_path / "tls"
    marker = tmp_path / "crashed"
    hook_file = tmp_path / "crash_hook.py"
    hook_file.write_text(CRASH_HOOK)
    hook = {"argv": [sys.executable, str(hook_file), str(marker), str(peer.webroot)]}
    lines = acme_lines(peer, out, ["crash.example.test"],
                       f"challenge: http-01\nhook: {json.dumps(hook)}\n")  # fmt: skip
    bare = make_remote(
        tmp_path,
        actions={"renew-crash": acme_action("renew-crash", lines, timeout="20s", retries=1)},
        requests={"rem-crash": request_yaml("rem-crash", action="renew-crash")},
    )
    repo = clone(tmp_path, bare, "work")
    before, issued = peer.new_orders(), peer.issued()
    proc = start(repo, "apply")
    proc.communicate(timeout=60)
    assert proc.returncode == -9 and marker.exists()
    assert peer.new_orders() == before + 1
    recorded = json.loads((out / "cert.pem.order.json").read_text())
    assert not (out / "cert.pem").exists()

    other = clone(tmp_path, bare, "other", email=OPERATOR)
    report = json_out(apply_at(other, LATER))
    assert {"requestId": "rem-crash", "status": "FAILED"} in report["recovered"]
    if not report["executed"]:  # re-queued; runs on the next apply
        report = json_out(apply_at(other, MUCH_LATER))
    assert report["executed"] == [{"requestId": "rem-crash", "status": "COMPLETED"}]
    # the recorded order was finished, not a new one
    assert (peer.new_orders(), peer.issued()) == (before + 1, issued + 1)
    (*_, outcome) = outcomes(tmp_path, bare, "rem-crash")
    result = outcome["details"]
    assert (result["resumed"], result["orderUrl"]) == (True, recorded["orderUrl"])
    assert not (out / "cert.pem.order.json").exists() and not (out / "key.pem.pending").exists()
    leaf = x509.load_pem_x509_certificates((out / "cert.pem").read_bytes())[0]
    assert result["serial"].lstrip("0") == f"{leaf.serial_number:X}"


def direct(peer: Pebble, out: Path, extra: dict[str, Any], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    config = {
        "directory": peer.directory,
        "caBundle": str(peer.ca_bundle),
        "domains": ["direct.example.test"],
        "challenge": "http-01",
        "webroot": str(peer.webroot),
        "certificate": str(out / "cert.pem"),
        "key": str(out / "key.pem"),
        "accountKey": str(out / "account.pem"),
        **extra,
    }
    config = {k: v for k, v in config.items() if v is not None}
    return AcmeExecutor().run(context("acme", config, env=env, timeout=30))


def test_a_certificate_issued_but_not_installed_is_installed_by_the_rerun_not_issued_again(
    peer: Pebble, tmp_path: Path
) -> None:
    (tmp_path / "cert.pem").mkdir()  # the install fails after the order was finalized
    before, issued = peer.new_orders(), peer.issued()
    first = direct(peer, tmp_path, {})
    assert (first.ok, first.error) == (
        False,
        f"the certificate was issued but cannot be installed at {tmp_path / 'cert.pem'}: "
        f"Is a directory; the next run installs it from order {first.details['orderUrl']}",
    )
    assert (peer.new_orders(), peer.issued()) == (before + 1, issued + 1)
    assert (tmp_path / "cert.pem.order.json").exists() and (tmp_path / "key.pem.pending").exists()
    (tmp_path / "cert.pem").rmdir()
    again = direct(peer, tmp_path, {})
    assert again.ok, again.error
    assert (peer.new_orders(), peer.issued()) == (before + 1, issued + 1)  # downloaded only
    assert (again.details["resumed"], again.details["orderUrl"]) == (
        True,
        first.details["orderUrl"],
    )
    assert not (tmp_path / "key.pem.pending").exists()
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600


def test_renew_before_longer_than_what_is_left_renews(peer: Pebble, tmp_path: Path) -> None:
    first = direct(peer, tmp_path, {})
    assert first.ok and first.details["issued"] is True, first.error
    kept = direct(peer, tmp_path, {"renewBefore": "30d"})
    assert (kept.ok, kept.details["issued"]) == (True, False)
    renewed = direct(peer, tmp_path, {"renewBefore": "3650d"})
    assert (renewed.ok, renewed.details["issued"]) == (True, True), renewed.error
    assert renewed.details["renewalReason"].startswith("renewal was due at ")
    assert renewed.details["serial"] != first.details["serial"]
    other = direct(peer, tmp_path, {"domains": ["direct.example.test", "more.example.test"]})
    assert other.details["renewalReason"] == "the certificate does not cover every domain"
    assert other.details["issued"] is True


def test_a_challenge_the_server_cannot_see_fails_with_the_problem_type(
    peer: Pebble, tmp_path: Path
) -> None:
    unseen = tmp_path / "not-served"
    result = direct(peer, tmp_path, {"webroot": str(unseen)})
    assert (result.ok, result.details["problem"]) == (False, UNAUTHORIZED)
    assert result.error.startswith(
        f"http-01 challenge for direct.example.test failed: {UNAUTHORIZED}"
    )
    assert not (tmp_path / "cert.pem").exists()
    text = json.dumps(dict(result.details)) + result.error
    for form in secret_forms(tmp_path / "key.pem.pending", tmp_path / "account.pem"):
        assert form not in text


def test_an_account_key_from_the_environment_is_used_and_redacted(
    peer: Pebble, tmp_path: Path
) -> None:
    from remediate.executors import certificates

    pem = certificates.private_pem(certificates.new_private_key("EC-P256")).decode()
    env = {"PATH": os.environ["PATH"], "ACME_ACCOUNT": pem, "REMEDIATE_PASS_ENV": "ACME_ACCOUNT"}
    result = direct(peer, tmp_path, {"accountKey": None, "accountKeyEnv": "ACME_ACCOUNT"}, env)
    assert result.ok, result.error
    assert not (tmp_path / "account.pem").exists()
    refused = direct(peer, tmp_path / "b", {"accountKey": None, "accountKeyEnv": "ACME_ACCOUNT"},
                     {**env, "REMEDIATE_PASS_ENV": ""})  # fmt: skip
    assert refused.error == (
        "accountKeyEnv ACME_ACCOUNT is not allowed by this runner "
        "(allow it with REMEDIATE_PASS_ENV)"
    )


def test_half_the_nonces_rejected_still_issues(tmp_path: Path) -> None:
    """Every issuance succeeds while Pebble rejects half the nonces, and the runner's own
    bounded retry is what carried some of them: the acme client retries a bad nonce once
    by itself, so one issuance needs ours only when a step is rejected twice running
    (about nine nonces each: ~7% of issuances need none; up to six issuances are made
    until one did, so the test does not depend on that chance)."""
    retried = []
    with pebble(tmp_path / "pebble", nonce_reject=50) as noisy:
        for n in range(6):
            result = direct(noisy, tmp_path / f"out-{n}", {})
            assert result.ok, result.error
            assert result.details["issued"] is True
            retried.append(result.details["stepRetries"])
            if retried[-1] > 0:
                break
    assert retried[-1] > 0, retried


def test_two_runs_sharing_a_certificate_path_order_one_certificate(
    peer: Pebble, tmp_path: Path
) -> None:
    """Two requests on different targets (no target lock between them) that write one
    certificate path: one orders, the other waits for it and finds it still valid."""
    import threading

    before, issued = peer.new_orders(), peer.issued()
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def one() -> None:
        barrier.wait()
        results.append(direct(peer, tmp_path, {}))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and all(r.ok for r in results), [r.error for r in results]
    assert sorted(r.details["issued"] for r in results) == [False, True]
    # one certificate; the run that waited found it valid without contacting the server,
    # so every order is the issuing run's (a retried step may have made a second one)
    assert peer.issued() == issued + 1 and peer.new_orders() >= before + 1
    waited = next(r for r in results if not r.details["issued"])
    assert waited.details["message"].startswith("still valid until ")
    lock = tmp_path / "cert.pem.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
