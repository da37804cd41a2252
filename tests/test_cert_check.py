"""The `cert_check` executor: generated certificates (expired, expiring, weak key, another
signature algorithm, wrong SAN, unknown issuer, a chain that does not verify), each
failing exactly its own check; a live TLS server on 127.0.0.1 with an openssl-made chain,
reached under the webhook's egress rules; a failing check through `remediate apply`; and
`validate`'s messages for configurations that cannot work."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from remediate.executors.base import ExecutionResult
from remediate.executors.cert_check import CertCheckExecutor
from tests.conftest import Result, validate_problems
from tests.pebble_support import make_ca, make_leaf, require
from tests.runner_support import (
    clone,
    json_out,
    make_remote,
    remediate,
    remote_events,
    request_yaml,
)
from tests.test_runner_executors import context

NOW = datetime.now(UTC)
PRIVATE = {"REMEDIATE_WEBHOOK_ALLOW_PRIVATE": "1"}
POLICY = {
    "minDaysRemaining": 30,
    "keyTypes": ["RSA-2048", "EC-P256"],
    "signatureAlgorithms": ["ecdsa-with-SHA256", "sha256WithRSAEncryption"],
    "requiredNames": ["api.example.test", "www.example.test"],
    "allowedIssuers": ["Test Root CA"],
    "verifyChain": True,
}
ALL = ["minDaysRemaining", "keyTypes", "signatureAlgorithms", "requiredNames",
       "allowedIssuers", "verifyChain"]  # fmt: skip


@dataclass
class Authority:
    name: str
    key: Any
    cert: x509.Certificate


def authority(name: str = "Test Root CA") -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=10))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Authority(name, key, cert)


def leaf(
    ca: Authority,
    names: tuple[str, ...] = ("api.example.test", "www.example.test"),
    days: float = 90,
    key: Any = None,
    digest: Any = None,
    issuer_name: str | None = None,
    begins: timedelta = timedelta(days=1),
) -> x509.Certificate:
    key = key or ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name or ca.name)])
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - begins)
        .not_valid_after(NOW + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca.key, digest or hashes.SHA256())
    )


@pytest.fixture(scope="module")
def ca() -> Authority:
    return authority()


def check_file(tmp: Path, ca: Authority, cert: x509.Certificate, **policy: Any) -> ExecutionResult:
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "ca.pem").write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    config = {
        "source": {"file": str(tmp / "cert.pem"), "caBundle": str(tmp / "ca.pem")},
        "policy": {**POLICY, **policy},
    }
    return CertCheckExecutor().run(context("cert_check", config))


def test_a_certificate_that_meets_the_policy_passes_every_check(
    tmp_path: Path, ca: Authority
) -> None:
    result = check_file(tmp_path, ca, leaf(ca))
    assert result.ok and result.error is None
    checks = result.details["checks"]
    assert [c["check"] for c in checks] == ALL and all(c["ok"] for c in checks)
    values = {c["check"]: c["value"] for c in checks}
    assert values == {
        "minDaysRemaining": 89,
        "keyTypes": "EC-P256",
        "signatureAlgorithms": "ecdsa-with-SHA256",
        "requiredNames": ["api.example.test", "www.example.test"],
        "allowedIssuers": "CN=Test Root CA",
        "verifyChain": "verified",
    }
    assert result.details["failed"] == []
    assert result.details["certificate"]["names"] == ["api.example.test", "www.example.test"]


def _weak_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


CASES: dict[str, tuple[Callable[[Authority], x509.Certificate], list[str], str]] = {
    "expired": (
        lambda ca: leaf(ca, days=-2, begins=timedelta(days=90)),
        ["minDaysRemaining", "verifyChain"],  # an expired chain does not verify either
        "minDaysRemaining: expired at ",
    ),
    "expiring": (
        lambda ca: leaf(ca, days=10.5),
        ["minDaysRemaining"],
        "minDaysRemaining: 10 days remaining, needs at least 30",
    ),
    "weak key": (
        lambda ca: leaf(ca, key=_weak_key()),
        ["keyTypes"],
        "keyTypes: RSA-1024 is not one of RSA-2048, EC-P256",
    ),
    "signature": (
        lambda ca: leaf(ca, digest=hashes.SHA384()),
        ["signatureAlgorithms"],
        "signatureAlgorithms: ecdsa-with-SHA384 is not one of ecdsa-with-SHA256, "
        "sha256WithRSAEncryption",
    ),
    "wrong SAN": (
        lambda ca: leaf(ca, names=("api.example.test", "other.example.test")),
        ["requiredNames"],
        "requiredNames: not covered: www.example.test",
    ),
    "unknown issuer": (
        lambda ca: leaf(authority("Someone Else CA")),
        ["allowedIssuers", "verifyChain"],
        "allowedIssuers: issuer CN=Someone Else CA is not allowed",
    ),
    "untrusted chain": (  # the right name, another key: only the chain gives it away
        lambda ca: leaf(authority("Test Root CA")),
        ["verifyChain"],
        "verifyChain: the chain does not verify: ",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_failing_check_is_named_and_the_others_pass(
    tmp_path: Path, ca: Authority, case: str
) -> None:
    make, failing, message = CASES[case]
    result = check_file(tmp_path, ca, make(ca))
    assert not result.ok
    assert result.details["failed"] == failing
    assert [c["check"] for c in result.details["checks"]] == ALL
    assert [c["check"] for c in result.details["checks"] if not c["ok"]] == failing
    assert result.error is not None
    assert result.error.startswith(f"{len(failing)} check(s) failed: {message}")


def test_a_wildcard_covers_one_label_and_issuers_may_use_a_star(
    tmp_path: Path, ca: Authority
) -> None:
    cert = leaf(ca, names=("*.example.test",))
    result = check_file(tmp_path, ca, cert, requiredNames=["api.example.test", "a.b.example.test"],
                        allowedIssuers=["CN=Test Root*"])  # fmt: skip
    assert result.details["failed"] == ["requiredNames"]
    assert result.error == "1 check(s) failed: requiredNames: not covered: a.b.example.test"


def test_a_file_without_a_certificate_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate\n")
    config = {"source": {"file": str(tmp_path / "cert.pem")}, "policy": {}}
    result = CertCheckExecutor().run(context("cert_check", config))
    assert (result.ok, result.error) == (False, "file holds no PEM certificate")


# --- a live TLS endpoint on 127.0.0.1, its chain made by openssl ---


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[tuple[int, list[str | None]]]:
    """A TLS server on 127.0.0.1 that records the SNI of each handshake."""
    import socket

    seen: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    context.sni_callback = lambda sock, name, ctx: seen.append(name)  # type: ignore[assignment]
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(2)
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.fixture(scope="module")
def endpoint(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[int, list[str | None], Path, Path]]:
    require("openssl")
    directory = tmp_path_factory.mktemp("tls")
    ca = make_ca(directory)
    cert, key = make_leaf(directory, ca, ["api.example.test", "127.0.0.1"], days=60)
    other, _ = make_ca(directory / "other", "Test Root CA")  # same name, another key
    with tls_server(cert, key) as (port, seen):
        yield port, seen, ca[0], other


def check_live(
    port: int, bundle: Path, env: dict[str, str] | None = None, **source: Any
) -> ExecutionResult:
    config = {
        "source": {"host": "127.0.0.1", "port": port, "serverName": "api.example.test",
                   "caBundle": str(bundle), "allowedHosts": ["127.0.0.1"], **source},
        "policy": {**POLICY, "requiredNames": ["api.example.test", "127.0.0.1"]},
    }  # fmt: skip
    return CertCheckExecutor().run(
        context("cert_check", config, env=env if env is not None else PRIVATE)
    )


def test_a_live_endpoint_passes_with_its_ca_and_sends_the_server_name(
    endpoint: tuple[int, list[str | None], Path, Path],
) -> None:
    port, seen, ca, _ = endpoint
    seen.clear()
    result = check_live(port, ca)
    assert result.ok, result.error
    assert [c["check"] for c in result.details["checks"] if c["ok"]] == ALL
    assert result.details["source"]["address"] == "127.0.0.1"
    assert result.details["certificate"]["names"] == ["api.example.test", "127.0.0.1"]
    assert seen == ["api.example.test", "api.example.test"]  # inspect, then verify


def test_a_live_endpoint_whose_chain_another_ca_does_not_verify_fails_that_check_only(
    endpoint: tuple[int, list[str | None], Path, Path],
) -> None:
    port, _, _, other = endpoint
    result = check_live(port, other)
    assert result.details["failed"] == ["verifyChain"]
    (chain,) = [c for c in result.details["checks"] if c["check"] == "verifyChain"]
    assert (
        result.error
        == f"1 check(s) failed: verifyChain: the chain does not verify: {chain['value']}"
    )


def test_a_live_endpoint_follows_the_egress_rules(
    endpoint: tuple[int, list[str | None], Path, Path],
) -> None:
    port, seen, ca, _ = endpoint
    seen.clear()
    refused = check_live(port, ca, env={})
    assert refused.error == (
        "host '127.0.0.1' resolves to 127.0.0.1, a loopback address: refused unless the "
        "runner sets REMEDIATE_WEBHOOK_ALLOW_PRIVATE=1"
    )
    unlisted = check_live(port, ca, allowedHosts=["api.example.test"])
    assert unlisted.error == "host '127.0.0.1' is not in allowedHosts (api.example.test)"
    none = check_live(port, ca, allowedHosts=[])
    assert none.error == (
        "host '127.0.0.1' is not in allowedHosts (none are listed, so no host is reached)"
    )
    assert seen == []  # nothing was connected to


def test_a_port_nothing_listens_on_is_a_clear_failure(tmp_path: Path) -> None:
    from tests.pebble_support import free_port

    port = free_port()
    result = check_live(port, tmp_path / "none.pem")
    assert result.error is not None
    assert result.error.startswith(f"TLS handshake with 127.0.0.1:{port} failed: ")


# --- through apply: a failing check fails the request, naming the check ---


def test_an_expired_certificate_fails_its_request_through_apply(
    tmp_path: Path, ca: Authority
) -> None:
    pem = tmp_path / "expired.pem"
    pem.write_bytes(
        leaf(ca, days=-1, begins=timedelta(days=30)).public_bytes(serialization.Encoding.PEM)
    )
    action = (
        "apiVersion: remediate/v1\nkind: ActionType\nmetadata: {name: check-expiry}\nspec:\n"
        "  parameters: {type: object}\n  executor:\n    cert_check:\n"
        f"      source: {{file: {pem}}}\n      policy: {{minDaysRemaining: 21}}\n"
        "  timeout: 30s\n"
    )
    bare = make_remote(
        tmp_path,
        actions={"check-expiry": action},
        requests={"rem-expiry": request_yaml("rem-expiry", action="check-expiry")},
    )
    repo = clone(tmp_path, bare, "work")
    done = remediate(repo, "apply", "--format", "json")
    assert json_out(done)["executed"] == [{"requestId": "rem-expiry", "status": "FAILED"}]
    (outcome,) = [e for e in remote_events(tmp_path, bare) if e["from"] == "EXECUTING"]
    assert outcome["error"].startswith("1 check(s) failed: minDaysRemaining: expired at ")
    assert outcome["details"]["failed"] == ["minDaysRemaining"]
    assert (
        outcome["details"]["checks"][0]["value"] == -1
        or outcome["details"]["checks"][0]["value"] == -2
    )


# --- validate: configurations that cannot work, at their file:line ---


def write_action(repo: Path, executor: dict[str, Any]) -> str:
    rel = "actions/flush-cache.yaml"
    doc = yaml.safe_load((repo / rel).read_text())
    doc["spec"]["executor"] = executor
    (repo / rel).write_text(yaml.safe_dump(doc, sort_keys=False))
    return rel


def line_of(repo: Path, rel: str, text: str, after: str = "executor:") -> int:
    """The 1-based line of the first line holding `text` after the one holding `after`."""
    lines = (repo / rel).read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if after in line)
    return next(i for i, line in enumerate(lines) if i > start and text in line) + 1


ACME = {
    "directory": "https://acme.example.test/dir",
    "domains": ["www.example.test"],
    "challenge": "http-01",
    "webroot": "/var/www",
    "certificate": "/etc/tls/cert.pem",
    "key": "/etc/tls/key.pem",
    "accountKey": "/etc/tls/account.pem",
}


@pytest.mark.parametrize(
    ("edit", "line", "message"),
    [
        ({"directory": "https://{{ parameters.server }}/dir"}, ("directory:", "acme:"),
         "spec.executor.acme.directory: may not be a template: the ActionType names the ACME server"),
        ({"webroot": None}, ("challenge:", "acme:"),
         "spec.executor.acme.challenge: http-01 needs exactly one of webroot (files) or hook (an argv)"),
        ({"challenge": "dns-01"}, ("challenge:", "acme:"),
         "spec.executor.acme.challenge: dns-01 needs a hook (an argv that sets the TXT record), no webroot"),
        ({"accountKeyEnv": "ACME_KEY"}, ("acme:", "executor:"),
         "spec.executor.acme: needs exactly one of accountKey (a path) or accountKeyEnv (a variable name)"),
        ({"domains": ["*.example.test"]}, ("- ", "domains:"),
         "spec.executor.acme.domains[0]: a wildcard domain can only be validated by dns-01"),
        ({"domains": ["bad_name.example.test"]}, ("- ", "domains:"),
         "spec.executor.acme.domains[0]: 'bad_name.example.test' is not a DNS name"),
    ],
)  # fmt: skip
def test_acme_configurations_that_cannot_work_are_errors_at_their_line(
    quickstart: Path,
    run_cli: Callable[..., Result],
    edit: dict[str, Any],
    line: tuple[str, str],
    message: str,
) -> None:
    config = {k: v for k, v in {**ACME, **edit}.items() if v is not None}
    rel = write_action(quickstart, {"acme": config})
    at = line_of(quickstart, rel, *line)
    assert validate_problems(quickstart, run_cli, warnings=False) == [f"{rel}:{at}: {message}"]


def test_a_valid_acme_configuration_validates(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    write_action(quickstart, {"acme": ACME})
    assert validate_problems(quickstart, run_cli) == []


@pytest.mark.parametrize(
    ("source", "line", "message", "code"),
    [
        ({"file": "c.pem", "host": "a.example.test"}, "source:",
         "spec.executor.cert_check.source: needs exactly one of file (a PEM path) or host "
         "(a TLS endpoint)", 1),
        ({"host": "a.example.test", "allowedHosts": ["b.example.test"]}, "host:",
         "spec.executor.cert_check.source.host: host 'a.example.test' is not in allowedHosts "
         "(b.example.test)", 1),
        ({"file": "c.pem", "port": 443}, "source:",
         "spec.executor.cert_check.source: port only apply to a host, not to a file", 1),
        ({"host": "a.example.test"}, "source:",
         "warning: spec.executor.cert_check.source: no allowedHosts are listed, so this check "
         "reaches no host (list the names it connects to, e.g. allowedHosts: [api.example.com])", 0),
    ],
)  # fmt: skip
def test_cert_check_sources_that_cannot_work_are_reported_at_their_line(
    quickstart: Path,
    run_cli: Callable[..., Result],
    source: dict[str, Any],
    line: str,
    message: str,
    code: int,
) -> None:
    rel = write_action(quickstart, {"cert_check": {"source": source, "policy": {}}})
    at = line_of(quickstart, rel, line)
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == code
    lines = result.err.splitlines() if code else result.out.splitlines() + result.err.splitlines()
    assert f"{rel}:{at}: {message}" in lines, lines


def test_an_unknown_key_type_is_a_schema_error(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    rel = write_action(
        quickstart,
        {"cert_check": {"source": {"file": "c.pem"}, "policy": {"keyTypes": ["RSA-1024"]}}},
    )
    at = line_of(quickstart, rel, "- RSA-1024")
    assert validate_problems(quickstart, run_cli, warnings=False)[0] == (
        f'{rel}:{at}: spec.executor.cert_check.policy.keyTypes[0]: "RSA-1024" is not one of: '
        "RSA-2048, RSA-3072, RSA-4096, EC-P256, EC-P384, EC-P521, Ed25519"
    )


def test_a_handshake_timeout_longer_than_the_actions_is_an_error(
    quickstart: Path, run_cli: Callable[..., Result]
) -> None:
    """As for a webhook's call: the action's timeout would cut a longer handshake short
    (found by an adversarial review: `cert_check` alone was not checked)."""
    source = {"host": "a.example.test", "allowedHosts": ["a.example.test"], "timeout": "600s"}
    rel = write_action(quickstart, {"cert_check": {"source": source, "policy": {}}})
    doc = yaml.safe_load((quickstart / rel).read_text())
    doc["spec"]["timeout"] = "30s"
    (quickstart / rel).write_text(yaml.safe_dump(doc, sort_keys=False))
    at = line_of(quickstart, rel, "timeout: 600s")
    result = run_cli("validate", "--repo", str(quickstart))
    assert result.code == 1
    assert (
        f"{rel}:{at}: spec.executor.cert_check.source.timeout: 600s is longer than the "
        "action's timeout (30s, spec.timeout), which stops the whole action first: shorten "
        "it, or lengthen spec.timeout"
    ) in result.err.splitlines(), result.err
