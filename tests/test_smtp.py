"""The SMTP mailer against a real server (aiosmtpd on loopback, TLS by an openssl CA)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from remediate.adapters.smtp import SmtpConfig, SmtpMailer
from remediate.errors import UsageError
from tests.smtp_support import (
    PASSWORD,
    USER,
    Certificates,
    Inbox,
    free_port,
    make_certificates,
    smtp_env,
    smtp_server,
)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def _message() -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = "digest"
    message["From"] = "remediate@example.com"
    message.set_content("hello")
    return message


def _mailer(env: dict[str, str]) -> SmtpMailer:
    return SmtpMailer(SmtpConfig.from_environment(env))


def test_starttls_with_login_delivers_to_each_recipient_and_records_a_refusal(
    certificates: Certificates,
) -> None:
    inbox = Inbox(refuse={"gone@example.com"})
    with smtp_server(inbox, certificates) as port:
        failures = _mailer(smtp_env(port, certificates)).send(
            _message(), ["a@example.com", "gone@example.com", "b@example.com"]
        )
    assert failures == {"gone@example.com": "550 5.1.1 mailbox unavailable"}
    # one transaction per recipient; the refused one did not stop the next
    assert [to for to, _ in inbox.received] == [["a@example.com"], ["b@example.com"]]
    assert [m["To"] for m in inbox.messages()] == ["a@example.com", "b@example.com"]
    assert inbox.logins == [(USER, True)]  # once, on the one connection, after STARTTLS


def test_implicit_tls(certificates: Certificates) -> None:
    inbox = Inbox()
    with smtp_server(inbox, certificates, implicit_tls=True) as port:
        env = smtp_env(port, certificates, security="tls")
        assert _mailer(env).send(_message(), ["a@example.com"]) == {}
    assert len(inbox.received) == 1


def test_no_tls_and_no_credentials_is_allowed() -> None:
    inbox = Inbox()
    with smtp_server(inbox, None, auth=False) as port:
        env = smtp_env(port, None, security="none", credentials=False)
        assert _mailer(env).send(_message(), ["a@example.com"]) == {}
    assert len(inbox.received) == 1


def test_credentials_over_a_clear_connection_are_refused_before_connecting() -> None:
    with pytest.raises(UsageError) as raised:
        SmtpConfig.from_environment(smtp_env(free_port(), None, security="none"))
    assert str(raised.value) == (
        "SMTP_SECURITY=none with SMTP_USERNAME: credentials are never sent over a "
        "connection without TLS; use starttls or tls"
    )


def test_starttls_is_required_when_the_server_does_not_offer_it() -> None:
    inbox = Inbox()
    with smtp_server(inbox, None, auth=False) as port:
        failures = _mailer(smtp_env(port, None)).send(
            _message(), ["a@example.com", "b@example.com"]
        )
    why = f"127.0.0.1:{port} does not offer STARTTLS; nothing was sent (SMTP_SECURITY=starttls)"
    assert failures == {"a@example.com": why, "b@example.com": why}
    assert inbox.received == [] and inbox.logins == []  # the password never left


def test_an_untrusted_certificate_is_refused(certificates: Certificates, tmp_path: Path) -> None:
    other = make_certificates(tmp_path)  # a CA that did not sign the server's certificate
    inbox = Inbox()
    with smtp_server(inbox, certificates) as port:
        env = {**smtp_env(port, certificates), "SMTP_CA_FILE": str(other.ca)}
        failures = _mailer(env).send(_message(), ["a@example.com"])
    assert failures["a@example.com"].startswith(
        f"TLS certificate of 127.0.0.1:{port} not trusted: "
    )
    assert inbox.received == [] and inbox.logins == []


def test_a_failed_login_fails_every_recipient(certificates: Certificates) -> None:
    inbox = Inbox()
    with smtp_server(inbox, certificates) as port:
        env = {**smtp_env(port, certificates), "SMTP_PASSWORD": "wrong-password"}
        failures = _mailer(env).send(_message(), ["a@example.com", "b@example.com"])
    assert set(failures) == {"a@example.com", "b@example.com"}
    assert failures["a@example.com"].startswith(f"authentication as {USER} failed: 535")
    assert "wrong-password" not in failures["a@example.com"]
    assert inbox.received == [] and inbox.logins  # smtplib tries each mechanism once
    assert all(who == USER and not ok for who, ok in inbox.logins)


def test_server_down_fails_every_recipient() -> None:
    port = free_port()
    env = smtp_env(port, None, security="none", credentials=False)
    failures = _mailer(env).send(_message(), ["a@example.com", "b@example.com"])
    assert set(failures) == {"a@example.com", "b@example.com"}
    assert failures["b@example.com"].startswith(f"could not connect to 127.0.0.1:{port}: ")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SMTP_HOST is not set: reports are sent through an SMTP server"),
        ({"SMTP_HOST": "h"}, "SMTP_FROM is not set: the address reports are sent from"),
        (
            {"SMTP_HOST": "h", "SMTP_FROM": "f", "SMTP_PORT": "0"},
            "SMTP_PORT='0' must be a port number (1 to 65535)",
        ),
        (
            {"SMTP_HOST": "h", "SMTP_SECURITY": "ssl"},
            "SMTP_SECURITY='ssl' must be one of starttls, tls, none",
        ),
        (
            {"SMTP_HOST": "h", "SMTP_FROM": "f", "SMTP_USERNAME": "u"},
            "SMTP_USERNAME and SMTP_PASSWORD are set together or not at all",
        ),
    ],
)
def test_configuration_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as raised:
        SmtpConfig.from_environment(env)
    assert str(raised.value) == message


def test_ports_default_by_security() -> None:
    base = {"SMTP_HOST": "h", "SMTP_FROM": "f"}
    assert SmtpConfig.from_environment(base).port == 587
    assert SmtpConfig.from_environment({**base, "SMTP_SECURITY": "tls"}).port == 465
    config = SmtpConfig.from_environment({**base, "SMTP_USERNAME": USER, "SMTP_PASSWORD": PASSWORD})
    assert PASSWORD not in repr(config)
