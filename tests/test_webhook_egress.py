"""Webhooks reach only the hosts their ActionType allows, at public addresses unless the runner
allows others; the connection goes to the address that was checked; reply bodies are kept only
when asked for; a gateway error or a lost reply to a POST is an unknown outcome.

The server is a real HTTP server on 127.0.0.1: a private address, so without
REMEDIATE_WEBHOOK_ALLOW_PRIVATE=1 the runner must refuse it.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from remediate.adapters import http
from remediate.executors import egress
from remediate.executors.webhook import WebhookExecutor
from tests.runner_support import cli_env, clone, make_remote, remediate, remote_events, request_yaml
from tests.test_runner_executors import context, make_request

PRIVATE = {"REMEDIATE_WEBHOOK_ALLOW_PRIVATE": "1"}
REPLY = b"INTERNAL-ONLY: db_password=hunter2-in-the-reply"
REFUSED_LOOPBACK = (
    "webhook host '127.0.0.1' resolves to 127.0.0.1, a loopback address: "
    "refused unless the runner sets REMEDIATE_WEBHOOK_ALLOW_PRIVATE=1"
)


class Endpoint(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []
    status = 200
    mode = "reply"
    location = ""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        Endpoint.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers),
             "body": self.rfile.read(length).decode(), "peer": self.client_address[0]}
        )  # fmt: skip
        if Endpoint.mode == "hangup":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if Endpoint.mode == "slow":
            time.sleep(3)
        if Endpoint.mode == "short":  # promises more than it sends, then closes
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(REPLY)
            self.close_connection = True
            return
        body = REPLY * (3000 if Endpoint.mode == "big" else 1)
        self.send_response(Endpoint.status)
        if Endpoint.location:
            self.send_header("Location", Endpoint.location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    Endpoint.seen, Endpoint.status, Endpoint.mode, Endpoint.location = [], 200, "reply", ""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def call(config: dict[str, Any], env: dict[str, str] | None = None, **parameters: Any) -> Any:
    request = make_request(**parameters)
    return WebhookExecutor().run(context("webhook", config, env or {}, request=request))


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


# --- reply bodies only with recordResponse; gateway errors and lost replies are unknown ---


def test_the_reply_body_is_kept_only_with_record_response_capped_and_redacted(port: int) -> None:
    Endpoint.mode = "big"
    env = {**PRIVATE, "HOOK_TOKEN": "hunter2-in-the-reply", "REMEDIATE_PASS_ENV": "HOOK_TOKEN"}
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"]}
    config["secretHeaders"] = {"X-Token": "HOOK_TOKEN"}
    result = call(config, env)
    assert result.ok and "response" not in result.details
    assert "INTERNAL-ONLY" not in json.dumps(dict(result.details))
    result = call({**config, "recordResponse": True}, env)
    response = result.details["response"]
    assert "INTERNAL-ONLY: db_password=[REDACTED]" in response
    assert "hunter2" not in response
    assert len(response) <= 4096 + 100


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_gateway_error_on_a_non_idempotent_call_is_an_unknown_outcome(
    port: int, status: int, method: str
) -> None:
    Endpoint.status = status
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"], "method": method}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown) == (False, True)
    assert result.error == f"HTTP {status}; the outcome is unknown and the call was not repeated"
    assert len(Endpoint.seen) == 1


def test_a_gateway_error_on_an_idempotent_call_is_repeated_then_unknown(port: int) -> None:
    Endpoint.status = 503
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"], "method": "PUT"}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown) == (False, True)
    assert result.error == "HTTP 503; the outcome is unknown (tried 3 times)"
    assert len(Endpoint.seen) == 3


def test_other_errors_are_definite_failures(port: int) -> None:
    Endpoint.status = 500
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"]}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown, result.error) == (False, False, "HTTP 500")


@pytest.mark.parametrize("mode", ["hangup", "slow"])
def test_a_lost_reply_to_a_post_is_an_unknown_outcome_and_not_repeated(
    port: int, mode: str
) -> None:
    Endpoint.mode = mode
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"], "timeout": "1s"}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown) == (False, True)
    assert result.error is not None
    assert result.error.endswith("; the outcome is unknown and the call was not repeated")
    assert len(Endpoint.seen) == 1


def test_a_reply_whose_body_is_cut_short_still_counts_by_its_status(port: int) -> None:
    Endpoint.mode = "short"
    config = {"url": f"http://127.0.0.1:{port}/", "allowedHosts": ["127.0.0.1"]}
    result = call({**config, "recordResponse": True}, PRIVATE)
    assert result.ok, result.error
    assert result.details["response"] == REPLY.decode()  # no secret: no edge to drop
    target = http.Target("http", "127.0.0.1", port, "/", ("127.0.0.1",))
    reply = http.send("GET", target, {}, None, 5)
    assert (reply.status, reply.body, reply.cut) == (200, REPLY, True)  # its end may be cut


def test_a_call_that_cannot_connect_is_a_definite_failure() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        free = unused.getsockname()[1]
    config = {"url": f"http://127.0.0.1:{free}/", "allowedHosts": ["127.0.0.1"]}
    result = call(config, PRIVATE)
    assert (result.ok, result.outcome_unknown) == (False, False)
    assert result.error is not None and result.error.startswith("127.0.0.1: ConnectionRefused")
    assert result.details["attempts"] == 3


# --- end to end: nothing internal reaches the audit ---

HOOK = """\
apiVersion: remediate/v1
kind: ActionType
metadata: {{name: hook}}
spec:
  parameters: {{type: object}}
  executor:
    webhook:
      url: http://127.0.0.1:{port}/hook
{extra}  timeout: 10s
"""


def apply_hook(tmp_path: Path, port: int, extra: str, **env: str) -> tuple[Any, list[Any]]:
    bare = make_remote(
        tmp_path,
        actions={"hook": HOOK.format(port=port, extra=extra)},
        requests={"rem-hook": request_yaml("rem-hook", action="hook")},
    )
    repo = clone(tmp_path, bare, "work")
    done = remediate(repo, "apply", "--format", "json", env=cli_env(**env))
    blob = "".join(p.read_text() for p in (repo / "audit").rglob("*.jsonl"))
    assert "INTERNAL-ONLY" not in blob + done.stdout + done.stderr
    return done, [e for e in remote_events(tmp_path, bare) if e["from"] == "EXECUTING"]


def test_apply_refuses_an_internal_webhook_and_keeps_its_reply_out_of_the_audit(
    tmp_path: Path, port: int
) -> None:
    done, (outcome,) = apply_hook(tmp_path, port, "      allowedHosts: [127.0.0.1]\n")
    assert done.returncode == 1
    assert (outcome["to"], outcome["error"]) == ("FAILED", REFUSED_LOOPBACK)
    assert Endpoint.seen == []


def test_apply_records_a_gateway_error_on_a_post_as_an_unknown_outcome(
    tmp_path: Path, port: int
) -> None:
    Endpoint.status = 502
    done, (outcome,) = apply_hook(tmp_path, port, "      allowedHosts: [127.0.0.1]\n", **PRIVATE)
    assert done.returncode == 1
    assert outcome["to"] == "FAILED" and outcome["details"]["outcomeUnknown"] is True
    assert outcome["error"] == "HTTP 502; the outcome is unknown and the call was not repeated"
    assert "response" not in outcome["details"]


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
    Endpoint.seen, Endpoint.status, Endpoint.mode, Endpoint.location = [], 200, "reply", ""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield int(httpd.server_address[1]), names
    httpd.shutdown()
    httpd.server_close()


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
