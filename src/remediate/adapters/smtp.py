"""The `Mailer` port over SMTP (smtplib), configured by the runner's `SMTP_*` variables.

- `SMTP_SECURITY`: `starttls` (the default: plain connection upgraded by STARTTLS, and
  refused if the server does not offer it — never a silent downgrade), `tls` (implicit
  TLS from the first byte), or `none` (no TLS: only without credentials).
- `SMTP_HOST` (required), `SMTP_PORT` (default 587; 465 under `tls`), `SMTP_FROM`
  (required), `SMTP_USERNAME` and `SMTP_PASSWORD` (both or neither), `SMTP_CA_FILE` (a
  PEM bundle to trust instead of the system's, e.g. an internal CA), `SMTP_TIMEOUT`
  (seconds, default 30).
Certificates and host names are always verified. Credentials over a connection without
TLS are refused before anything connects. Each recipient gets its own transaction on
one connection, so a refusal (or a dropped connection, after which the next recipient
gets a new one) affects only that recipient; the password never appears in an error.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from remediate.errors import UsageError

SECURITY = ("starttls", "tls", "none")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0

    def __repr__(self) -> str:  # never the password, wherever a config is printed
        return f"SmtpConfig({self.security}://{self.host}:{self.port}, from {self.sender})"

    @classmethod
    def from_environment(cls, variables: Mapping[str, str]) -> SmtpConfig:
        """The configuration, or UsageError naming the variable that is wrong."""
        security = variables.get("SMTP_SECURITY", "starttls").strip().lower() or "starttls"
        if security not in SECURITY:
            raise UsageError(f"SMTP_SECURITY={security!r} must be one of {', '.join(SECURITY)}")
        host = variables.get("SMTP_HOST", "").strip()
        if not host:
            raise UsageError("SMTP_HOST is not set: reports are sent through an SMTP server")
        port_text = variables.get("SMTP_PORT", "").strip() or (
            "465" if security == "tls" else "587"
        )
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"SMTP_PORT={port_text!r} must be a port number (1 to 65535)")
        sender = variables.get("SMTP_FROM", "").strip()
        if not sender:
            raise UsageError("SMTP_FROM is not set: the address reports are sent from")
        username = variables.get("SMTP_USERNAME") or None
        password = variables.get("SMTP_PASSWORD") or None
        if (username is None) != (password is None):
            raise UsageError("SMTP_USERNAME and SMTP_PASSWORD are set together or not at all")
        if username is not None and security == "none":
            raise UsageError(
                "SMTP_SECURITY=none with SMTP_USERNAME: credentials are never sent over a "
                "connection without TLS; use starttls or tls"
            )
        timeout_text = variables.get("SMTP_TIMEOUT", "30").strip()
        try:
            timeout = float(timeout_text)
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= 600:
            raise UsageError(f"SMTP_TIMEOUT={timeout_text!r} must be seconds (0 to 600)")
        return cls(
            host=host,
            port=int(port_text),
            sender=sender,
            security=security,
            username=username,
            password=password,
            ca_file=variables.get("SMTP_CA_FILE") or None,
            timeout=timeout,
        )


class SmtpMailer:
    """Sends a message to each recipient in turn (the `Mailer` port)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    @property
    def sender(self) -> str:
        return self.config.sender

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> dict[str, str]:
        """recipient → why it was not delivered; empty when every one was."""
        failures: dict[str, str] = {}
        connection: smtplib.SMTP | None = None
        for recipient in recipients:
            if connection is None:
                try:
                    connection = self._connect()
                except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
                    why = self._why(exc, connecting=True)
                    failures.update({r: why for r in recipients if r not in failures})
                    return _ordered(failures, recipients)
            try:
                del message["To"]
                message["To"] = recipient
                refused = connection.send_message(
                    message, from_addr=self.config.sender, to_addrs=[recipient]
                )
                if refused:
                    code, text = refused[recipient]
                    failures[recipient] = _reply(code, text)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = exc.recipients.get(recipient, (0, b"refused"))
                failures[recipient] = _reply(code, text)
                _reset(connection)
            except smtplib.SMTPResponseException as exc:
                failures[recipient] = _reply(exc.smtp_code, exc.smtp_error)
                _reset(connection)
            except (OSError, smtplib.SMTPException) as exc:
                failures[recipient] = self._why(exc)
                _close(connection)
                connection = None  # the next recipient gets a new connection
        if connection is not None:
            _close(connection)
        return _ordered(failures, recipients)

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        connection: smtplib.SMTP
        if config.security == "tls":
            connection = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=self._context()
            )
        else:
            connection = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        try:
            connection.ehlo()
            if config.security == "starttls":
                if not connection.has_extn("starttls"):
                    raise StartTlsMissing()
                connection.starttls(context=self._context())
                connection.ehlo()
            if config.username is not None and config.password is not None:
                connection.login(config.username, config.password)
        except BaseException:
            _close(connection)
            raise
        return connection

    def _why(self, exc: BaseException, connecting: bool = False) -> str:
        where = f"{self.config.host}:{self.config.port}"
        if isinstance(exc, StartTlsMissing):
            return f"{where} does not offer STARTTLS; nothing was sent (SMTP_SECURITY=starttls)"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return f"authentication as {self.config.username} failed: " + _reply(
                exc.smtp_code, exc.smtp_error
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            return _reply(exc.smtp_code, exc.smtp_error)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"TLS certificate of {where} not trusted: {exc.verify_message}"
        detail = str(exc) or type(exc).__name__
        if self.config.password:
            detail = detail.replace(self.config.password, "[REDACTED]")
        verb = "could not connect to" if connecting else "connection to"
        return f"{verb} {where}: {detail}" if connecting else f"{verb} {where} lost: {detail}"


class StartTlsMissing(smtplib.SMTPException):
    """The server offers no STARTTLS: the connection is not used."""


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(message.split())}".strip()


def _reset(connection: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError, smtplib.SMTPException):
        connection.rset()


def _close(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        connection.close()


def _ordered(failures: dict[str, str], recipients: Sequence[str]) -> dict[str, str]:
    return {r: failures[r] for r in recipients if r in failures}


def mailer(variables: Mapping[str, str]) -> SmtpMailer:
    """The mailer the runner's environment configures (UsageError when it cannot)."""
    return SmtpMailer(SmtpConfig.from_environment(variables))
