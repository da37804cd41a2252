"""A real SMTP server for tests: aiosmtpd on loopback, on a free port we pick ourselves
(aiosmtpd's Controller cannot take port 0), with an openssl-made certificate that the
client trusts through SMTP_CA_FILE (verification is never turned off)."""

from __future__ import annotations

import email
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "reports", "s3cret-smtp-Passw0rd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Certificates:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificates(directory: Path) -> Certificates:
    """A CA and a certificate for 127.0.0.1 and localhost that it signed (openssl)."""
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem")
    )
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=remediate test CA",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=127.0.0.1",
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return Certificates(ca, cert, key)


@dataclass
class Inbox:
    """What the server received: (envelope recipients, the message) per transaction."""

    refuse: set[str] = field(default_factory=set)
    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted"

    def messages(self) -> list[Message]:
        return [email.message_from_bytes(raw) for _, raw in self.received]

    def authenticator(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == USER.encode()
            and data.password == PASSWORD.encode()
        )
        self.logins.append((data.login.decode() if isinstance(data, LoginPassword) else "?", ok))
        # a failed result must say handled=False: aiosmtpd then answers 535 (else the client waits)
        return AuthResult(success=ok, handled=ok)


@contextmanager
def smtp_server(
    inbox: Inbox,
    certificates: Certificates | None = None,
    implicit_tls: bool = False,
    starttls: bool = True,
    auth: bool = True,
) -> Iterator[int]:
    """Serve on 127.0.0.1; yields the port."""
    port = free_port()
    kwargs: dict[str, Any] = {}
    if certificates is not None and implicit_tls:
        kwargs["ssl_context"] = certificates.server_context()
    elif certificates is not None and starttls:
        kwargs["tls_context"] = certificates.server_context()
    if auth:
        kwargs["authenticator"] = inbox.authenticator
        # aiosmtpd counts only STARTTLS as TLS; under implicit TLS the socket is TLS anyway
        kwargs["auth_require_tls"] = not implicit_tls
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def smtp_env(
    port: int,
    certificates: Certificates | None,
    security: str = "starttls",
    credentials: bool = True,
) -> dict[str, str]:
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_FROM": "remediate@example.com",
        "SMTP_SECURITY": security,
        "SMTP_TIMEOUT": "10",
    }
    if certificates is not None:
        env["SMTP_CA_FILE"] = str(certificates.ca)
    if credentials:
        env.update(SMTP_USERNAME=USER, SMTP_PASSWORD=PASSWORD)
    return env
