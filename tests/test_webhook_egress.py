"""Webhooks reach only the hosts their ActionType allows, at public addresses unless the runner
allows others; the connection goes to the address that was checked, under its name (Host, SNI,
certificate); redirects are not followed. Outcomes: tests/test_webhook_outcomes.py.

The server is a real HTTP server on 127.0.0.1: a private address, so without
REMEDIATE_WEBHOOK_ALLOW_PRIVATE=1 the runner must refuse it.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediate.adapters import http
from remediate.executors import egress
from tests.webhook_support import PRIVATE, REFUSED_LOOPBACK, REPLY, Endpoint, call, serving


@pytest.fixture
def port() -> Iterator[int]:
    with serving() as number:
        yield number


# --- allowedHosts: none listed, none reached; the requester cannot pick the host ---


def test_a_webhook_without_allowed_hosts_reaches_nothing(port: int) -> None:
    result = call({"url": f"http://127.0.0.1:{port}/hook"}, PRIVATE)
    assert not result.ok and not result.outcome_unknown
    assert result.error == (
        "webhook host '127.0.0.1' is not in allowedHosts (none are listed, so no host is reached)"
    )
    assert Endpoint.seen == []


def test_loopback_is_refused_unless_the_runner_sets_the_flag(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"url": f"http://127.0.0.1:{port}/hook", "allowedHosts": ["127.0.0.1"]}
    monkeypatch.setenv("REMEDIATE_WEBHOOK_ALLOW_PRIVATE", "1")  # read from the context only
    for flag in (None, "0", "true", "yes", " 1"):
        env = {} if flag is None else {"REMEDIATE_WEBHOOK_ALLOW_PRIVATE": flag}
        result = call(config, env)
        assert (result.ok, result.error) == (False, REFUSED_LOOPBACK)
    assert Endpoint.seen == []
    result = call(config, PRIVATE)
    assert result.ok, result.error
    assert result.details == {
        "method": "POST",
        "url": f"http://127.0.0.1:{port}/hook",
        "status": 200,
        "address": "127.0.0.1",
        "attempts": 1,
    }
    assert len(Endpoint.seen) == 1


def test_an_allowed_name_that_resolves_to_a_private_address_is_refused(port: int) -> None:
    config = {"url": f"http://localhost:{port}/hook", "allowedHosts": ["localhost"]}
    first = http.resolve("localhost", port)[0]  # ::1 or 127.0.0.1, as the system orders them
    result = call(config)
    assert result.error == (
        f"webhook host 'localhost' resolves to {first}, a loopback address: "
        "refused unless the runner sets REMEDIATE_WEBHOOK_ALLOW_PRIVATE=1"
    )
    assert Endpoint.seen == []
    result = call(config, PRIVATE)  # if ::1 comes first and refuses, 127.0.0.1 is tried next
    assert result.ok, result.error
    assert Endpoint.seen[0]["headers"]["Host"] == f"localhost:{port}"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("a.example.com", True),
        ("b.a.example.com", True),
        ("A.Example.COM", True),
        ("a.example.com.", True),  # the same name, fully qualified
        ("example.com", False),
        ("a.example.com.evil.net", False),
        ("aexample.com", False),
        ("a.example.co", False),
        ("hooks.example.org", True),
        ("x.hooks.example.org", False),
        ("hooks.example.org.evil.net", False),
    ],
)
def test_allowed_hosts_match_exact_names_and_subdomains_of_wildcards(
    host: str, allowed: bool
) -> None:
    assert egress.host_allowed(host, ["*.example.com", "hooks.example.org"]) is allowed


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("127.0.0.1:{port}", "webhook host '127.0.0.1' is not in allowedHosts (hooks.example.com)"),
        ("localhost:{port}", "webhook host 'localhost' is not in allowedHosts (hooks.example.com)"),
        ("[::1]:{port}", "webhook host '::1' is not in allowedHosts (hooks.example.com)"),
        ("2130706433:{port}", "webhook host '2130706433' is not in allowedHosts (hooks.example.com)"),
        ("0x7f000001:{port}", "webhook host '0x7f000001' is not in allowedHosts (hooks.example.com)"),
        ("127.1:{port}", "webhook host '127.1' is not in allowedHosts (hooks.example.com)"),
        ("hooks.example.com.127.0.0.1.nip.io",
         "webhook host 'hooks.example.com.127.0.0.1.nip.io' is not in allowedHosts (hooks.example.com)"),
        ("127.0.0.1:{port}#hooks.example.com",
         "webhook host '127.0.0.1' is not in allowedHosts (hooks.example.com)"),
        ("127.0.0.1:{port}?x=hooks.example.com",
         "webhook host '127.0.0.1' is not in allowedHosts (hooks.example.com)"),
        ("hooks.example.com@127.0.0.1:{port}",
         "webhook url 'http://hooks.example.com@127.0.0.1:{port}/hook' holds user information "
         "(user@host): credentials belong in secretHeaders"),
        ("127.0.0.1:{port}\\@hooks.example.com",
         "webhook url 'http://127.0.0.1:{port}\\\\@hooks.example.com/hook' holds user information "
         "(user@host): credentials belong in secretHeaders"),
        ("hooks.example.com:99999", "webhook url 'http://hooks.example.com:99999/hook' is not "
         "valid: Port out of range 0-65535"),
        ("hооks.example.com", "webhook url 'http://hооks.example.com/hook' has no valid host (an "
         "ASCII name, xn-- for other letters, or an IP address)"),  # Cyrillic о
        ("127.0.0.1%2f", "webhook url 'http://127.0.0.1%2f/hook' has no valid host (an ASCII "
         "name, xn-- for other letters, or an IP address)"),
    ],
)  # fmt: skip
def test_a_requester_choosing_the_host_reaches_no_unlisted_host(
    port: int, value: str, error: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(host: str, port: int) -> list[str]:
        raise AssertionError(f"{host} was looked up: a requester's name must not reach DNS")

    monkeypatch.setattr(http, "resolve", never)
    config = {"url": "http://{{ parameters.host }}/hook", "allowedHosts": ["hooks.example.com"]}
    result = call(config, PRIVATE, host=value.format(port=port))
    assert (result.ok, result.outcome_unknown) == (False, False)
    assert result.error == error.format(port=port)
    assert Endpoint.seen == []


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:a9fe:a9fe", "a cloud metadata address"),
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),  # NAT64
        ("2002:a9fe:a9fe::1", "a cloud metadata address"),  # 6to4
        ("::127.0.0.1", "a reserved address"),  # IPv4-compatible
        ("100.100.100.200", "a cloud metadata address"),
        ("168.63.129.16", "a cloud metadata address"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fe80::1%1", "a link-local address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("192.0.2.1", "a private address"),  # documentation range
        ("fec0::1", "a site-local address"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8: where an IPv6-only network sends it
    ],
)
def test_addresses_that_are_not_public_are_named(address: str, problem: str | None) -> None:
    assert egress.address_problem(address) == problem


def test_a_name_with_one_private_address_among_public_ones_is_refused(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "resolve", lambda host, port: ["8.8.8.8", "10.0.0.7"])
    config = {"url": f"http://hooks.example.test:{port}/", "allowedHosts": ["hooks.example.test"]}
    result = call(config)
    assert result.error == (
        "webhook host 'hooks.example.test' resolves to 10.0.0.7, a private address: "
        "refused unless the runner sets REMEDIATE_WEBHOOK_ALLOW_PRIVATE=1"
    )
    assert Endpoint.seen == []


def test_a_name_that_does_not_resolve_is_a_definite_failure() -> None:
    config = {"url": "https://nothing.invalid/", "allowedHosts": ["nothing.invalid"]}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown) == (False, False)
    assert (result.error or "").startswith("webhook host 'nothing.invalid' does not resolve: ")


# --- the connection goes to the checked address; nothing is resolved twice ---


def test_the_call_connects_to_the_checked_address_never_resolving_the_name_again(
    port: int,
) -> None:
    """`.invalid` never resolves: reaching the server proves the name was not looked up."""
    target = http.Target("http", "hooks.rebind.invalid", port, "/x?y=1", ("127.0.0.1",))
    reply = http.send("POST", target, {"X-A": "1"}, b"{}", 5)
    assert (reply.status, reply.address, reply.body) == (200, "127.0.0.1", REPLY)
    assert Endpoint.seen[0]["headers"]["Host"] == f"hooks.rebind.invalid:{port}"
    assert Endpoint.seen[0]["path"] == "/x?y=1"


def test_each_attempt_resolves_once_and_connects_where_it_checked(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name whose next answer would be another address (DNS rebinding) is looked up once."""
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])
    looked_up: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return next(answers)

    monkeypatch.setattr(http, "resolve", rebinding)
    config = {"url": f"http://hooks.example.test:{port}/", "allowedHosts": ["*.example.test"]}
    result = call(config, PRIVATE)
    assert result.ok, result.error
    assert looked_up == ["hooks.example.test"]
    assert Endpoint.seen[0]["peer"] == "127.0.0.1"


def test_redirects_are_not_followed(port: int) -> None:
    Endpoint.status, Endpoint.location = 302, "http://169.254.169.254/latest/meta-data/"
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"]}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown) == (False, False)
    assert result.error == "HTTP 302 (redirects are not followed)"
    assert len(Endpoint.seen) == 1


def test_a_host_header_cannot_point_the_call_elsewhere(port: int) -> None:
    config = {
        "url": f"http://127.0.0.1:{port}/",
        "allowedHosts": ["127.0.0.1"],
        "headers": {"host": "{{ parameters.host }}"},
    }
    result = call(config, PRIVATE, host="internal.svc")
    assert result.error == "header Host is not allowed: the Host header names the url's host"
    assert Endpoint.seen == []


# --- over TLS the checked address is reached under the name: SNI and the certificate check ---


@pytest.fixture
def tls_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, list[str]]]:
    """A TLS server on 127.0.0.1 whose certificate names hooks.example.test (and is trusted)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=hooks.example.test",
         "-addext", "subjectAltName=DNS:hooks.example.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    names: list[str] = []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    tls.sni_callback = lambda sock, name, ctx: names.append(str(name)) and None
    with serving(lambda sock: tls.wrap_socket(sock, server_side=True)) as number:
        yield number, names


def test_tls_goes_to_the_checked_address_with_the_name_in_sni_and_the_certificate_check(
    tls_port: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, names = tls_port
    monkeypatch.setattr(http, "resolve", lambda host, port: ["127.0.0.1"])
    config = {"url": f"https://hooks.example.test:{port}/", "allowedHosts": ["hooks.example.test"]}
    result = call(config, PRIVATE)
    assert result.ok, result.error
    assert names == ["hooks.example.test"]
    assert Endpoint.seen[0]["headers"]["Host"] == f"hooks.example.test:{port}"
    monkeypatch.setattr(http, "resolve", lambda host, port: ["127.0.0.1"])
    other = {"url": f"https://other.example.test:{port}/", "allowedHosts": ["*.example.test"]}
    result = call(other, PRIVATE)  # the same address, a name its certificate does not hold
    assert (result.ok, result.outcome_unknown) == (False, False)
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or ""), result.error
    assert len(Endpoint.seen) == 1
